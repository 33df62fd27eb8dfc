"""CMC / mAP must match the Re-ID literature (Market-1501 / torchreid semantics) exactly.

Guards against: a fast path that drifts from the reference (wrong rank after removing
same-camera entries, AP averaged over the wrong count), silently counting queries that have
no valid match, and distance metrics that disagree with scipy.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from tastr_stream.eval import EvalError, distance_matrix, evaluate_rank, evaluate_rank_reference
from tastr_stream.eval import reid as reid_module

BOTH = pytest.mark.parametrize("fn", [evaluate_rank_reference, evaluate_rank], ids=["reference", "fast"])

# 3 queries x 5 gallery, worked by hand:
#   q0 (pid 1, cam 0): order g4 g1 g2 g3 g0; g4 is pid 1 in cam 0 -> removed.
#       kept ranking g1 g2 g3 g0 -> hits 0 1 0 1: first hit at rank 2, AP = (1/2 + 2/4) / 2 = 0.5
#   q1 (pid 2, cam 0): order g1 g2 g0 g3 g4 -> hits 1 0 0 0 0: rank 1, AP = 1
#   q2 (pid 3, cam 1): its only match g3 is also cam 1 -> removed -> query skipped
#   CMC over 2 valid queries: rank-1 = 1/2, rank-2.. = 1; mAP = 0.75; max_rank capped at 5.
HAND_D = np.array([
    [0.5, 0.1, 0.2, 0.3, 0.05],
    [0.3, 0.05, 0.1, 0.4, 0.5],
    [0.9, 0.8, 0.7, 0.1, 0.6],
])
HAND = dict(q_pids=np.array([1, 2, 3]), g_pids=np.array([1, 2, 1, 3, 1]),
            q_camids=np.array([0, 0, 1]), g_camids=np.array([1, 1, 2, 1, 0]))


@BOTH
def test_hand_made_case(fn):
    r = fn(HAND_D, **HAND)
    assert r.num_valid_queries == 2 and r.num_skipped_queries == 1
    np.testing.assert_allclose(r.cmc, [0.5, 1.0, 1.0, 1.0, 1.0])
    assert r.mAP == pytest.approx(0.75)
    assert r.rank(1) == pytest.approx(0.5) and r.rank(5) == pytest.approx(1.0)
    with pytest.raises(EvalError, match="rank k=6"):
        r.rank(6)


@BOTH
def test_multiple_matches_ap(fn):
    """One query, matches at kept ranks 1, 3 and 6: AP = (1/1 + 2/3 + 3/6) / 3."""
    g_pids = np.array([7, 8, 7, 9, 9, 7, 7])
    g_cams = np.array([1, 1, 2, 1, 1, 0, 1])       # g5 (pid 7, cam 0) is removed
    d = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0]])
    r = fn(d, np.array([7]), g_pids, np.array([0]), g_cams, max_rank=3)
    assert r.mAP == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)
    np.testing.assert_allclose(r.cmc, [1.0, 1.0, 1.0])


@BOTH
def test_perfect_and_worst_rankings(fn):
    rng = np.random.default_rng(0)
    q_pids = np.arange(10)
    g_pids = np.repeat(np.arange(10), 3)
    d = rng.uniform(1.0, 2.0, size=(10, 30))
    d[g_pids[None, :] == q_pids[:, None]] = 0.1          # every true match first
    r = fn(d, q_pids, g_pids, np.zeros(10), np.ones(30))
    assert r.rank(1) == 1.0 and r.mAP == pytest.approx(1.0)
    d[g_pids[None, :] == q_pids[:, None]] = 9.0          # every true match last (ranks 28..30)
    r = fn(d, q_pids, g_pids, np.zeros(10), np.ones(30))
    assert r.rank(20) == 0.0
    assert r.mAP == pytest.approx((1 / 28 + 2 / 29 + 3 / 30) / 3)


@BOTH
def test_no_valid_query_is_an_error(fn):
    with pytest.raises(EvalError, match="none of the 1 queries"):
        fn(np.zeros((1, 2)), [1], [1, 2], [0], [0, 0])


@BOTH
def test_shape_mismatch_names_shapes(fn):
    with pytest.raises(EvalError, match=r"g_pids must have shape \(3,\).*got \(2,\)"):
        fn(np.zeros((2, 3)), [1, 2], [1, 2], [0, 0], [0, 0, 0])


def _random_case(rng, num_q, num_g, num_pids, num_cams, integer_distances):
    d = rng.integers(0, 4, size=(num_q, num_g)).astype(float) if integer_distances \
        else rng.normal(size=(num_q, num_g))
    return (d, rng.integers(0, num_pids, num_q), rng.integers(0, num_pids, num_g),
            rng.integers(0, num_cams, num_q), rng.integers(0, num_cams, num_g))


def _assert_same(args, max_rank=20):
    try:
        ref = evaluate_rank_reference(*args, max_rank=max_rank)
    except EvalError:
        with pytest.raises(EvalError):
            evaluate_rank(*args, max_rank=max_rank)
        return
    fast = evaluate_rank(*args, max_rank=max_rank)
    assert fast.num_valid_queries == ref.num_valid_queries
    assert fast.num_skipped_queries == ref.num_skipped_queries
    np.testing.assert_allclose(fast.cmc, ref.cmc, rtol=0, atol=1e-12)
    assert fast.mAP == pytest.approx(ref.mAP, abs=1e-12)


@pytest.mark.parametrize("seed", range(40))
def test_fast_equals_reference_on_seeded_data(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    monkeypatch.setattr(reid_module, "QUERY_CHUNK", int(rng.integers(1, 40)))  # exercise chunking
    args = _random_case(rng, int(rng.integers(1, 60)), int(rng.integers(1, 80)),
                        int(rng.integers(1, 15)), int(rng.integers(1, 5)), integer_distances=seed % 2 == 0)
    _assert_same(args, max_rank=int(rng.integers(1, 25)))


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), num_q=st.integers(1, 8), num_g=st.integers(1, 12),
       num_pids=st.integers(1, 5), num_cams=st.integers(1, 3), ties=st.booleans())
def test_fast_equals_reference_hypothesis(seed, num_q, num_g, num_pids, num_cams, ties):
    rng = np.random.default_rng(seed)
    _assert_same(_random_case(rng, num_q, num_g, num_pids, num_cams, ties))


@pytest.mark.parametrize("metric,scipy_metric", [("euclidean", "euclidean"),
                                                 ("sqeuclidean", "sqeuclidean"),
                                                 ("cosine", "cosine")])
def test_distance_matrix_matches_scipy(metric, scipy_metric):
    rng = np.random.default_rng(1)
    q, g = rng.normal(size=(7, 16)), rng.normal(size=(11, 16))
    np.testing.assert_allclose(distance_matrix(q, g, metric), cdist(q, g, scipy_metric), atol=1e-9)
    d32 = distance_matrix(q.astype(np.float32), g.astype(np.float32), metric)
    assert d32.dtype == np.float32
    np.testing.assert_allclose(d32, cdist(q, g, scipy_metric), atol=1e-4)


def test_distance_matrix_identical_rows_are_zero_not_nan():
    x = np.random.default_rng(2).normal(size=(5, 32)).astype(np.float32) * 100
    d = distance_matrix(x, x)
    assert np.isfinite(d).all() and np.allclose(np.diag(d), 0.0, atol=0.05)


def test_distance_matrix_rejects_bad_input():
    with pytest.raises(EvalError, match=r"\(3, 4\) and \(2, 5\)"):
        distance_matrix(np.zeros((3, 4)), np.zeros((2, 5)))
    with pytest.raises(EvalError, match="zero feature rows: query rows \\[1\\]"):
        distance_matrix(np.array([[1.0, 0.0], [0.0, 0.0]]), np.ones((2, 2)), "cosine")
    with pytest.raises(EvalError, match="unknown metric 'manhattan'"):
        distance_matrix(np.ones((1, 2)), np.ones((1, 2)), "manhattan")
