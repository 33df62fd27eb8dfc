"""The batch reference: reciprocal NN, STR, k-means, ablation switches, re-linking, identities."""

import numpy as np
import pytest

from tastr_stream.associate import (AssociationError, TrackletMeta, TransferPrior, batch_associate, nn_ccta,
                                    reciprocal_nn, relink_within_camera)
from tastr_stream.config import Association, StrPrior

from .world import make_prior, make_world, person


def tm(tid, cam, ts, te, feat):
    return TrackletMeta(tid, cam, ts, te, np.asarray(feat, np.float32))


PRIOR = TransferPrior({("A", "B"): 50.0}, StrPrior())


def test_reciprocal_nn_with_ties_to_the_smallest_index():
    joint = np.array([[1.0, 1.0, 3.0],
                      [2.0, 0.5, 4.0],
                      [np.inf, np.inf, np.inf]])
    # row 0 ties between columns 0 and 1 -> column 0; column 0's nearest is row 0 -> candidate
    # row 1 -> column 1, column 1 -> row 1; row 2 has no finite joint distance -> none
    assert reciprocal_nn(joint) == [(0, 0), (1, 1)]


def test_str_decides_between_two_lookalikes_by_time():
    a = tm("A:1", "A", 0.0, 10.0, [1.0, 0.0])
    near_in_time = tm("B:1", "B", 60.0, 70.0, [1.0, 0.3])     # gap 50 s = t_AB
    near_in_feat = tm("B:2", "B", 400.0, 410.0, [1.0, 0.1])   # closer features, wrong time
    cfg = Association(kmeans_k=1)
    assert [p.key for p in nn_ccta([a, near_in_time, near_in_feat], PRIOR, cfg)] == [("A:1", "B:1")]
    no_str = Association(kmeans_k=1, str_prior=StrPrior(enabled=False))
    flat = TransferPrior({("A", "B"): 50.0}, no_str.str_prior)
    assert [p.key for p in nn_ccta([a, near_in_time, near_in_feat], flat, no_str)] == [("A:1", "B:2")]
    with pytest.raises(AssociationError, match="enabled=False"):
        nn_ccta([a, near_in_time], PRIOR, no_str)


def test_kmeans_drops_the_far_candidates_and_k1_keeps_all():
    tracks = []
    for k, dist in enumerate([0.1, 0.11, 0.12, 0.9, 1.0]):   # five reciprocal pairs, two far apart
        t0 = 1000.0 * k
        tracks += [tm(f"A:{k}", "A", t0, t0 + 5, [10.0 * k, 0.0]), tm(f"B:{k}", "B", t0 + 55, t0 + 60, [10.0 * k, dist])]
    kept = nn_ccta(tracks, PRIOR, Association())
    assert [p.key for p in kept] == [("A:0", "B:0"), ("A:1", "B:1"), ("A:2", "B:2")]
    assert kept[0].feature_distance == pytest.approx(0.1, rel=1e-6) and kept[0].r == 1.0
    assert len(nn_ccta(tracks, PRIOR, Association(kmeans_k=1))) == 5


def test_one_reciprocal_nn_only_mode_differs_from_full_method_on_a_world():
    world = make_world(3, n_ids=25, noise=0.6)
    full = nn_ccta(world, make_prior(), Association())
    plain_cfg = Association(kmeans_k=1, str_prior=StrPrior(enabled=False))
    plain = nn_ccta(world, make_prior(plain_cfg.str_prior), plain_cfg)
    precision = lambda pairs: sum(person(p.tracklet_a) == person(p.tracklet_b) for p in pairs) / len(pairs)
    assert len(plain) > len(full) > 0
    assert precision(full) > precision(plain)


def test_relinks_join_fragments_of_one_track():
    x = [1.0, 0.0]
    tracks = [tm("A:1", "A", 0.0, 10.0, x), tm("A:2", "A", 12.0, 20.0, [1.0, 0.05]),
              tm("A:3", "A", 13.0, 30.0, [1.0, 0.2]),        # worse successor of A:1
              tm("A:4", "A", 50.0, 60.0, x)]                # gap 30 s > relink_max_gap_s
    links = relink_within_camera(tracks, Association())
    assert [(r.key, r.gap_s) for r in links] == [(("A:1", "A:2"), 2.0)]
    assert relink_within_camera(tracks, Association(relink_within_camera=False)) == []


def test_batch_identities_group_links_and_relinks():
    world = make_world(5, n_ids=15, noise=0.1)
    res = batch_associate(world, make_prior(), Association())
    assert set(res.identities) == {t.tracklet_id for t in world}
    for p in list(res.pairs) + list(res.relinks):
        assert res.identities[p.key[0]] == res.identities[p.key[1]]
    # with low noise, one identity never spans two people
    by_ident = {}
    for tid, ident in res.identities.items():
        by_ident.setdefault(ident, set()).add(person(tid))
    assert all(len(people) == 1 for people in by_ident.values())


def test_duplicate_ids_are_refused():
    t = tm("A:1", "A", 0, 1, [0.0])
    with pytest.raises(AssociationError, match="A:1"):
        nn_ccta([t, t], PRIOR, Association())
