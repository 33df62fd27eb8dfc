"""How close do *different* people look? Learned without labels from pairs that cannot match.

Two tracklets that overlap in time are two people when they are in one camera (one person is
one track at a time) or in two cameras that do not see the same ground (a person is in one
place at a time). Every window of a live network holds many such pairs, so their appearance
distances are an unlabelled but exact sample of the *different-person* distribution under the
model that is serving now. From it the linker takes its thresholds as quantiles ("at most q of
different-people pairs would pass") and its appearance confidence as the share of
different-people pairs that look at least as far apart. A threshold learned this way follows
the feature scale of each model version, which a constant (``relink_max_distance = 0.5`` on
features of norm 32) cannot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import beta

from .features import distance_matrix
from .records import AssociationError, TrackletMeta


class NegativeDistances:
    """A sorted sample of different-person distances with quantiles and a tail probability."""

    def __init__(self, distances: Sequence[float] | np.ndarray = ()):
        d = np.sort(np.asarray(distances, dtype=np.float64).ravel())
        if d.size and not np.all(np.isfinite(d)):
            raise AssociationError("negative distances must be finite")
        self._d = d

    def __len__(self) -> int:
        return int(self._d.size)

    def quantile(self, q: float) -> float:
        """Distance below which a share ``q`` of different-people pairs fall (nan when empty)."""
        if not 0.0 <= q <= 1.0:
            raise AssociationError(f"quantile must be in [0, 1], got {q}")
        return float(np.quantile(self._d, q)) if self._d.size else float("nan")

    def share_closer(self, d: float | np.ndarray) -> np.ndarray:
        """Share of different-people pairs at most ``d`` apart: how often a stranger looks this close."""
        if not self._d.size:
            return np.ones_like(np.asarray(d, dtype=np.float64))
        return np.searchsorted(self._d, np.asarray(d, dtype=np.float64), side="right") / self._d.size

    def share_closer_bound(self, d: float | np.ndarray, confidence: float = 0.9) -> np.ndarray:
        """``share_closer`` erring high: the one-sided Clopper-Pearson upper bound, at ``confidence``,
        on the share of all strangers at most ``d`` apart. A small sample cannot vouch for a small
        share: no stranger closer among 100 bounds the share by 2.3 %, not 0 %."""
        if not 0.0 < confidence < 1.0:
            raise AssociationError(f"confidence must be in (0, 1), got {confidence}")
        closer = np.searchsorted(self._d, np.asarray(d, dtype=np.float64), side="right")
        n = self._d.size
        return np.where(closer >= n, 1.0, beta.ppf(confidence, closer + 1, np.maximum(n - closer, 1)))

    def bounded_quantile(self, q: float, confidence: float = 0.9) -> float:
        """The distance under which ``share_closer_bound`` is at most ``q``: pairs closer than it
        are closer than all but ``q`` of strangers, as the sample shows with ``confidence``
        (-inf when it is too small to show that of any distance). One threshold for a whole
        matrix of distances, instead of a bound for each."""
        n = self._d.size
        if n == 0:
            return -np.inf
        ks = np.arange(min(n, int(q * n) + 2))                 # the bound rises with the count
        ok = ks[beta.ppf(confidence, ks + 1, n - ks) <= q]
        return float(self._d[ok.max()]) if ok.size else -np.inf


def impossible_pairs(tracklets: Sequence[TrackletMeta], *, min_overlap_s: float = 0.0,
                     max_pairs: int = 20_000, seed: int = 0) -> NegativeDistances:
    """Appearance distances of tracklet pairs that overlap in time by more than ``min_overlap_s``.

    Same camera or not, two tracklets seen at the same moment are two people (the cameras of a
    network are assumed not to see the same ground). At most ``max_pairs`` distances are kept,
    a seeded subsample, so a large window costs a bounded amount.
    """
    if not tracklets:
        return NegativeDistances()
    ts = np.array([t.t_start_s for t in tracklets])
    te = np.array([t.t_end_s for t in tracklets])
    overlap = np.minimum(te[:, None], te[None, :]) - np.maximum(ts[:, None], ts[None, :])
    i, j = np.nonzero(np.triu(overlap > min_overlap_s, k=1))
    if i.size > max_pairs:
        keep = np.sort(np.random.default_rng(seed).choice(i.size, max_pairs, replace=False))
        i, j = i[keep], j[keep]
    if i.size == 0:
        return NegativeDistances()
    x = np.stack([t.feature for t in tracklets])
    out = np.empty(i.size)
    for k in np.unique(i):
        sel = i == k
        out[sel] = distance_matrix(x[k:k + 1], x[j[sel]])[0]
    return NegativeDistances(out)
