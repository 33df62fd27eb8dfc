"""STR prior R(dt, ci, cj): the formula variants, floors, dt definitions and the horizon."""

import math

import numpy as np
import pytest

from tastr_stream.associate import AssociationError, TransferPrior, joint_distance, str_r, tracklet_dt_s
from tastr_stream.config import Network, StrPrior


def test_default_is_the_gaussian_with_sigma_the_standard_deviation():
    """Guards the demo failure where Eq. 3 as printed (/ 2 sigma) made the prior sqrt(sigma) s wide."""
    t, dt = 100.0, 110.0
    sigma = 0.7 * t
    assert str_r(dt, t, StrPrior()) == pytest.approx(math.exp(-((dt - t) ** 2) / (2 * sigma * sigma)), rel=1e-15)


def test_paper_exponent_divides_by_two_sigma():
    cfg = StrPrior(exponent="paper")               # Eq. 3 as printed, kept as an ablation
    t, dt = 100.0, 110.0
    expected = math.exp(-((dt - t) ** 2) / (2 * 0.7 * t))
    assert str_r(dt, t, cfg) == pytest.approx(expected, rel=1e-15)


def test_gaussian_exponent_divides_by_two_sigma_squared_with_floors():
    cfg = StrPrior(exponent="gaussian", sigma_floor_s=5.0, r_floor=1e-4)
    t = 4.0                                        # 0.7 * 4 = 2.8 s < floor 5 s
    assert str_r(9.0, t, cfg) == pytest.approx(math.exp(-25 / 50), rel=1e-15)
    assert str_r(1000.0, t, cfg) == 1e-4           # floored


def test_disabled_prior_is_one_and_dt_modes():
    assert np.all(str_r(np.array([-50.0, 0.0, 1e6]), 10.0, StrPrior(enabled=False)) == 1.0)
    # i = [0, 10], j = [5, 20]: they overlap, the gap is negative
    assert tracklet_dt_s(0.0, 10.0, 5.0, 20.0, "gap") == -5.0
    assert tracklet_dt_s(0.0, 10.0, 30.0, 40.0, "gap") == 20.0
    assert tracklet_dt_s(30.0, 40.0, 0.0, 10.0, "gap") == 20.0   # symmetric
    assert tracklet_dt_s(30.0, 40.0, 0.0, 10.0, "start") == 30.0
    with pytest.raises(AssociationError, match="bogus"):
        tracklet_dt_s(0, 1, 2, 3, "bogus")


def test_r_values_do_not_depend_on_how_arrays_are_batched():
    """The incremental path computes R for subsets; it must be bit-equal to the batch matrix."""
    rng = np.random.default_rng(0)
    dt = rng.uniform(-200, 400, 1001)
    for cfg in (StrPrior(), StrPrior(exponent="gaussian", r_floor=1e-4)):
        whole = str_r(dt, 90.0, cfg)
        single = np.array([str_r(dt[i:i + 1], 90.0, cfg)[0] for i in range(dt.size)])
        assert np.array_equal(whole, single)


def test_joint_distance_is_infinite_where_r_underflows():
    out = joint_distance(np.array([1.0, 0.0, 2.0]), np.array([0.5, 0.0, 1e-320]))
    assert out[0] == 2.0 and np.isinf(out[1]) and np.isinf(out[2])
    assert str_r(1e5, 10.0, StrPrior()) == 0.0    # R underflows far from t_ij with no floor


def test_transfer_prior_from_network_and_horizon():
    net = Network(cameras=[{"id": "c1"}, {"id": "c2"}, {"id": "c3"}],
                  paths=[{"a": "c1", "b": "c2", "length_m": 125.0}, {"a": "c1", "b": "c3", "transfer_s": 30.0},
                         {"a": "c2", "b": "c3", "transfer_s": 20.0}])
    prior = TransferPrior.from_network(net, StrPrior())
    assert prior.t_ij_s("c2", "c1") == 100.0 and prior.cameras == ["c1", "c2", "c3"]
    r = prior.r_between(0.0, 10.0, np.array([110.0, 500.0]), np.array([120.0, 510.0]), "c1", "c2")
    assert r[0] == 1.0 and r[1] < 1e-6                                          # 5.6 sigma off
    assert prior.horizon_s(900.0) == pytest.approx(100 + 3 * 70.0)            # Gaussian: 3 sigma
    g = TransferPrior.from_network(net, StrPrior(exponent="gaussian"))
    assert g.horizon_s(900.0) == pytest.approx(100 + 3 * 70.0)
    assert TransferPrior.from_network(net, StrPrior(enabled=False)).horizon_s(900.0) == 900.0
    with pytest.raises(AssociationError, match="c9"):
        prior.t_ij_s("c1", "c9")
    with pytest.raises(AssociationError, match="-3"):
        TransferPrior({("a", "b"): -3.0}, StrPrior())
