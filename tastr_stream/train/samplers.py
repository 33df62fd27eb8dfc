"""P x K batch samplers with the paper's constraints (sections IV-B and IV-D).

A batch is a list of (tracklet index, image index) of length P * K plus one label per item.
Labels only need to be equal for items of one "identity" in the batch and different otherwise.

- :class:`TSCCC` (Triplet Construction with Single Camera Constraint, round 0): the P
  tracklets of a batch come from one camera and are pairwise more than T seconds apart
  (gap between spans: ``max(start_j - end_i, start_i - end_j) > T``), because a person rarely
  comes back into the same view within T, so two such tracklets are very likely different
  people and are safe negatives. No tracklet is declined for good: each epoch seeds a batch
  from every tracklet in random order, and a tracklet may appear in other batches too.
- :class:`TCCPC` (Triplet Construction with Camera Pair Constraint, cross-camera rounds): a
  label is a group of associated tracklets of ONE camera pair (a pair, or a connected group);
  every batch holds P groups of one camera pair, K images each drawn round-robin over the
  group's tracklets, so both cameras are in every identity of the batch.

Whether a camera can fill a TSCCC batch at all is decided exactly: the largest set of spans
pairwise more than T apart is found greedily by end time (interval scheduling is optimal that
way). A sampler that cannot fill any batch raises SamplerError with the numbers; cameras or
camera pairs that cannot are skipped and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import SamplerError
from .data import TrainTracklet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    items: list[tuple[int, int]]     # (tracklet index, image index), P*K of them
    labels: np.ndarray               # (P*K,) int64


def _check_pk(p: int, k: int) -> None:
    if p < 2 or k < 1:
        raise SamplerError(f"need P >= 2 identities and K >= 1 images per batch, got P={p}, K={k}")


def _draw_images(rng: np.random.Generator, n_images: int, k: int) -> np.ndarray:
    """K image indices, without replacement when the tracklet has enough images."""
    return rng.choice(n_images, size=k, replace=n_images < k)


def span_gap_s(t_start_a: float, t_end_a: float, t_start_b: float, t_end_b: float) -> float:
    """Time between two spans (negative when they overlap)."""
    return max(t_start_b - t_end_a, t_start_a - t_end_b)


def max_separated(spans: Sequence[tuple[float, float]], gap_s: float) -> int:
    """Size of the largest subset of spans pairwise more than ``gap_s`` apart (greedy by end: exact)."""
    count, last_end = 0, -np.inf
    for s, e in sorted(spans, key=lambda se: se[1]):
        if s - last_end > gap_s:
            count += 1
            last_end = e
    return count


class TSCCC:
    """Round-0 sampler: one camera per batch, P tracklets pairwise > ``gap_s`` apart, K images each."""

    def __init__(self, tracklets: Sequence[TrainTracklet], p: int, k: int, gap_s: float, seed: int = 0) -> None:
        _check_pk(p, k)
        if gap_s < 0:
            raise SamplerError(f"TSCCC gap T must be >= 0 s, got {gap_s}")
        self.p, self.k, self.gap_s = p, k, float(gap_s)
        self._rng = np.random.default_rng(seed)
        self._n_images = np.array([t.num_images for t in tracklets], dtype=np.int64)
        self._ts = np.array([t.t_start_s for t in tracklets], dtype=np.float64)
        self._te = np.array([t.t_end_s for t in tracklets], dtype=np.float64)
        by_cam: dict[str, list[int]] = {}
        for i, t in enumerate(tracklets):
            by_cam.setdefault(t.camera_id, []).append(i)
        capacity = {cam: max_separated([(self._ts[i], self._te[i]) for i in idx], self.gap_s)
                    for cam, idx in sorted(by_cam.items())}
        self.capacity = capacity
        self._cams = {cam: np.array(idx) for cam, idx in by_cam.items() if capacity[cam] >= p}
        if not self._cams:
            detail = ", ".join(f"{cam}: {capacity[cam]} of {len(by_cam[cam])} tracklets" for cam in capacity)
            raise SamplerError(
                f"TSCCC cannot fill a batch of P={p} tracklets from one camera pairwise more than "
                f"T={gap_s:g} s apart; the most any camera allows is {max(capacity.values(), default=0)} "
                f"({detail or 'no tracklets'}). Lower P or T, or give more tracklets.")
        skipped = sorted(set(capacity) - set(self._cams))
        if skipped:
            log.warning("TSCCC: cameras that cannot fill a batch are skipped",
                        extra={"kv": {"p": p, "gap_s": gap_s,
                                      "cameras": {c: capacity[c] for c in skipped}}})
        self._seeds = np.concatenate([idx for idx in self._cams.values()])

    def __len__(self) -> int:
        """Batches per epoch (upper bound: one per P seed tracklets)."""
        return int(np.ceil(len(self._seeds) / self.p))

    def _fill(self, seed: int, members: np.ndarray, used: np.ndarray) -> list[int] | None:
        cands = self._rng.permutation(members)
        cands = cands[np.argsort(used[cands], kind="stable")]       # unused tracklets first
        chosen = [seed]
        for c in cands:
            if c == seed:
                continue
            gaps = np.maximum(self._ts[c] - self._te[chosen], self._ts[chosen] - self._te[c])
            if np.all(gaps > self.gap_s):
                chosen.append(int(c))
                if len(chosen) == self.p:
                    return chosen
        return None

    def __iter__(self) -> Iterator[Batch]:
        cam_of = {int(i): cam for cam, idx in self._cams.items() for i in idx}
        used = np.zeros(len(self._n_images), dtype=bool)
        unfilled = 0
        for seed in self._rng.permutation(self._seeds):
            if used[seed]:
                continue
            chosen = self._fill(int(seed), self._cams[cam_of[int(seed)]], used)
            used[seed] = True
            if chosen is None:
                unfilled += 1          # this seed's neighbourhood is too crowded; it recurs elsewhere
                continue
            used[chosen] = True
            items, labels = [], []
            for label, ti in enumerate(chosen):
                for ii in _draw_images(self._rng, int(self._n_images[ti]), self.k):
                    items.append((ti, int(ii)))
                    labels.append(label)
            yield Batch(items, np.array(labels, dtype=np.int64))
        if unfilled:
            log.debug("TSCCC: seeds that could not complete a batch", extra={"kv": {"unfilled": unfilled}})


def groups_from_pairs(pairs: Sequence[tuple[int, int]], camera_of: Sequence[str]
                      ) -> dict[tuple[str, str], list[list[int]]]:
    """Per unordered camera pair, connected groups of tracklet indices linked by ``pairs``.

    Each camera pair is grouped on its own edges only, so one tracklet may be in a group of
    (cam1, cam2) and in another of (cam1, cam3): identities are never merged across pairs.
    """
    edges: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for a, b in pairs:
        ca, cb = camera_of[a], camera_of[b]
        if ca == cb:
            raise SamplerError(f"TCCPC pair ({a}, {b}) is within one camera {ca!r}")
        edges.setdefault((ca, cb) if ca < cb else (cb, ca), []).append((a, b))
    out: dict[tuple[str, str], list[list[int]]] = {}
    for cp, es in sorted(edges.items()):
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b in es:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        comps: dict[int, list[int]] = {}
        for x in sorted(parent):
            comps.setdefault(find(x), []).append(x)
        out[cp] = sorted(comps.values())
    return out


class TCCPC:
    """Cross-camera sampler: P associated groups of ONE camera pair per batch, K images each."""

    def __init__(self, tracklets: Sequence[TrainTracklet], pairs: Sequence[tuple[int, int]],
                 p: int, k: int, seed: int = 0) -> None:
        _check_pk(p, k)
        self.p, self.k = p, k
        self._rng = np.random.default_rng(seed)
        self._n_images = np.array([t.num_images for t in tracklets], dtype=np.int64)
        all_groups = groups_from_pairs(pairs, [t.camera_id for t in tracklets])
        self.group_counts = {cp: len(g) for cp, g in all_groups.items()}
        self._groups = {cp: g for cp, g in all_groups.items() if len(g) >= p}
        if not self._groups:
            detail = ", ".join(f"{a}-{b}: {n}" for (a, b), n in self.group_counts.items())
            raise SamplerError(
                f"TCCPC cannot fill a batch of P={p} associated groups from one camera pair; "
                f"{len(pairs)} pairs give at most {max(self.group_counts.values(), default=0)} groups "
                f"per camera pair ({detail or 'no pairs'}). Lower P or associate more tracklets.")
        skipped = {f"{a}-{b}": n for (a, b), n in self.group_counts.items() if n < p}
        if skipped:
            log.info("TCCPC: camera pairs with fewer than P groups are skipped",
                     extra={"kv": {"p": p, "pairs": skipped}})

    def __len__(self) -> int:
        return sum(int(np.ceil(len(g) / self.p)) for g in self._groups.values())

    def _group_items(self, group: list[int]) -> list[tuple[int, int]]:
        members = self._rng.permutation(group)
        per: dict[int, list[int]] = {int(t): [] for t in members}
        for j in range(self.k):                      # round-robin: both cameras in every group
            per[int(members[j % len(members)])].append(j)
        items = []
        for t, slots in per.items():
            if slots:
                for ii in _draw_images(self._rng, int(self._n_images[t]), len(slots)):
                    items.append((t, int(ii)))
        return items

    def __iter__(self) -> Iterator[Batch]:
        plan = []
        for cp, groups in self._groups.items():
            order = self._rng.permutation(len(groups))
            for start in range(0, len(order), self.p):
                chunk = list(order[start:start + self.p])
                if len(chunk) < self.p:               # top up the last batch with other groups of this pair
                    rest = np.setdiff1d(order, chunk)
                    chunk += list(self._rng.choice(rest, size=self.p - len(chunk), replace=False))
                plan.append((cp, chunk))
        for n in self._rng.permutation(len(plan)):
            cp, chunk = plan[n]
            items, labels = [], []
            for label, g in enumerate(chunk):
                got = self._group_items(self._groups[cp][g])
                items += got
                labels += [label] * len(got)
            yield Batch(items, np.array(labels, dtype=np.int64))
