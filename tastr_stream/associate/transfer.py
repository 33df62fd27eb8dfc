"""Transfer times that each camera pair learns from its own confident links.

A site never knows its walking times exactly: path lengths are measured off a map, people walk
at 0.8-1.9 m/s, stop and detour, and a camera sees a person a few metres after the edge of its
view. So each (unordered) camera pair starts from the configured prior (t_ij = path length /
mean walking speed, sigma_ij = lambda * t_ij, the paper's STR) and, once the site has seen
``min_count`` confident links, scales every configured time by the site's median ratio of observed
to configured time (the walking speed and view margins the configuration did not know); once the
pair itself has ``min_count`` links, it switches to what they say: the median transfer time and a
robust spread (1.4826 * MAD, floored at ``min_rel_std`` of the median and ``min_std_s``). Median and
MAD ignore the few wrong links among the confident ones. The most recent ``max_samples`` are kept
per pair, so a site that changes (a closed door, a new walkway) re-learns.

The model is a plain JSON-able map, persisted in the store, and shown on the web page next to the
configured value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..config.associator import LearnedPrior
from .records import AssociationError

MAD_TO_STD = 1.4826


@dataclass(frozen=True)
class PairPrior:
    """The transfer-time prior one camera pair uses now, and where it came from."""

    mean_s: float
    std_s: float             # spread before the mean (earlier than usual)
    source: str          # "configured" | "site" (site-wide scale of configured) | "learned" (this pair)
    samples: int
    configured_mean_s: float
    late_std_s: float = 0.0  # spread after the mean (later than usual); 0: same as std_s

    def r(self, dt_s) -> np.ndarray:
        """Plausibility of a transfer taking ``dt_s``: 1 at the mean, a Gaussian fall-off on
        either side (the later side as wide as ``late_std_s``)."""
        dt = np.asarray(dt_s, dtype=np.float64)
        z = (dt - self.mean_s) / np.where(dt > self.mean_s, self.late_std_s or self.std_s, self.std_s)
        return np.exp(-0.5 * z * z)

    @property
    def reach_s(self) -> float:
        """How late (after the mean) a transfer still counts, in the later spread's units."""
        return self.late_std_s or self.std_s


def _robust(x: np.ndarray) -> tuple[float, float]:
    """Median and MAD-based standard deviation: a few wrong links do not move either."""
    med = float(np.median(x))
    return med, MAD_TO_STD * float(np.median(np.abs(x - med)))


def _key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


class TransferModel:
    def __init__(self, configured_s: Mapping[tuple[str, str], float], lambda_: float, cfg: LearnedPrior):
        self.cfg = cfg
        self.lambda_ = float(lambda_)
        self._configured: dict[tuple[str, str], float] = {}
        for (a, b), t in configured_s.items():
            if a != b:
                if not (np.isfinite(t) and t > 0):
                    raise AssociationError(f"configured transfer time {a}-{b} must be > 0, got {t}")
                self._configured[_key(a, b)] = float(t)
        self._samples: dict[tuple[str, str], list[float]] = {}

    # --------------------------------------------------------------- read
    def pair(self, a: str, b: str) -> PairPrior:
        key = _key(a, b)
        if key not in self._configured:
            raise AssociationError(f"no transfer time between cameras {a!r} and {b!r}")
        t = self._configured[key]
        obs = self._samples.get(key, [])
        late = self.cfg.late_spread_factor
        if self.cfg.enabled and len(obs) >= self.cfg.min_count:
            med, spread = _robust(np.asarray(obs))
            std = self._shrunk(max(spread, self.cfg.min_rel_std * med, self.cfg.min_std_s), med, len(obs))
            return PairPrior(med, std, "learned", len(obs), t, late * std)
        ratios = [dt / self._configured[k] for k, v in self._samples.items() for dt in v]
        if self.cfg.enabled and len(ratios) >= self.cfg.site_min_count:
            # Too few links of its own yet: the site's common scale (how much longer than configured
            # people take) applied to this pair's configured time. Its spread is that of people
            # and that between pairs (configured lengths are off by different amounts), whichever
            # is larger: a scale that holds on a few busy pairs need not hold on this one.
            med, spread = _robust(np.asarray(ratios))
            per_pair = [float(np.median(v)) / self._configured[k] for k, v in self._samples.items() if v]
            between = _robust(np.asarray(per_pair))[1] if len(per_pair) >= 3 else spread
            std = max(t * spread, t * between, self.cfg.min_rel_std * t * med, self.cfg.min_std_s)
            std = self._shrunk(std, t * med, len(ratios))
            return PairPrior(t * med, std, "site", len(obs), t, late * std)
        std = max(self.lambda_ * t, self.cfg.min_std_s)
        return PairPrior(t, std, "configured", len(obs), t, std)

    def _shrunk(self, std_s: float, mean_s: float, n: int) -> float:
        """The learned spread pulled towards the configured one (lambda * mean) with the weight of
        ``prior_weight`` links: a spread from three links is a guess, from a hundred a measurement."""
        wide = max(self.lambda_ * mean_s, self.cfg.min_std_s)
        k = self.cfg.prior_weight
        return float(np.sqrt((n * std_s * std_s + k * wide * wide) / (n + k)))

    def route_factor(self, a: str, b: str) -> float:
        """How used the route a-b is next to the busiest route of either camera (1: at least a
        fifth as busy).

        People walk along walkways between neighbouring cameras; a pair that learns almost no
        links while its cameras' other routes learn many is not one people take directly (its
        few candidates are someone whose middle visit was missed, or a stranger). 1 until one
        of the two cameras has ``route_min_links`` links on a route."""
        if not self.cfg.enabled:
            return 1.0
        busiest = max((len(v) for k, v in self._samples.items() if a in k or b in k), default=0)
        if busiest < self.cfg.route_min_links:
            return 1.0
        return min(1.0, (len(self._samples.get(_key(a, b), ())) + 1.0) / (0.2 * busiest + 1.0))

    def route_share(self, a: str, b: str, cameras) -> float:
        """p(b | a): the share of people leaving ``a`` who walk to ``b`` next, among ``cameras``, from
        the links each route has learned (one pseudo-link per route, so a new site starts even)."""
        others = [c for c in cameras if c != a]
        if b not in others:
            return 0.0
        counts = {c: len(self._samples.get(_key(a, c), ())) if self.cfg.enabled else 0 for c in others}
        return (counts[b] + 1.0) / (sum(counts.values()) + len(others))

    def pairs(self) -> dict[tuple[str, str], PairPrior]:
        return {k: self.pair(*k) for k in sorted(self._configured)}

    def horizon_s(self, k_std: float = 3.0) -> float:
        """Longest plausible transfer over all pairs (mean + ``k_std`` spreads)."""
        return max((p.mean_s + k_std * p.reach_s for p in self.pairs().values()), default=0.0)

    # --------------------------------------------------------------- write
    def observe(self, a: str, b: str, dt_s: float) -> None:
        """One confident link's transfer time."""
        if not (np.isfinite(dt_s) and dt_s > 0):
            return
        obs = self._samples.setdefault(_key(a, b), [])
        obs.append(float(dt_s))
        del obs[: max(0, len(obs) - self.cfg.max_samples)]

    def reset(self) -> None:
        self._samples.clear()

    def to_json(self) -> dict:
        return {f"{a}|{b}": list(v) for (a, b), v in sorted(self._samples.items())}

    def load_json(self, data) -> int:
        """Adopt persisted samples (pairs this network does not have are ignored); returns pairs."""
        self._samples.clear()
        if not isinstance(data, dict):
            return 0
        for k, v in data.items():
            parts = k.split("|") if isinstance(k, str) else []
            if len(parts) == 2 and _key(*parts) in self._configured and isinstance(v, list):
                for dt in v:
                    if isinstance(dt, (int, float)):
                        self.observe(parts[0], parts[1], float(dt))
        return len(self._samples)
