"""The incremental associator equals the batch reference for any arrival order.

Guards against the production failure the design names: a live associator whose answer
drifts from the batch algorithm because an arrival or a departure was not propagated to every
nearest-neighbour relation, k-means or identity it can change.
"""

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tastr_stream.associate import (AssociationError, BruteForceIndex, IncrementalAssociator, TrackletMeta,
                                    batch_associate, same_partition)
from tastr_stream.config import Association, StrPrior, Window

from .world import make_prior, make_world

OPEN_WINDOW = Window(window_s=100_000, allowed_lateness_s=86_400)
CONFIGS = [Association(),
           Association(distance="sqeuclidean", kmeans_on="joint",
                       str_prior=StrPrior(exponent="gaussian", sigma_floor_s=5.0, r_floor=1e-4)),
           Association(kmeans_k=1, str_prior=StrPrior(enabled=False), relink_max_distance=0.3),
           Association(str_prior=StrPrior(dt="start"), relink_within_camera=False)]


def assert_equals_batch(inc: IncrementalAssociator, cfg: Association) -> None:
    batch = batch_associate(inc.tracklets(), inc.prior, cfg)
    assert inc.links() == list(batch.pairs)
    assert inc.relinks() == list(batch.relinks)
    assert same_partition(inc.identities(), batch.identities)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world_seed=st.integers(0, 10_000), order_seed=st.integers(0, 10_000), cfg_i=st.integers(0, 3),
       n_ids=st.integers(2, 14), twin_p=st.sampled_from([0.0, 0.15]), quantise=st.sampled_from([0.0, 0.25]),
       brute=st.booleans())
def test_any_arrival_order_ends_equal_to_batch(world_seed, order_seed, cfg_i, n_ids, twin_p, quantise, brute):
    cfg = CONFIGS[cfg_i]
    world = make_world(world_seed, n_ids=n_ids, twin_p=twin_p, quantise=quantise)
    random.Random(order_seed).shuffle(world)
    factory = {"index_factory": BruteForceIndex} if brute else {}
    inc = IncrementalAssociator(make_prior(cfg.str_prior), cfg, OPEN_WINDOW, **factory)
    links: dict = {}
    for meta in world:
        ch = inc.add(meta)
        assert ch.accepted
        for p in ch.removed_links:
            assert links.pop(p.key) == p
        for p in ch.added_links:
            links[p.key] = p
    assert sorted(links.values()) == inc.links()       # the change stream replays to the state
    assert_equals_batch(inc, cfg)


@pytest.mark.parametrize("cfg", CONFIGS[:2])
def test_window_eviction_keeps_equality_with_batch_on_what_remains(cfg):
    world = sorted(make_world(11, n_ids=40, span_s=900.0), key=lambda m: m.t_end_s)
    rng = random.Random(3)
    for i in range(len(world) - 1):                   # mild disorder within the lateness
        if rng.random() < 0.3 and world[i + 1].t_end_s - world[i].t_end_s < 20:
            world[i], world[i + 1] = world[i + 1], world[i]
    window = Window(window_s=200.0, allowed_lateness_s=60.0, max_tracklets=60)
    inc = IncrementalAssociator(make_prior(cfg.str_prior), cfg, window)
    evicted = 0
    for k, meta in enumerate(world):
        ch = inc.add(meta)
        evicted += len(ch.evicted)
        assert set(ch.evicted).isdisjoint({m.tracklet_id for m in inc.tracklets()})
        assert len(inc.tracklets()) <= 60
        if k % 15 == 0:
            assert_equals_batch(inc, cfg)
    assert evicted > 20
    assert_equals_batch(inc, cfg)
    assert set(inc.identities()) == {m.tracklet_id for m in inc.tracklets()}


def test_late_and_mixed_version_arrivals():
    world = sorted(make_world(2, n_ids=6), key=lambda m: m.t_end_s)
    inc = IncrementalAssociator(make_prior(), Association(), Window(window_s=500.0, allowed_lateness_s=10.0))
    for meta in world:
        inc.add(meta)
    newest = world[-1].t_end_s
    late = TrackletMeta("cam1:late", "cam1", newest - 30.0, newest - 20.0, world[0].feature, 0)
    ch = inc.add(late)
    assert not ch.accepted and "late" in ch.reason and "cam1:late" not in inc.identities()
    other = TrackletMeta("cam1:v1", "cam1", newest, newest + 1.0, world[0].feature, 1)
    with pytest.raises(AssociationError, match="model_version 1"):
        inc.add(other)
    with pytest.raises(AssociationError, match="cam9"):
        inc.add(TrackletMeta("cam9:x", "cam9", newest, newest + 1.0, world[0].feature, 0))


def test_reembed_swaps_all_features_atomically():
    world = make_world(4, n_ids=10)
    cfg = Association()
    inc = IncrementalAssociator(make_prior(), cfg, OPEN_WINDOW)
    for meta in world:
        inc.add(meta)
    before = inc.links()
    rng = np.random.default_rng(0)
    new = {m.tracklet_id: m.feature + 0.05 * rng.standard_normal(m.feature.shape) for m in world}
    with pytest.raises(AssociationError, match="missing"):
        inc.reembed(dict(list(new.items())[1:]), 1)
    assert inc.links() == before and inc.model_version == 0          # nothing changed
    ch = inc.reembed(new, 1)
    assert inc.model_version == 1
    assert all(m.model_version == 1 for m in inc.tracklets())
    assert_equals_batch(inc, cfg)
    assert {p.key for p in ch.added_links} == {p.key for p in inc.links()} - {p.key for p in before}
    with pytest.raises(AssociationError, match="model_version 0"):
        inc.add(world[0])


def test_finalize_marks_links_once_the_horizon_has_passed():
    world = make_world(6, n_ids=8, noise=0.05, fragment_p=0.5)
    window = Window(window_s=100_000, allowed_lateness_s=30.0)
    inc = IncrementalAssociator(make_prior(), Association(), window)
    for meta in sorted(world, key=lambda m: m.t_end_s):
        inc.add(meta)
    horizon = inc.prior.horizon_s(window.window_s)
    ends = {m.tracklet_id: m.t_end_s for m in world}
    link = inc.links()[0]
    last_end = max(ends[t] for t in link.key)
    early = inc.finalize(last_end + horizon + 29.0)
    assert link not in early.pairs and not inc.is_final(link.key)
    done = inc.finalize(last_end + horizon + 30.0)
    assert link in done.pairs and inc.is_final(link.key)
    assert link not in inc.finalize(1e9).pairs                      # reported once
    everything = set(done.pairs) | set(inc.finalize(1e9).pairs)
    assert all(inc.is_final(p.key) for p in inc.links()) and everything <= set(inc.links())
    assert all(inc.is_final(r.key) for r in inc.relinks()) and inc.relinks()


def test_invalid_inputs_are_refused_before_anything_is_kept():
    inc = IncrementalAssociator(make_prior(), Association(), OPEN_WINDOW)
    with pytest.raises(AssociationError, match="cam9"):
        inc.add(TrackletMeta("cam9:x", "cam9", 0.0, 1.0, np.ones(4), 3))
    assert inc.model_version is None and inc.tracklets() == []
    with pytest.raises(AssociationError, match="NaN"):
        TrackletMeta("cam1:x", "cam1", 0.0, 1.0, np.array([1.0, np.nan]))
    with pytest.raises(AssociationError, match="5.0, 1.0"):
        TrackletMeta("cam1:x", "cam1", 5.0, 1.0, np.ones(2))
    inc.add(TrackletMeta("cam1:a", "cam1", 0.0, 1.0, np.ones(4)))
    with pytest.raises(AssociationError, match=r"\(4,\)"):
        inc.add(TrackletMeta("cam2:b", "cam2", 0.0, 1.0, np.ones(5)))
    with pytest.raises(AssociationError, match="duplicate"):
        inc.add(TrackletMeta("cam1:a", "cam1", 0.0, 1.0, np.ones(4)))
