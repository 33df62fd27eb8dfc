"""The faiss-pruned index returns exactly what the brute-force numpy reference returns."""

import numpy as np
import pytest

from tastr_stream.associate import AssociationError, BruteForceIndex, CameraIndex, TransferPrior
from tastr_stream.config import StrPrior

VARIANTS = [("euclidean", StrPrior()),
            ("sqeuclidean", StrPrior(exponent="gaussian", sigma_floor_s=5.0, r_floor=1e-4)),
            ("euclidean", StrPrior(enabled=False)),
            ("euclidean", StrPrior(dt="start", lambda_=0.2))]


def _fill(seed, metric, proj_dim, n=400, dim=48, dup=False):
    rng = np.random.default_rng(seed)
    fast, ref = CameraIndex(dim, metric, proj_dim=proj_dim, seed=seed), BruteForceIndex(dim, metric)
    feats = rng.standard_normal((n, dim)).astype(np.float32)
    if dup:                                   # exact duplicates at equal times -> ties
        feats[1::2] = feats[::2]
    ts = np.round(rng.uniform(0, 600, n), 0)
    if dup:
        ts[1::2] = ts[::2]
    for i in range(n):
        for idx in (fast, ref):
            idx.add(f"b:{i:04d}", ts[i], ts[i] + 5.0, feats[i])
    for i in rng.choice(n, n // 5, replace=False):       # departures leave free slots
        fast.remove(f"b:{i:04d}")
        ref.remove(f"b:{i:04d}")
    for i in range(n, n + 30):                              # ... that new arrivals reuse
        f = rng.standard_normal(dim).astype(np.float32)
        for idx in (fast, ref):
            idx.add(f"b:{i:04d}", 300.0, 305.0, f)
    return rng, fast, ref, feats


@pytest.mark.parametrize("metric,cfg", VARIANTS)
@pytest.mark.parametrize("dup,proj_dim", [(False, 8), (True, 8), (False, 40), (True, 48)])
def test_top1_and_reverse_queries_equal_brute_force(metric, cfg, dup, proj_dim):
    """proj_dim near emb_dim makes the lower bounds tight, so any over-pruning loses winners."""
    rng, fast, ref, feats = _fill(7, metric, proj_dim, dup=dup)
    prior = TransferPrior({("a", "b"): 60.0}, cfg)
    assert fast.capacity == ref.capacity
    for q in range(60):
        feat = feats[q] if q % 3 == 0 else rng.standard_normal(feats.shape[1]).astype(np.float32)
        t0 = float(np.round(rng.uniform(0, 600), 0))
        ts, te, _ = ref.times()
        r = prior.r_between(t0, t0 + 4.0, ts, te, "a", "b")
        assert fast.top1_joint(feat, r) == ref.top1_joint(feat, r)
        limit = np.where(rng.random(ref.capacity) < 0.1, np.inf, rng.uniform(0, 30, ref.capacity))
        got = sorted(fast.within_joint(feat, r, limit), key=lambda m: m.tracklet_id)
        want = sorted(ref.within_joint(feat, r, limit), key=lambda m: m.tracklet_id)
        assert got == want


def test_ties_go_to_the_smallest_id():
    idx = CameraIndex(4)
    for tid in ("b:3", "b:1", "b:2"):
        idx.add(tid, 10.0, 12.0, np.ones(4, np.float32))
    r = np.ones(idx.capacity)
    assert idx.top1_joint(np.zeros(4, np.float32), r).tracklet_id == "b:1"


def test_empty_index_and_impossible_times_give_no_match():
    idx = CameraIndex(4)
    assert idx.top1_joint(np.zeros(4, np.float32), np.ones(idx.capacity)) is None
    idx.add("b:1", 0.0, 1.0, np.zeros(4, np.float32))
    assert idx.top1_joint(np.zeros(4, np.float32), np.zeros(idx.capacity)) is None


def test_membership_errors_name_the_tracklet():
    idx = CameraIndex(4)
    idx.add("b:1", 0.0, 1.0, np.zeros(4, np.float32))
    with pytest.raises(AssociationError, match="b:1"):
        idx.add("b:1", 0.0, 1.0, np.zeros(4, np.float32))
    with pytest.raises(AssociationError, match="b:9"):
        idx.remove("b:9")
    with pytest.raises(AssociationError, match=r"\(3,\)"):
        idx.add("b:2", 0.0, 1.0, np.zeros(3, np.float32))
