"""The user-facing linker: learned thresholds, learned transfer times, visits, links and their
explanations, on seeded data with known truth.

Guards against the demo failures of issue 10: links accepted with no right answer in the window
(reciprocal NN always pairs two lone tracklets), a fixed re-link threshold that never fires on
features of another scale, a prior built on configured path lengths that are off, and wrong
chains merging identities.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tastr_stream.associate.live_linker import LiveLinker
from tastr_stream.associate.negatives import NegativeDistances, impossible_pairs
from tastr_stream.associate.records import AssociationError, TrackletMeta
from tastr_stream.associate.transfer import TransferModel
from tastr_stream.associate.trusted import TrustedLink, relink_fragments, trusted_links
from tastr_stream.config.associator import LearnedPrior, Trust

from .world import TRANSFER_S, make_world, person


def transfer(cfg: LearnedPrior = LearnedPrior(), scale: float = 1.0) -> TransferModel:
    return TransferModel({k: v * scale for k, v in TRANSFER_S.items()}, 0.7, cfg)


def correct(link: TrustedLink) -> bool:
    return person(link.tracklet_a) == person(link.tracklet_b)


def test_negative_distances_give_quantiles_and_stranger_shares():
    neg = NegativeDistances([4.0, 1.0, 3.0, 2.0])
    assert neg.quantile(0.0) == 1.0 and neg.quantile(1.0) == 4.0
    assert list(neg.share_closer(np.array([0.5, 2.0, 10.0]))) == [0.0, 0.5, 1.0]
    with pytest.raises(AssociationError, match="quantile"):
        neg.quantile(1.5)


def test_share_bound_needs_a_sample_large_enough_to_vouch_for_it():
    neg = NegativeDistances(np.linspace(1.0, 10.0, 100))
    assert neg.share_closer(0.5) == 0.0
    assert neg.share_closer_bound(0.5, 0.9) == pytest.approx(1 - 0.1 ** (1 / 100))   # none of 100: <= 2.3 %
    big = NegativeDistances(np.linspace(1.0, 10.0, 1000))
    assert big.share_closer_bound(0.5, 0.9) < 0.0025 < neg.share_closer_bound(0.5, 0.9)
    d = np.array([2.0, 5.0, 9.0])
    assert np.all(big.share_closer_bound(d) >= big.share_closer(d))
    assert NegativeDistances().share_closer_bound(0.5) == 1.0
    rng = np.random.default_rng(1)
    for sample in (NegativeDistances(rng.uniform(1, 10, n)) for n in (50, 300, 2000)):
        d = rng.uniform(0.5, 3.0, 500)                  # the one threshold decides as the bound does
        assert np.array_equal(d < sample.bounded_quantile(0.01), sample.share_closer_bound(d) <= 0.01)
    with pytest.raises(AssociationError, match="confidence"):
        neg.share_closer_bound(0.5, 1.0)


def _out_and_back(share: float, side: bool, gap_s: float = 3.0) -> list[TrackletMeta]:
    """Someone's track ends (at the right side of a 640 px picture, or mid-picture) and a track
    begins there ``gap_s`` later whose feature is as far off as the closest ``share`` of the
    strangers of ``NegativeDistances(np.linspace(1, 10, n))``."""
    x0 = 600.0 if side else 300.0
    box = (x0, 100.0, x0 + 40.0, 200.0)
    f = np.zeros(16, dtype=np.float32)
    g = f.copy()
    g[0] = 1.0 + share * 9.0
    edge = TrackletMeta("cam1:0:0", "cam1", -100.0, -99.0, f + 50.0, first_box_xyxy=(0.0, 0, 40, 100),
                        last_box_xyxy=(600.0, 0, 640, 100))     # someone else, long before: the picture is 640 px
    return [edge, TrackletMeta("cam1:a:0", "cam1", 10.0, 15.0, f, first_box_xyxy=box, last_box_xyxy=box),
            TrackletMeta("cam1:b:0", "cam1", 15.0 + gap_s, 20.0 + gap_s, g, first_box_xyxy=box, last_box_xyxy=box)]


def test_someone_walking_in_where_another_walked_out_is_not_relinked():
    """bench_quality: 7 of 9 wrong re-links joined a person walking out by one side of the picture
    to a stranger walking in there seconds later (3 % of strangers looked as alike)."""
    many, few = (NegativeDistances(np.linspace(1.0, 10.0, n)) for n in (1000, 50))

    def relinked(share, side, neg):
        return {(l.tracklet_a, l.tracklet_b) for l in relink_fragments(_out_and_back(share, side), neg, Trust())}

    assert relinked(0.03, side=False, neg=many) == {("cam1:a:0", "cam1:b:0")}   # a lost track, picked up again
    assert relinked(0.03, side=True, neg=many) == set()                          # out, and a stranger in
    assert relinked(0.002, side=True, neg=many) == {("cam1:a:0", "cam1:b:0")}   # out and back in: the same person
    assert relinked(0.0, side=True, neg=few) == set()      # 50 strangers cannot show that < 1 % look this close


def test_someone_walking_in_at_a_side_does_not_continue_a_track_lost_mid_picture():
    """bench_quality: a track lost in the middle of the picture was re-linked to a stranger who
    walked in by the side 5 s later, 250 px away (3 % of strangers looked as alike): it joined two
    chains of five tracklets each. Someone who comes in by a side came from outside the view."""
    neg = NegativeDistances(np.linspace(1.0, 10.0, 1000))
    lost, came_in = _out_and_back(0.03, side=False)[1:]
    entering = (600.0, 100.0, 640.0, 200.0)                      # first box at the right side
    in_by_side = dataclasses.replace(came_in, first_box_xyxy=entering)
    edge = _out_and_back(0.03, side=False)[0]
    assert {l.tracklet_b for l in relink_fragments([edge, lost, came_in], neg, Trust())} == {"cam1:b:0"}
    assert relink_fragments([edge, lost, in_by_side], neg, Trust()) == []
    # ... unless the track was lost where they came in and they look closer than all but 1 % of strangers.
    near_side = dataclasses.replace(lost, last_box_xyxy=(585.0, 100.0, 620.0, 200.0))
    close = dataclasses.replace(in_by_side, feature=lost.feature + np.eye(16, dtype=np.float32)[0] * 1.02)
    assert {l.tracklet_b for l in relink_fragments([edge, near_side, close], neg, Trust())} == {"cam1:b:0"}


def test_a_final_cross_link_keeps_its_tracklets_the_ends_of_their_visits():
    """bench_quality: a fragment re-linked after its visit's cross link was final gave that
    tracklet a second successor (and its visit a second cross link into the same tracklet)."""
    box = (300.0, 100.0, 340.0, 200.0)
    f = np.zeros(16, dtype=np.float32)
    ts = [TrackletMeta("cam1:a:0", "cam1", 0.0, 5.0, f, first_box_xyxy=(600.0, 100, 640, 200), last_box_xyxy=box),
          TrackletMeta("cam1:a:1", "cam1", 6.0, 10.0, f + 0.01, first_box_xyxy=box, last_box_xyxy=box),
          TrackletMeta("cam2:a:0", "cam2", 45.0, 50.0, f + 0.02)]
    neg = NegativeDistances(np.linspace(1.0, 10.0, 1000))
    cross = TrustedLink("cam1:a:0", "cam2:a:0", "cam1", "cam2", "cross", 0.02, 1.0, 40.0, 40.0, 28.0,
                        "configured", 0.9, 0)
    links, visits = trusted_links(ts, transfer(), neg, Trust())
    assert {l.key for l in links} == {("cam1:a:0", "cam1:a:1"), ("cam1:a:1", "cam2:a:0")}   # decided afresh
    links, visits = trusted_links(ts, transfer(), neg, Trust(), fixed=[cross])
    assert [(l.tracklet_a, l.tracklet_b) for l in links] == [("cam1:a:0", "cam2:a:0")]
    assert sorted(v.members for v in visits) == [("cam1:a:0",), ("cam1:a:1",), ("cam2:a:0",)]


def test_impossible_pairs_are_the_tracklets_seen_at_the_same_time():
    f = np.eye(3, dtype=np.float32)
    ts = [TrackletMeta("a", "c1", 0, 10, f[0]), TrackletMeta("b", "c2", 5, 15, f[1]),   # overlap
          TrackletMeta("c", "c1", 20, 30, f[2])]                                         # alone in time
    neg = impossible_pairs(ts)
    assert len(neg) == 1 and neg.quantile(0.5) == pytest.approx(np.sqrt(2.0))


def test_thresholds_follow_the_feature_scale():
    """The same world with features x100 links the same pairs: nothing is a constant distance."""
    world = make_world(seed=3, n_ids=20, fragment_p=0.5)
    scaled = [dataclasses.replace(m, feature=m.feature * 100.0) for m in world]
    a, _ = trusted_links(world, transfer(), impossible_pairs(world), Trust())
    b, _ = trusted_links(scaled, transfer(), impossible_pairs(scaled), Trust())
    assert {l.key for l in a} == {l.key for l in b}
    assert any(l.kind == "relink" for l in a), "fragments of one visit must be re-linked at any scale"


def test_links_are_mostly_right_and_each_visit_has_one_successor():
    world = make_world(seed=11, n_ids=30, emb_dim=32, fragment_p=0.3)
    links, visits = trusted_links(world, transfer(), impossible_pairs(world), Trust(min_negatives=5))
    cross = [l for l in links if l.kind == "cross" and l.confidence >= Trust().min_confidence]   # what users see
    assert len(cross) >= 10
    assert sum(map(correct, cross)) / len(cross) >= 0.9
    relinks = [l for l in links if l.kind == "relink"]
    assert relinks and all(map(correct, relinks))
    visit_of = {t: k for k, v in enumerate(visits) for t in v.members}
    outs = [visit_of[l.tracklet_a] for l in cross]
    ins = [visit_of[l.tracklet_b] for l in cross]
    assert len(outs) == len(set(outs)) and len(ins) == len(set(ins))


def test_no_link_when_no_right_answer_exists():
    """Two strangers alone in the window: reciprocal NN would pair them, the absolute test must not."""
    world = make_world(seed=5, n_ids=25)
    rng = np.random.default_rng(0)
    far = [TrackletMeta("cam1:x:0", "cam1", 10_000.0, 10_005.0, rng.standard_normal(16) * 3),
           TrackletMeta("cam2:y:0", "cam2", 10_045.0, 10_050.0, rng.standard_normal(16) * 3)]
    links, _ = trusted_links(world + far, transfer(), impossible_pairs(world), Trust())
    assert not [l for l in links if {"cam1:x:0", "cam2:y:0"} & {l.tracklet_a, l.tracklet_b}]


def test_every_link_explains_itself():
    world = make_world(seed=11, n_ids=30, emb_dim=32)
    links, _ = trusted_links(world, transfer(), impossible_pairs(world), Trust(min_negatives=5))
    link = next(l for l in links if l.kind == "cross")
    why = link.explain()
    assert {"feature_distance", "r", "joint_distance", "dt_s", "transfer_mean_s", "transfer_std_s", "prior",
            "confidence", "rivals"} <= why.keys()
    assert why["prior"] == "configured" and 0.0 < why["confidence"] <= 1.0
    assert why["joint_distance"] == pytest.approx(link.feature_distance / link.r, rel=1e-3)
    assert TrustedLink.from_explain(why) == dataclasses.replace(
        link, **{k: why[k] for k in ("feature_distance", "r", "dt_s", "transfer_mean_s", "transfer_std_s",
                                    "confidence", "route", "rival_confidence")})


def test_transfer_model_learns_site_scale_then_each_pair_robustly():
    cfg = LearnedPrior(min_count=5, site_min_count=5)
    tm = transfer(cfg)
    assert tm.pair("cam1", "cam2").source == "configured"
    assert tm.pair("cam1", "cam2").std_s == pytest.approx(0.7 * 40.0)
    for dt in (52.0, 48.0, 50.0, 51.0, 49.0):            # cam1-cam2 configured 40 s, truly ~50 s
        tm.observe("cam2", "cam1", dt)
    p12 = tm.pair("cam1", "cam2")
    assert p12.source == "learned" and p12.mean_s == pytest.approx(50.0)
    # The crowd floor (15 % of the mean) blended with the configured width (0.7 x mean) as 5 links.
    spread = np.sqrt((5 * (0.15 * 50.0) ** 2 + 5 * (0.7 * 50.0) ** 2) / 10)
    assert p12.std_s == pytest.approx(spread) and p12.late_std_s == pytest.approx(2 * spread)
    for dt in (50.0,) * 95:                                # a hundred links: the measurement dominates
        tm.observe("cam1", "cam2", dt)
    assert tm.pair("cam1", "cam2").std_s < 0.3 * tm.pair("cam1", "cam2").mean_s
    p34 = tm.pair("cam3", "cam4")                         # no links of its own: the site's scale (x1.25)
    assert p34.source == "site" and p34.mean_s == pytest.approx(30.0 * 1.25)
    tm.observe("cam1", "cam2", 400.0)                      # one wrong link does not move a median
    assert tm.pair("cam1", "cam2").mean_s == pytest.approx(50.0, abs=1.0)
    assert tm.pair("cam3", "cam4").mean_s == pytest.approx(30.0 * 1.25)
    copy = transfer(cfg)
    copy.load_json(tm.to_json())
    assert copy.pairs() == tm.pairs()


def test_learned_prior_recovers_from_configured_times_that_are_off():
    """Configured times 30 % short: once learned, links follow the true times again."""
    world = make_world(seed=21, n_ids=40, span_s=600.0, noise=0.1)
    negatives = impossible_pairs(world)
    cfg = Trust(min_negatives=5)
    tm = transfer(scale=0.7)
    first, _ = trusted_links(world, tm, negatives, cfg)
    for l in first:
        if l.kind == "cross":
            tm.observe(l.camera_a, l.camera_b, l.dt_s)
    learned = tm.pair("cam1", "cam2")
    assert learned.source in ("site", "learned")
    assert learned.mean_s == pytest.approx(40.0, rel=0.15)   # the truth, not the configured 28 s


def test_live_linker_shows_links_once_context_is_complete_and_then_final():
    world = sorted(make_world(seed=11, n_ids=30, emb_dim=32, fragment_p=0.3), key=lambda m: m.t_end_s)
    ll = LiveLinker(transfer(), Trust(min_negatives=5))
    shown_at = {}
    for m in world:
        ll.add(m)
        upd = ll.update(m.t_end_s)
        for l in upd.shown:
            shown_at.setdefault(l.key, m.t_end_s)
            assert l.kind == "relink" or m.t_end_s >= ll.metas[l.tracklet_a].t_end_s + l.transfer_mean_s \
                + 2.4 * l.transfer_late_s, "a cross link is shown only once every rival could have arrived"
    end = world[-1].t_end_s + 10_000
    upd = ll.update(end)
    links = ll.links()
    assert links and all(ll.is_final(l.key) for l in links)
    cross = [l for l in links if l.kind == "cross"]
    assert sum(map(correct, cross)) / len(cross) >= 0.9
    assert ll.retracted_total <= max(1, 0.05 * ll.shown_total)
    ids = ll.identities()
    for l in links:
        assert ids[l.tracklet_a] == ids[l.tracklet_b]


def test_identities_are_chains_that_never_hold_one_person_twice_at_once():
    """Cannot-link: two tracklets seen at the same time are two people, so no identity may hold
    both; identities are chains of visits in time (one successor, one predecessor per tracklet),
    which is what keeps it so, with look-alikes (twins) and fragments about."""
    world = sorted(make_world(seed=7, n_ids=40, emb_dim=32, fragment_p=0.4, twin_p=0.1, span_s=400.0),
                   key=lambda m: m.t_end_s)
    ll = LiveLinker(transfer(), Trust(min_negatives=5))
    for m in world:
        ll.add(m)
        ll.update(m.t_end_s)
    ll.update(world[-1].t_end_s + 10_000)
    links = ll.links()
    assert len([l for l in links if l.kind == "cross"]) >= 10 and any(l.kind == "relink" for l in links)
    assert len({l.tracklet_a for l in links}) == len(links) == len({l.tracklet_b for l in links})
    members: dict[int, list[TrackletMeta]] = {}
    for tid, ident in ll.identities().items():
        members.setdefault(ident, []).append(ll.metas[tid])
    for group in members.values():
        group.sort(key=lambda m: m.t_start_s)
        assert all(a.t_end_s <= b.t_start_s for a, b in zip(group, group[1:])), [m.tracklet_id for m in group]


def test_a_route_without_links_yet_still_learns_its_first_ones():
    """bench_quality: cam1-cam4, a route people take, had learned no link by the time cam1's
    busiest route had 12; its factor (1/3) kept every link on it under the confidence needed to
    learn from, so it never would (lookup rank-1 with the learned prior 0.85 -> 0.80)."""
    tm = transfer(LearnedPrior(route_min_links=6))
    for _ in range(20):
        tm.observe("cam1", "cam2", 40.0)                  # a busy route, learned
    assert tm.route_factor("cam1", "cam3") == pytest.approx(1 / 5)
    rng = np.random.default_rng(4)
    people = []
    for k in range(12):                                    # everyone walks cam1 -> cam3 (80 s)
        f = 10.0 * rng.standard_normal(16)
        people += [TrackletMeta(f"cam1:p{k}:0", "cam1", 20.0 * k, 20.0 * k + 25.0, f + rng.standard_normal(16) * 0.1),
                   TrackletMeta(f"cam3:p{k}:1", "cam3", 20.0 * k + 105.0, 20.0 * k + 130.0,
                                f + rng.standard_normal(16) * 0.1)]
    ll = LiveLinker(tm, Trust(min_negatives=5))
    for m in sorted(people, key=lambda m: m.t_end_s):
        ll.add(m)
        ll.update(m.t_end_s)
    for now in np.arange(people[-1].t_end_s, 1000.0, 5.0):     # the clock runs on
        ll.update(float(now))
    assert tm.pairs()[("cam1", "cam3")].samples >= 6
    assert tm.route_factor("cam1", "cam3") == 1.0


def test_candidates_rank_by_joint_distance_and_name_the_truth_first():
    world = sorted(make_world(seed=11, n_ids=30, emb_dim=32), key=lambda m: m.t_end_s)
    ll = LiveLinker(transfer(), Trust(min_negatives=5))
    for m in world:
        ll.add(m)
    q = next(m for m in world if m.tracklet_id.endswith(":v10"))      # a second visit: has a predecessor
    rows = ll.candidates(q.tracklet_id, k=50)
    joints = [r["joint_distance"] for r in rows if r["joint_distance"] is not None]
    assert joints == sorted(joints)
    assert person(rows[0]["tracklet_ids"][0]) == person(q.tracklet_id)
    assert {"feature_distance", "dt_s", "r", "transfer_mean_s", "prior", "confidence", "appearance_rank"} <= rows[0].keys()
    with pytest.raises(AssociationError, match="not in the live window"):
        ll.candidates("nope")


def test_zones_learn_which_side_people_use_towards_each_camera():
    from tastr_stream.associate.zones import ZoneModel
    from tastr_stream.track.similarity import side_of
    from tastr_stream.config.associator import LearnedZones

    assert side_of((0.0, 0, 30, 90), 640.0, 0.03) == "left"
    assert side_of((600.0, 0, 640, 90), 640.0, 0.03) == "right"
    assert side_of((300.0, 0, 330, 90), 640.0, 0.03) is None
    zones = ZoneModel(LearnedZones(min_count=3))
    assert zones.factor("cam1", "left", "cam2", "left") == 1.0            # nothing learned: no opinion
    for _ in range(4):
        zones.observe("cam1", "right", "cam2", "left")                   # cam1 -> cam2: out right, in left
    assert zones.factor("cam1", "right", "cam2", "left") == 1.0
    assert zones.factor("cam1", "left", "cam2", "left") == pytest.approx(1 / 5)
    assert zones.factor("cam2", "left", "cam1", "right") == 1.0           # the way back uses the same sides
    assert zones.factor("cam1", None, "cam2", None) == 1.0                # a lost track says nothing
    copy = ZoneModel(LearnedZones(min_count=3))
    copy.load_json(zones.to_json())
    assert copy.pairs() == zones.pairs()


def test_route_without_links_next_to_busy_ones_is_unlikely():
    tm = transfer(LearnedPrior(route_min_links=6))
    assert tm.route_factor("cam1", "cam4") == 1.0                          # nothing learned yet
    for _ in range(10):
        tm.observe("cam1", "cam2", 40.0)
    assert tm.route_factor("cam1", "cam2") == 1.0
    assert tm.route_factor("cam1", "cam4") == pytest.approx(1 / 3)        # (0 + 1) / (0.2 * 10 + 1)
    assert tm.route_factor("cam3", "cam4") == 1.0                          # neither camera is busy
