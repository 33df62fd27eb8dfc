"""How likely a cross link is right, against the chance that the person left the network.

The rival confidence (``trusted``, step 4) asks "would a stranger have looked closer?". It cannot
tell a right link from a stranger who happened to be the best of a few when the person's true
successor never came: someone who left the site, or the last visit of a chain. Under that null
every candidate is a stranger, and the best of N strangers has a rival confidence spread evenly
over 0-1 (measured on bench_quality: wrong links fell in every confidence band).

This module weighs the hypotheses as a tracker weighs a track's next detection against clutter
(probabilistic data association). Visit u left camera a. Each visit k that entered another
camera b afterwards is either u's person or a stranger:

* as u's person it appears with density  p(b | a) * g_ab(dt)  (p(b | a): the share of a's people
  walking to b, from the links each route has learned; g_ab: the pair's transfer-time density, a
  normalised R), and its appearance distance lies at stranger quantile q with density f_same(q);
* as a stranger it is one of the visits entering b at b's rate lambda_b a second, and its
  quantile is uniform (the quantile of a stranger's distance among strangers' distances).

With rho the chance that a person leaving a view is seen again, candidate k is u's successor
with probability  rho L_k / ((1 - rho) + rho sum_j L_j),  L_k = p(b|a) g(dt_k) f_same(q_k) / lambda_b;
the (1 - rho) term is the hypothesis that none is. The same holds backwards for v's predecessor
among the visits that left before v entered. A link's posterior is the smaller of the two: it
is right only if both ends agree.

f_same is an exponential over the quantile. rho and its mean are learned on each decision's
visits by expectation-maximisation, starting from (and pulled towards) the configured values, so
the posterior follows the site's traffic and the model version serving now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SQRT_2PI = float(np.sqrt(2.0 * np.pi))


def same_person_density(q: np.ndarray, mean: float) -> np.ndarray:
    """f_same(q): density of the stranger quantile of a same-person distance (exponential, truncated to [0, 1])."""
    q = np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)
    return np.exp(-q / mean) / (mean * -np.expm1(-1.0 / mean))


def visit_rates(cameras: Sequence[str], t_enter: np.ndarray, t_exit: np.ndarray, min_span_s: float = 60.0) -> dict[str, float]:
    """Visits per second in each camera over the span the visits cover (at least one visit)."""
    span = max(float(np.max(t_exit) - np.min(t_enter)) if len(cameras) else 0.0, min_span_s)
    return {c: n / span for c, n in Counter(cameras).items()}


def base_odds(r: np.ndarray, spread_s: np.ndarray, route_share: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Per candidate, its odds before rho and appearance: p(b | a) g(dt) / lambda. ``r`` is the
    link's R without the route factor (time x zone), ``spread_s`` the pair's spread (the mean of
    its early and late ones), ``route_share`` p(b | a), ``rate`` the clutter rate of the
    candidate's camera (visits/s)."""
    density = r / (SQRT_2PI * np.maximum(spread_s, 1e-6))
    return route_share * density / np.maximum(rate, 1e-9)


@dataclass(frozen=True)
class Calibration:
    """rho and the same-person quantile mean this set of visits supports (EM), and the posteriors."""

    successor_prior: float
    same_quantile_mean: float
    succ: np.ndarray            # per candidate: P(it is u's successor)
    pred: np.ndarray            # per candidate: P(u is its predecessor)


def calibrate(base_succ: np.ndarray, base_pred: np.ndarray, q: np.ndarray, u: np.ndarray, v: np.ndarray,
              n_visits: int, u_complete: np.ndarray, v_complete: np.ndarray, successor_prior: float,
              same_quantile_mean: float, weight: float, iterations: int = 25) -> Calibration:
    """Fit rho and f_same's mean to these candidates by expectation-maximisation, starting from
    (and pulled towards, with the weight of ``weight`` visits) the configured values.

    E: each candidate's posterior as successor and as predecessor under the current values.
    M: rho = the expected share of visits with a successor (or predecessor) among the candidates,
    counted over visits whose candidates have all had time to arrive (``u_complete``: every
    successor of this visit could be here; ``v_complete``: every predecessor); the mean = the
    posterior-weighted mean quantile of the candidates. A network where most people walk on to
    another camera raises rho; a model whose own visits look closer lowers the mean."""
    rho, m = float(successor_prior), float(same_quantile_mean)
    n = float(u_complete.sum() + v_complete.sum())        # visits that count towards rho
    succ = pred = np.zeros_like(q)
    for _ in range(max(iterations, 1)):
        f = same_person_density(q, m)
        o_s, o_p = rho * base_succ * f, rho * base_pred * f
        succ = o_s / ((1.0 - rho) + np.bincount(u, weights=o_s, minlength=n_visits)[u])
        pred = o_p / ((1.0 - rho) + np.bincount(v, weights=o_p, minlength=n_visits)[v])
        resp = succ * u_complete[u] + pred * v_complete[v]  # each candidate's weight as the person
        rho = float(np.clip((weight * successor_prior + resp.sum()) / (weight + n), 1e-3, 0.999))
        m = float(np.clip((weight * same_quantile_mean + (resp * q).sum()) / (weight + resp.sum()), 1e-4, 0.5))
    return Calibration(rho, m, succ, pred)
