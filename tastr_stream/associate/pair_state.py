"""Per camera pair: the 1-reciprocal NN candidates and the subset k-means accepts.

k-means over a pair's candidates is global (one new candidate can move the threshold for all
of them), so the incremental associator keeps each pair's candidate set up to date and reruns
the 1-D k-means only for pairs whose candidate set changed. ``kmeans_1d`` depends only on the
sorted values, so the result equals the batch reference's for the same candidate set.

Why the candidates are kept sorted: a pair can hold thousands of candidates in a large window,
and rebuilding a value array, argsorting it and diffing accepted key sets on every change cost
O(candidates) Python work per arrival. Here the values live in an ascending array (one O(n)
memmove per change), k-means runs on it directly, and the lowest cluster is a prefix of it:
the accepted set is "value <= threshold". Between two refreshes a key can only change status
if it was added or dropped, or if its value lies between the old and the new threshold, so only
those keys are looked at.
"""

from __future__ import annotations

import bisect

import numpy as np

from ..config.associator import Association
from .kmeans1d import lowest_cluster_size_sorted
from .records import AssociatedPair

Key = tuple[str, str]


class SortedValues:
    """(value, key) entries kept ascending, with the values mirrored in a float64 array."""

    def __init__(self) -> None:
        self._entries: list[tuple[float, Key]] = []
        self._buf = np.empty(64)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def values(self) -> np.ndarray:
        """Ascending values (a view: valid until the next change)."""
        return self._buf[: len(self._entries)]

    def insert(self, value: float, key: Key) -> None:
        n = len(self._entries)
        i = bisect.bisect_left(self._entries, (value, key))
        if n == self._buf.shape[0]:
            self._buf = np.concatenate([self._buf, np.empty(n)])
        self._buf[i + 1: n + 1] = self._buf[i:n].copy()
        self._buf[i] = value
        self._entries.insert(i, (value, key))

    def remove(self, value: float, key: Key) -> None:
        n = len(self._entries)
        i = bisect.bisect_left(self._entries, (value, key))
        if i == n or self._entries[i] != (value, key):
            raise KeyError(key)
        del self._entries[i]
        self._buf[i: n - 1] = self._buf[i + 1: n].copy()

    def keys_in(self, low: float, high: float) -> list[Key]:
        """Keys whose value v satisfies low < v <= high."""
        v = self.values
        i0, i1 = np.searchsorted(v, [low, high], side="right")
        return [key for _, key in self._entries[int(i0): int(i1)]]


class PairState:
    """Candidate and accepted links of one unordered camera pair (``camera_a < camera_b``).

    A key (tracklet_a, tracklet_b) determines its distances, so accepted sets are compared by key.
    """

    def __init__(self, camera_a: str, camera_b: str, cfg: Association):
        self.camera_a, self.camera_b = camera_a, camera_b
        self._on_feature = cfg.kmeans_on == "feature"
        self._k = cfg.kmeans_k
        self._candidates: dict[Key, AssociatedPair] = {}
        self._values: dict[Key, float] = {}
        self._sorted = SortedValues()
        self._accepted: set[Key] = set()
        self._threshold = -np.inf          # accepted = candidates with value <= threshold
        self._changed: set[Key] = set()    # keys added or dropped since the last refresh

    @property
    def candidates(self) -> dict[Key, AssociatedPair]:
        return dict(self._candidates)

    @property
    def accepted(self) -> dict[Key, AssociatedPair]:
        return {k: self._candidates[k] for k in self._accepted}

    def set_candidate(self, pair: AssociatedPair) -> None:
        if pair.key not in self._candidates:
            value = pair.feature_distance if self._on_feature else pair.joint_distance
            self._candidates[pair.key] = pair
            self._values[pair.key] = value
            self._sorted.insert(value, pair.key)
            self._changed.add(pair.key)

    def drop_candidate(self, key: Key) -> AssociatedPair | None:
        """Forget a candidate; returns it so a caller can report it if it was accepted."""
        pair = self._candidates.pop(key, None)
        if pair is not None:
            self._sorted.remove(self._values.pop(key), key)
            self._changed.add(key)
        return pair

    def refresh(self, dropped: dict[Key, AssociatedPair]) -> tuple[list[AssociatedPair], list[AssociatedPair]]:
        """Rerun k-means if the candidates changed; return (newly accepted, no longer accepted).

        ``dropped`` holds the candidates dropped since the last refresh (needed to report them).
        """
        if not self._changed:
            return [], []
        values = self._sorted.values
        size = lowest_cluster_size_sorted(values, self._k)
        new_threshold = float(values[size - 1]) if size else -np.inf
        low, high = sorted((self._threshold, new_threshold))
        suspects = self._changed.union(self._sorted.keys_in(low, high))
        self._changed = set()
        self._threshold = new_threshold
        added, removed = [], []
        for key in sorted(suspects):
            value = self._values.get(key)
            now = value is not None and value <= new_threshold
            if now and key not in self._accepted:
                self._accepted.add(key)
                added.append(self._candidates[key])
            elif not now and key in self._accepted:
                self._accepted.discard(key)
                removed.append(self._candidates.get(key) or dropped[key])
        return added, removed
