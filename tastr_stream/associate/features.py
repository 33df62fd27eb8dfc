"""The tracklet feature and the feature distance D (paper Eq. 2).

The tracklet feature is the mean of its per-crop embeddings; the paper uses the raw mean,
which is the default, with L2 normalisation of the mean as an option. Distances are computed
in float64 from the float32 features by explicit differences (no ||x||^2 + ||y||^2 - 2xy
expansion), one query row against many rows: the value for a pair then does not depend on
which other rows are in the call, so batch and incremental paths agree to the bit.
"""

from __future__ import annotations

import numpy as np

from .records import AssociationError

METRICS = ("euclidean", "sqeuclidean")


def tracklet_feature(crop_embeddings, l2_normalise: bool = False) -> np.ndarray:
    """Mean of the (n_crops, emb_dim) per-crop embeddings, float32; optionally unit length."""
    emb = np.asarray(crop_embeddings, dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
        raise AssociationError(f"crop embeddings must be (n_crops>0, emb_dim>0), got shape {emb.shape}")
    if not np.all(np.isfinite(emb)):
        raise AssociationError("crop embeddings contain NaN or infinity")
    mean = emb.mean(axis=0)
    if l2_normalise:
        norm = float(np.linalg.norm(mean))
        if norm == 0.0:
            raise AssociationError("cannot L2-normalise a zero mean embedding")
        mean = mean / norm
    return mean.astype(np.float32)


def distances_to(x, rows, metric: str = "euclidean") -> np.ndarray:
    """D between one feature ``x`` (emb_dim,) and each of ``rows`` (m, emb_dim): float64 (m,)."""
    if metric not in METRICS:
        raise AssociationError(f"unknown distance {metric!r}; expected one of {METRICS}")
    x64 = np.asarray(x, dtype=np.float32).astype(np.float64)
    r64 = np.asarray(rows, dtype=np.float32).astype(np.float64)
    if r64.ndim != 2 or r64.shape[1] != x64.shape[0]:
        raise AssociationError(f"rows of shape {r64.shape} do not match a feature of shape {x64.shape}")
    sq = np.sum((r64 - x64) ** 2, axis=-1)
    return sq if metric == "sqeuclidean" else np.sqrt(sq)


def distance_matrix(xs, ys, metric: str = "euclidean") -> np.ndarray:
    """D between every row of ``xs`` (m, d) and every row of ``ys`` (n, d), row by row: (m, n)."""
    xs = np.asarray(xs, dtype=np.float32)
    ys = np.asarray(ys, dtype=np.float32)
    out = np.empty((xs.shape[0], ys.shape[0]), dtype=np.float64)
    for i in range(xs.shape[0]):
        out[i] = distances_to(xs[i], ys, metric)
    return out


def gram_distance_matrix(xs, ys) -> np.ndarray:
    """Euclidean D between every row of ``xs`` and of ``ys`` through one matrix product (float64).

    The fast path for the user-facing linker, which re-decides whole regions every tick and needs
    no bit-equality across batchings; equal to :func:`distance_matrix` to ~1e-9 relative (test)."""
    x = np.asarray(xs, dtype=np.float32).astype(np.float64)
    y = np.asarray(ys, dtype=np.float32).astype(np.float64)
    sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return np.sqrt(np.maximum(sq, 0.0))
