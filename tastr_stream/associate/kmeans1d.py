"""Deterministic 1-D k-means, the refinement step of NN-CCTA (paper IV-C).

Initial centres are evenly spaced between the minimum and maximum value; Lloyd iterations run
until no assignment changes. Values are processed in sorted order and each value goes to its
nearest centre, ties to the lower centre (the midpoint between two centres belongs to the lower
one). In 1-D with sorted centres every cluster is a contiguous run of the sorted values and the
centres stay sorted, so cluster 0 always holds the minimum and is the cluster with the smallest
mean. Because the result depends only on the sorted multiset of values, two callers presenting
the same values in different orders get identical answers, bit for bit.

Edge cases: no values -> nothing; fewer distinct values than k -> k is lowered to the number
of distinct values (all-equal values form one cluster, all kept).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .records import AssociationError

log = logging.getLogger(__name__)

MAX_ITER = 1000


@dataclass(frozen=True)
class KMeans1D:
    labels: np.ndarray     # (n,) int, in the caller's order; 0 = lowest cluster
    centres: np.ndarray    # (k_eff,) ascending
    iterations: int


def _check(v: np.ndarray, k: int) -> None:
    if k < 1:
        raise AssociationError(f"kmeans k must be >= 1, got {k}")
    if not np.all(np.isfinite(v)):
        raise AssociationError(f"kmeans values must be finite, got {v[~np.isfinite(v)][:5].tolist()}")


def _lloyd_sorted(s: np.ndarray, k: int) -> tuple[np.ndarray | None, np.ndarray, int]:
    """Lloyd on ascending, finite, non-empty ``s``: (cuts, centres, iterations).

    ``cuts[c]`` is the index of the first sorted value of cluster c + 1 (None when one cluster).
    The one implementation behind the batch and the incremental paths: it sees only the sorted
    values, so equal multisets give bit-equal results whoever sorted them.
    """
    n_distinct = 1 + int(np.count_nonzero(s[1:] != s[:-1]))
    k_eff = min(k, n_distinct)
    centres = np.linspace(s[0], s[-1], k_eff) if k_eff > 1 else np.array([s.mean()])
    cuts = None
    it = 0
    for it in range(1, MAX_ITER + 1):
        # cuts[c] = index of the first sorted value that belongs to cluster c + 1.
        new_cuts = np.searchsorted(s, (centres[:-1] + centres[1:]) / 2.0, side="right")
        if cuts is not None and np.array_equal(new_cuts, cuts):
            break
        cuts = new_cuts
        bounds = np.concatenate(([0], cuts, [s.size]))
        for c in range(k_eff):
            lo, hi = bounds[c], bounds[c + 1]
            if hi > lo:  # an empty cluster keeps its centre
                centres[c] = s[lo:hi].mean()
    else:
        log.warning("kmeans_1d did not converge", extra={"kv": {"n": s.size, "k": k_eff, "iter": MAX_ITER}})
    return (cuts if k_eff > 1 else None), centres, it


def kmeans_1d(values, k: int = 3) -> KMeans1D:
    """Cluster ``values`` into at most ``k`` groups; see the module docstring for the rules."""
    v = np.asarray(values, dtype=np.float64).ravel()
    _check(v, k)
    if v.size == 0:
        return KMeans1D(np.zeros(0, dtype=np.int64), np.zeros(0), 0)
    order = np.argsort(v, kind="stable")
    s = v[order]
    cuts, centres, it = _lloyd_sorted(s, k)
    sorted_labels = np.searchsorted(cuts, np.arange(s.size), side="right") if cuts is not None \
        else np.zeros(s.size, dtype=np.int64)
    labels = np.empty(s.size, dtype=np.int64)
    labels[order] = sorted_labels
    return KMeans1D(labels, centres.copy(), it)


def lowest_cluster_size_sorted(sorted_values: np.ndarray, k: int) -> int:
    """How many of the ascending ``sorted_values`` the lowest cluster holds (a prefix).

    Equal values always share a cluster (cuts sit at centre midpoints, ``side="right"``), so
    the lowest cluster is exactly the values <= its largest member: incremental callers that
    keep their candidates sorted need no argsort and can diff accepted sets by threshold.
    """
    s = np.asarray(sorted_values, dtype=np.float64).ravel()
    _check(s, k)
    if s.size == 0:
        return 0
    cuts, _, _ = _lloyd_sorted(s, k)
    return s.size if cuts is None else int(cuts[0])


def lowest_cluster_mask(values, k: int) -> np.ndarray:
    """Boolean mask of the values that fall in the cluster with the smallest mean (k=1 keeps all)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return np.zeros(0, dtype=bool)
    return kmeans_1d(v, k).labels == 0
