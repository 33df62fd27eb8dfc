"""Re-ID ranking metrics: CMC (rank-k) and mAP with Market-1501 / torchreid semantics.

For each query the gallery is sorted by distance (ascending, ties broken by gallery index so
results are deterministic); gallery entries with the query's identity *and* camera are removed
(the same person seen by the same camera is not a re-identification); a query whose remaining
gallery holds no match is skipped and counted. CMC is averaged over the valid queries; AP per
query is the mean, over the query's true matches, of the precision at each match's rank.

``evaluate_rank_reference`` is a per-query loop that reads like the definition;
``evaluate_rank`` is the vectorised fast path (chunked over queries to bound memory). Both have
the same signature and return the same :class:`RankResult`; a test holds them equal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..errors import EvalError

log = logging.getLogger(__name__)

# Rows of the (queries x gallery) matrix processed at once by the fast path: bounds the
# temporaries to a few arrays of QUERY_CHUNK x G elements.
QUERY_CHUNK = 512


@dataclass(frozen=True)
class RankResult:
    """CMC curve (cmc[k-1] = rank-k accuracy), mean AP and how many queries counted."""

    cmc: np.ndarray
    mAP: float
    num_valid_queries: int
    num_skipped_queries: int = 0

    def rank(self, k: int) -> float:
        """Rank-k accuracy (k is 1-based, as in "rank-1")."""
        if not 1 <= k <= len(self.cmc):
            raise EvalError(f"rank k={k} outside 1..{len(self.cmc)} (max_rank of this evaluation)")
        return float(self.cmc[k - 1])


def _check_inputs(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int):
    d = np.asarray(distmat)
    if d.dtype.kind not in "fiu":
        raise EvalError(f"distmat must be numeric, got dtype {d.dtype}")
    if d.dtype.kind != "f":
        d = d.astype(np.float64)        # float inputs keep their dtype: no copy of a large matrix
    if d.ndim != 2:
        raise EvalError(f"distmat must be 2-D (queries x gallery), got shape {d.shape}")
    num_q, num_g = d.shape
    if num_q == 0 or num_g == 0:
        raise EvalError(f"distmat is empty: shape {d.shape}")
    if np.isnan(d).any():
        raise EvalError(f"distmat contains {int(np.isnan(d).sum())} NaN value(s)")
    arrays = []
    for name, arr, n in (("q_pids", q_pids, num_q), ("g_pids", g_pids, num_g),
                         ("q_camids", q_camids, num_q), ("g_camids", g_camids, num_g)):
        a = np.asarray(arr)
        if a.shape != (n,):
            raise EvalError(f"{name} must have shape ({n},) to match distmat {d.shape}, got {a.shape}")
        arrays.append(a)
    if max_rank < 1:
        raise EvalError(f"max_rank must be >= 1, got {max_rank}")
    if num_g < max_rank:
        log.warning("gallery has %d entries, fewer than max_rank=%d; using max_rank=%d",
                    num_g, max_rank, num_g)
        max_rank = num_g
    return d, *arrays, max_rank


def _result(cmc_sum: np.ndarray, ap_sum: float, num_valid: int, num_q: int) -> RankResult:
    if num_valid == 0:
        raise EvalError(f"none of the {num_q} queries has a valid match in the gallery "
                        f"(after removing same-identity same-camera entries)")
    return RankResult(cmc=cmc_sum / num_valid, mAP=ap_sum / num_valid,
                      num_valid_queries=num_valid, num_skipped_queries=num_q - num_valid)


def evaluate_rank_reference(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 20) -> RankResult:
    """Plain per-query loop, written to be obviously right; the fast path is tested against it."""
    d, q_pids, g_pids, q_camids, g_camids, max_rank = _check_inputs(
        distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    cmc_sum = np.zeros(max_rank)
    ap_sum = 0.0
    num_valid = 0
    for q in range(d.shape[0]):
        order = np.argsort(d[q], kind="stable")
        same_person_same_cam = (g_pids[order] == q_pids[q]) & (g_camids[order] == q_camids[q])
        kept = order[~same_person_same_cam]
        hits = (g_pids[kept] == q_pids[q]).astype(np.float64)
        if not hits.any():
            continue
        num_valid += 1
        first_hit = int(np.flatnonzero(hits)[0])          # 0-based rank of the first true match
        if first_hit < max_rank:
            cmc_sum[first_hit:] += 1.0
        precisions = []
        num_hits_so_far = 0
        for rank0, hit in enumerate(hits):
            if hit:
                num_hits_so_far += 1
                precisions.append(num_hits_so_far / (rank0 + 1))
        ap_sum += sum(precisions) / len(precisions)
    return _result(cmc_sum, ap_sum, num_valid, d.shape[0])


def evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 20) -> RankResult:
    """Vectorised CMC / mAP, same result as :func:`evaluate_rank_reference`.

    Removed entries are handled without compacting rows: the rank of a kept entry is the
    number of kept entries before it (a cumulative sum), so a whole chunk of queries is
    scored with a few array operations.
    """
    d, q_pids, g_pids, q_camids, g_camids, max_rank = _check_inputs(
        distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    cmc_sum = np.zeros(max_rank)
    ap_sum = 0.0
    num_valid = 0
    for start in range(0, d.shape[0], QUERY_CHUNK):
        rows = slice(start, start + QUERY_CHUNK)
        order = np.argsort(d[rows], axis=1, kind="stable")
        same_pid = g_pids[order] == q_pids[rows, None]
        same_cam = g_camids[order] == q_camids[rows, None]
        kept = ~(same_pid & same_cam)
        hits = same_pid & kept                              # true matches still in the ranking
        valid = hits.any(axis=1)
        if not valid.any():
            continue
        # rank among kept entries, 0-based (removed entries before the first kept one read -1; masked below)
        kept_rank0 = np.maximum(np.cumsum(kept, axis=1, dtype=np.int32) - 1, 0)
        hits, kept_rank0 = hits[valid], kept_rank0[valid]
        first_hit = kept_rank0[np.arange(len(hits)), hits.argmax(axis=1)]
        cmc_sum += (first_hit[:, None] <= np.arange(max_rank)[None, :]).sum(axis=0)
        hits_so_far = np.cumsum(hits, axis=1, dtype=np.int32)
        precision_at_hits = np.where(hits, hits_so_far / (kept_rank0 + 1.0), 0.0)
        ap_sum += float((precision_at_hits.sum(axis=1) / hits.sum(axis=1)).sum())
        num_valid += int(valid.sum())
    return _result(cmc_sum, ap_sum, num_valid, d.shape[0])


def distance_matrix(q_feats, g_feats, metric: str = "euclidean") -> np.ndarray:
    """(num_q, num_g) distances between feature rows.

    ``euclidean``: ||q - g||; ``sqeuclidean``: its square (what torchreid calls "euclidean";
    same ranking); ``cosine``: 1 - cos(q, g), rows L2-normalised here (zero rows are an error:
    their direction is undefined).
    """
    q = np.asarray(q_feats)
    g = np.asarray(g_feats)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise EvalError(f"features must be 2-D with equal widths, got {q.shape} and {g.shape}")
    dtype = np.result_type(q.dtype, g.dtype, np.float32)
    q = q.astype(dtype, copy=False)
    g = g.astype(dtype, copy=False)
    if metric in ("euclidean", "sqeuclidean"):
        sq = (q * q).sum(axis=1)[:, None] + (g * g).sum(axis=1)[None, :] - 2.0 * (q @ g.T)
        np.maximum(sq, 0.0, out=sq)                        # rounding can go slightly negative
        return np.sqrt(sq) if metric == "euclidean" else sq
    if metric == "cosine":
        qn = np.linalg.norm(q, axis=1, keepdims=True)
        gn = np.linalg.norm(g, axis=1, keepdims=True)
        zero = np.flatnonzero(qn[:, 0] == 0).tolist(), np.flatnonzero(gn[:, 0] == 0).tolist()
        if zero[0] or zero[1]:
            raise EvalError(f"cosine distance of zero feature rows: query rows {zero[0][:10]}, "
                            f"gallery rows {zero[1][:10]}")
        return 1.0 - (q / qn) @ (g / gn).T
    raise EvalError(f"unknown metric {metric!r}; use 'euclidean', 'sqeuclidean' or 'cosine'")
