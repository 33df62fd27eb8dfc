"""The link posterior (``associate.posterior``): a cross link weighed against every candidate and
against "the person left the network", with rho and f_same learned without labels.

Guards against the failure it was built for (issue 10, bench_quality): the rival confidence of
a stranger who is the best of a few candidates for a visit whose person never came back is
spread evenly over 0-1, so a chain's last visit picked up strangers at any confidence floor.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from tastr_stream.associate.negatives import impossible_pairs
from tastr_stream.associate.posterior import base_odds, calibrate, same_person_density, visit_rates
from tastr_stream.associate.transfer import TransferModel
from tastr_stream.associate.trusted import trusted_links
from tastr_stream.config.associator import LearnedPrior, Trust
from tastr_stream.config import config_from_dict
from tastr_stream.errors import ConfigError

from .world import TRANSFER_S, make_world, person


@pytest.mark.parametrize("mean", [0.003, 0.01, 0.1, 0.4])
def test_same_person_density_is_a_density_on_the_unit_interval(mean):
    assert quad(lambda q: float(same_person_density(q, mean)), 0.0, 1.0, points=[mean, 5 * mean])[0] == \
        pytest.approx(1.0, rel=1e-6)
    f = same_person_density(np.array([0.0, mean, 1.0, 2.0]), mean)
    assert f[0] > f[1] > f[2] == f[3]           # closer is likelier; a quantile beyond 1 is 1


def test_visit_rates_count_each_camera_over_the_span():
    rates = visit_rates(["a", "a", "b"], np.array([0.0, 50.0, 100.0]), np.array([10.0, 60.0, 200.0]))
    assert rates == pytest.approx({"a": 2 / 200.0, "b": 1 / 200.0})
    assert visit_rates(["a"], np.array([0.0]), np.array([1.0]))["a"] == pytest.approx(1 / 60.0)   # floored span


def _one_visit(q: list[float], base: list[float], rho=0.5, mean=0.01) -> np.ndarray:
    k = len(q)
    cal = calibrate(np.array(base, float), np.array(base, float), np.array(q, float), np.zeros(k, int),
                    np.arange(1, k + 1), k + 1, np.zeros(k + 1), np.zeros(k + 1), rho, mean, weight=1e9)
    return cal.succ


def test_the_posterior_weighs_none_against_every_candidate():
    alone = _one_visit([0.03], [0.1])[0]
    # By hand: rho L / ((1 - rho) + rho L), L = base * f_same(q).
    f = float(same_person_density(0.03, 0.01))
    assert alone == pytest.approx(0.5 * 0.1 * f / (0.5 + 0.5 * 0.1 * f), rel=1e-6)
    assert _one_visit([0.0], [0.1])[0] > alone                   # a closer look is likelier the person
    assert _one_visit([0.03, 0.03], [0.1, 0.1])[0] < alone       # a rival as good takes a share
    assert _one_visit([0.03], [0.1], rho=0.8)[0] > alone         # a network people rarely leave
    assert _one_visit([0.03], [0.1], rho=0.2)[0] < alone
    # A stranger at the 3 % quantile, the best of a few for a visit whose person left: under 0.5.
    assert _one_visit([0.03, 0.2, 0.5], [0.1, 0.1, 0.1])[0] < 0.5


def test_rho_and_the_same_person_mean_are_learned_from_unlabelled_candidates():
    """Seeded visits: each person walks on with probability 0.7 and appears ~N(30 s, 5 s) later,
    their distance at an Exp(0.02) quantile of strangers; strangers arrive at 0.1 /s over 0-60 s
    with uniform quantiles. EM from wrong starting values finds both."""
    rng = np.random.default_rng(4)
    rho_true, mean_true, rate, n = 0.7, 0.02, 0.1, 600
    us, dts, qs = [], [], []
    for u in range(n):
        k = rng.poisson(rate * 60.0)
        dts += list(rng.uniform(0.0, 60.0, k))
        qs += list(rng.uniform(0.0, 1.0, k))
        us += [u] * k
        if rng.random() < rho_true:
            dts.append(rng.normal(30.0, 5.0))
            qs.append(min(rng.exponential(mean_true), 1.0))
            us.append(u)
    u, dt, q = np.array(us), np.array(dts), np.array(qs)
    r = np.exp(-0.5 * ((dt - 30.0) / 5.0) ** 2)
    base = base_odds(r, np.full(u.size, 5.0), np.ones(u.size), np.full(u.size, rate))
    cal = calibrate(base, base, q, u, np.arange(u.size) + n, n + u.size, np.ones(n + u.size) * (np.arange(n + u.size) < n),
                    np.zeros(n + u.size), successor_prior=0.3, same_quantile_mean=0.1, weight=5.0, iterations=60)
    assert cal.successor_prior == pytest.approx(rho_true, abs=0.06)
    assert cal.same_quantile_mean == pytest.approx(mean_true, rel=0.35)
    # With the learned values the posterior ranks: the person's own later visit is the best candidate.
    best = {}
    for k in np.argsort(-cal.succ):
        best.setdefault(int(u[k]), k)
    truth_is_best = np.mean([abs(dt[k] - 30.0) < 15 and q[k] < 0.1 for k in best.values()])
    assert truth_is_best > 0.6


def test_on_seeded_worlds_the_posterior_drops_the_strangers_that_rival_confidence_shows():
    shown_rivals, shown_post, wrong_high, wrong_caught = [], [], 0, 0
    for seed in range(4):
        world = make_world(seed=seed, n_ids=60, emb_dim=32, noise=0.5, fragment_p=0.0, span_s=600)
        tr = TransferModel(TRANSFER_S, 0.3, LearnedPrior(enabled=False))
        neg = impossible_pairs(world)
        rivals, _ = trusted_links(world, tr, neg, Trust(min_negatives=5, confidence_model="rivals", min_confidence=0.6))
        # One stranger short of the sample the posterior needs: the rival confidence is shown.
        cold, _ = trusted_links(world, tr, neg, Trust(min_negatives=5, posterior_min_negatives=len(neg) + 1))
        assert all(l.confidence == l.rivals_say for l in cold)
        post, _ = trusted_links(world, tr, neg, Trust(min_negatives=5, posterior_min_negatives=len(neg)))
        shown = {l.key for l in post if l.kind == "cross" and l.confidence >= Trust().min_confidence}
        for l in post:
            if l.kind == "cross":
                assert 0.0 <= l.confidence <= 1.0 and 0.0 <= l.rivals_say <= 1.0
                if l.key in shown:
                    shown_post.append(person(l.tracklet_a) == person(l.tracklet_b))
        for l in rivals:
            if l.kind == "cross" and l.confidence >= 0.6:
                right = person(l.tracklet_a) == person(l.tracklet_b)
                shown_rivals.append(right)
                if not right:
                    wrong_high += 1
                    wrong_caught += l.key not in shown
    assert wrong_high >= 10, "the seeded worlds must hold wrong links that rival confidence shows"
    assert wrong_caught >= 0.7 * wrong_high           # measured: 17 of 21
    right_rivals, right_post = sum(shown_rivals), sum(shown_post)
    assert len(shown_post) - right_post <= 0.7 * (len(shown_rivals) - right_rivals)   # wrong shown: 13 against 21
    assert right_post >= 0.95 * right_rivals                                            # right shown: 275 against 276


def test_posterior_settings_are_validated():
    for bad, field in (({"successor_prior": 1.0}, "successor_prior"), ({"confidence_model": "vibes"}, "confidence_model"),
                       ({"same_quantile_mean": 0.0}, "same_quantile_mean"), ({"calibration_weight": -1}, "calibration_weight")):
        with pytest.raises(ConfigError, match=field):
            config_from_dict({"network": {"cameras": [{"id": "cam1"}]}, "associator": {"association": {"trust": bad}}})
