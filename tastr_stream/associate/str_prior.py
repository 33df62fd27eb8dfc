"""Spatio-temporal regularisation (STR, paper Eq. 3): R(dt, ci, cj) and the joint distance D / R.

R(dt) = max(r_floor, exp(-(dt - t_ij)^2 / E)), with sigma_ij = max(lambda * t_ij, sigma_floor_s) and
E = 2 * sigma_ij ("paper", the default: Eq. 3 as printed divides by sigma, not sigma^2) or
E = 2 * sigma_ij^2 ("gaussian", the authors' public code). We keep the printed formula as the
default because it is what the paper specifies; with it the prior is much narrower (its effective
standard deviation is sqrt(sigma_ij) "seconds"), which the ablation can compare against.

dt between tracklets i and j:
- "gap": max(t_start_j - t_end_i, t_start_i - t_end_j). Signed: negative means the two overlap
  in time. It is symmetric in (i, j) by construction, so it is the exit -> enter time in
  whichever direction the person walked. For non-overlapping cameras the physically right dt
  is directional (exit of the earlier camera -> entry of the later one); the symmetric gap
  equals that directional time for the true order and only differs by letting the reverse order
  be scored too, which keeps D_joint symmetric and the reciprocal-NN relation well defined.
- "start": |t_start_j - t_start_i|.

Every function is elementwise numpy on float64 so that the batch reference and the incremental
associator compute bit-equal values for the same pair regardless of how arrays are batched.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..config.associator import StrPrior
from ..config.network import Network
from .records import AssociationError


def tracklet_dt_s(t_start_i_s, t_end_i_s, t_start_j_s, t_end_j_s, mode: str = "gap") -> np.ndarray:
    """dt between tracklets i and j (broadcasting arrays), as defined in the module docstring."""
    ts_i, te_i = np.asarray(t_start_i_s, np.float64), np.asarray(t_end_i_s, np.float64)
    ts_j, te_j = np.asarray(t_start_j_s, np.float64), np.asarray(t_end_j_s, np.float64)
    if mode == "gap":
        return np.maximum(ts_j - te_i, ts_i - te_j)
    if mode == "start":
        return np.abs(ts_j - ts_i)
    raise AssociationError(f"unknown dt mode {mode!r}; expected 'gap' or 'start'")


def str_sigma_s(t_ij_s: float, cfg: StrPrior) -> float:
    """sigma_ij = lambda * t_ij, floored at sigma_floor_s."""
    return max(cfg.lambda_ * float(t_ij_s), cfg.sigma_floor_s)


def str_r(dt_s, t_ij_s: float, cfg: StrPrior) -> np.ndarray:
    """R(dt) for one camera pair with mean transfer time ``t_ij_s``; ones when STR is disabled."""
    dt = np.asarray(dt_s, np.float64)
    if not cfg.enabled:
        return np.ones_like(dt)
    sigma = str_sigma_s(t_ij_s, cfg)
    denom = 2.0 * sigma if cfg.exponent == "paper" else 2.0 * sigma * sigma
    if denom <= 0:
        raise AssociationError(f"STR sigma is {sigma} for t_ij={t_ij_s}; set sigma_floor_s > 0")
    r = np.exp(-((dt - float(t_ij_s)) ** 2) / denom)
    if cfg.r_floor > 0:
        r = np.maximum(r, cfg.r_floor)
    return r


def joint_distance(d, r) -> np.ndarray:
    """D_joint = D / R (Eq. 4); infinite where R underflowed to 0: such a pair is impossible
    and never a nearest neighbour."""
    d, r = np.asarray(d, np.float64), np.asarray(r, np.float64)
    out = np.full(np.broadcast_shapes(d.shape, r.shape), np.inf)
    with np.errstate(over="ignore"):  # D / tiny R overflowing to inf is "impossible" too
        np.divide(d, r, out=out, where=r > 0)
    return out


class TransferPrior:
    """R for every camera pair, from the mean transfer time t_ij of each (unordered) pair."""

    def __init__(self, transfer_s: Mapping[tuple[str, str], float], cfg: StrPrior):
        self._t: dict[tuple[str, str], float] = {}
        for (a, b), t in transfer_s.items():
            if a == b or not (np.isfinite(t) and t > 0):
                raise AssociationError(f"transfer time for ({a!r}, {b!r}) must be > 0 between two cameras, got {t}")
            self._t[(a, b)] = float(t)
            self._t.setdefault((b, a), float(t))
        self.cfg = cfg

    @classmethod
    def from_network(cls, network: Network, cfg: StrPrior) -> "TransferPrior":
        return cls(network.transfer_matrix_s(), cfg)

    def check_matches(self, cfg: StrPrior) -> None:
        """Refuse a prior built from other STR settings than the association config names."""
        if cfg != self.cfg:
            raise AssociationError(f"the transfer prior was built with {self.cfg!r} but the association "
                                   f"config says {cfg!r}; build it with TransferPrior.from_network(net, cfg)")

    @property
    def cameras(self) -> list[str]:
        return sorted({a for a, _ in self._t})

    def t_ij_s(self, a: str, b: str) -> float:
        try:
            return self._t[(a, b)]
        except KeyError:
            raise AssociationError(f"no transfer time between cameras {a!r} and {b!r}; known: {self.cameras}") from None

    def sigma_s(self, a: str, b: str) -> float:
        return str_sigma_s(self.t_ij_s(a, b), self.cfg)

    def r(self, dt_s, a: str, b: str) -> np.ndarray:
        return str_r(dt_s, self.t_ij_s(a, b), self.cfg)

    def r_between(self, t_start_i_s, t_end_i_s, t_start_j_s, t_end_j_s, a: str, b: str) -> np.ndarray:
        """R for tracklets i (camera a) and j (camera b); arrays broadcast."""
        t_ij = self.t_ij_s(a, b)  # validates the pair even when STR is off
        dt = tracklet_dt_s(t_start_i_s, t_end_i_s, t_start_j_s, t_end_j_s, self.cfg.dt)
        return str_r(dt, t_ij, self.cfg)

    def horizon_s(self, fallback_s: float) -> float:
        """Largest t_ij + 3 effective standard deviations over all pairs.

        Past this gap after a tracklet's end, R has fallen below exp(-4.5) ~ 0.011 for every
        camera pair, which is the associator's policy for "no future tracklet can still change
        this association". The effective standard deviation is sigma ("gaussian") or
        sqrt(sigma) ("paper", Eq. 3 as printed). With STR disabled time carries no information,
        so ``fallback_s`` (the window length) is returned.
        """
        if not self.cfg.enabled or not self._t:
            return float(fallback_s)
        out = 0.0
        for (a, b), t in self._t.items():
            sigma = self.sigma_s(a, b)
            std = sigma if self.cfg.exponent == "gaussian" else float(np.sqrt(sigma))
            out = max(out, t + 3.0 * std)
        return out

