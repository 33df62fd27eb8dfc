"""Per camera pair: the 1-reciprocal NN candidates and the subset k-means accepts.

k-means over a pair's candidates is global (one new candidate can move the threshold for all
of them), so the incremental associator keeps each pair's candidate set up to date and reruns
the 1-D k-means only for pairs whose candidate set changed. Candidates are few (at most one
per tracklet of the smaller camera), and ``kmeans_1d`` depends only on the sorted values, so
the result equals the batch reference's for the same candidate set.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..config.associator import Association
from .kmeans1d import lowest_cluster_mask
from .records import AssociatedPair


class PairState:
    """Candidate and accepted links of one unordered camera pair (``camera_a < camera_b``).

    A key (tracklet_a, tracklet_b) determines its distances, so accepted sets are compared by key.
    """

    def __init__(self, camera_a: str, camera_b: str, cfg: Association):
        self.camera_a, self.camera_b = camera_a, camera_b
        self._on_feature = cfg.kmeans_on == "feature"
        self._k = cfg.kmeans_k
        self._candidates: dict[tuple[str, str], AssociatedPair] = {}
        self._values: dict[tuple[str, str], float] = {}
        self._accepted: set[tuple[str, str]] = set()
        self._dirty = False

    @property
    def candidates(self) -> dict[tuple[str, str], AssociatedPair]:
        return dict(self._candidates)

    @property
    def accepted(self) -> dict[tuple[str, str], AssociatedPair]:
        return {k: self._candidates[k] for k in self._accepted}

    def set_candidate(self, pair: AssociatedPair) -> None:
        if pair.key not in self._candidates:
            self._candidates[pair.key] = pair
            self._values[pair.key] = pair.feature_distance if self._on_feature else pair.joint_distance
            self._dirty = True

    def drop_candidate(self, key: tuple[str, str]) -> AssociatedPair | None:
        """Forget a candidate; returns it so a caller can report it if it was accepted."""
        pair = self._candidates.pop(key, None)
        if pair is not None:
            del self._values[key]
            self._dirty = True
        return pair

    def refresh(self, dropped: dict[tuple[str, str], AssociatedPair]) -> tuple[list[AssociatedPair], list[AssociatedPair]]:
        """Rerun k-means if the candidates changed; return (newly accepted, no longer accepted).

        ``dropped`` holds the candidates dropped since the last refresh (needed to report them).
        """
        if not self._dirty:
            return [], []
        self._dirty = False
        keys = list(self._values)
        keep = lowest_cluster_mask(np.fromiter(self._values.values(), np.float64, len(keys)), self._k)
        new = set(itertools.compress(keys, keep.tolist()))
        added = [self._candidates[k] for k in new - self._accepted]
        removed = [self._candidates.get(k) or dropped[k] for k in self._accepted - new]
        self._accepted = new
        return added, removed
