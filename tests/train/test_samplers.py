"""TSCCC and TCCPC on hand-made tracklet sets: constraints hold in every batch, impossibility is explained."""

import itertools

import numpy as np
import pytest

from tastr_stream.errors import SamplerError
from tastr_stream.train.data import TrainTracklet
from tastr_stream.train.samplers import TCCPC, TSCCC, groups_from_pairs, max_separated, span_gap_s

IMG = np.zeros((4, 2, 3), np.uint8)


def _t(tid, cam, t0, t1, n=5):
    return TrainTracklet(tid, cam, t0, t1, [IMG] * n)


def _spread(cam, count, every_s, dur_s=5.0, n=5, offset=0.0):
    return [_t(f"{cam}:{i}", cam, offset + i * every_s, offset + i * every_s + dur_s, n) for i in range(count)]


def test_tsccc_batches_are_one_camera_and_far_apart():
    tracks = _spread("cam1", 20, 40.0) + _spread("cam2", 12, 40.0, offset=7.0) + _spread("cam2", 8, 40.0, offset=11.0)
    s = TSCCC(tracks, p=4, k=3, gap_s=30.0, seed=0)
    batches = list(s)
    assert batches
    seen = set()
    for b in batches:
        assert len(b.items) == 12 and len(b.labels) == 12
        members = sorted({ti for ti, _ in b.items})
        assert len(members) == 4
        assert len({tracks[i].camera_id for i in members}) == 1
        for i, j in itertools.combinations(members, 2):
            a, c = tracks[i], tracks[j]
            assert span_gap_s(a.t_start_s, a.t_end_s, c.t_start_s, c.t_end_s) > 30.0
        for ti, ii in b.items:
            assert 0 <= ii < tracks[ti].num_images
        # one label per tracklet, K items each
        for lab in np.unique(b.labels):
            assert len({ti for (ti, _), l in zip(b.items, b.labels) if l == lab}) == 1
            assert (b.labels == lab).sum() == 3
        seen.update(members)
    assert len(seen) >= 0.9 * len(tracks)           # no tracklet is declined for good


def test_tsccc_never_pairs_close_fragments():
    # Fragments of one walk (0.3 s apart) must never be negatives of each other.
    tracks = []
    for i in range(10):
        t0 = i * 60.0
        tracks += [_t(f"cam1:{i}a", "cam1", t0, t0 + 3), _t(f"cam1:{i}b", "cam1", t0 + 3.3, t0 + 6)]
    for seed in range(5):
        for b in TSCCC(tracks, p=5, k=2, gap_s=30.0, seed=seed):
            walks = [tracks[ti].tracklet_id[5:-1] for ti, _ in b.items[::2]]
            assert len(set(walks)) == len(walks)


def test_tsccc_is_seeded():
    tracks = _spread("cam1", 30, 35.0)
    a = [b.items for b in TSCCC(tracks, 4, 2, 30.0, seed=1)]
    b = [b.items for b in TSCCC(tracks, 4, 2, 30.0, seed=1)]
    c = [b.items for b in TSCCC(tracks, 4, 2, 30.0, seed=2)]
    assert a == b and a != c


def test_tsccc_impossible_says_why_with_numbers():
    # cam1: 6 tracklets but all within 60 s -> at most 2 pairwise > 30 s apart; cam2: 3 far apart.
    tracks = [_t(f"cam1:{i}", "cam1", i * 10.0, i * 10.0 + 2) for i in range(6)] + _spread("cam2", 3, 100.0)
    with pytest.raises(SamplerError) as err:
        TSCCC(tracks, p=4, k=2, gap_s=30.0)
    msg = str(err.value)
    assert "P=4" in msg and "T=30 s" in msg and "cam1: 2 of 6" in msg and "cam2: 3 of 3" in msg


def test_tsccc_skips_only_the_crowded_camera():
    tracks = [_t(f"cam1:{i}", "cam1", i * 1.0, i * 1.0 + 0.5) for i in range(6)] + _spread("cam2", 8, 100.0)
    s = TSCCC(tracks, p=4, k=1, gap_s=30.0)
    assert s.capacity == {"cam1": 1, "cam2": 8}
    assert all(tracks[ti].camera_id == "cam2" for b in s for ti, _ in b.items)


def test_max_separated_is_exact():
    rng = np.random.default_rng(0)
    for _ in range(30):
        spans = [(s, s + rng.uniform(0, 5)) for s in rng.uniform(0, 60, size=7)]
        best = 0
        for r in range(1, 8):
            for sub in itertools.combinations(spans, r):
                if all(span_gap_s(*a, *b) > 10 for a, b in itertools.combinations(sub, 2)):
                    best = max(best, r)
        assert max_separated(spans, 10.0) == best


def _pair_world():
    # cam1/cam2: 5 pairs; cam2/cam3: 4 pairs, one of them a chain of 3 tracklets (a connected group).
    tracks = [_t(f"cam{c}:{i}", f"cam{c}", 0, 1, n=3) for c in (1, 2, 3) for i in range(6)]
    idx = {t.tracklet_id: i for i, t in enumerate(tracks)}
    pairs = [(idx[f"cam1:{i}"], idx[f"cam2:{i}"]) for i in range(5)]
    pairs += [(idx[f"cam2:{i}"], idx[f"cam3:{i}"]) for i in range(4)] + [(idx["cam3:0"], idx["cam2:5"])]
    return tracks, idx, pairs


def test_groups_are_per_camera_pair():
    tracks, idx, pairs = _pair_world()
    groups = groups_from_pairs(pairs, [t.camera_id for t in tracks])
    assert set(groups) == {("cam1", "cam2"), ("cam2", "cam3")}
    assert len(groups[("cam1", "cam2")]) == 5
    g23 = groups[("cam2", "cam3")]
    assert len(g23) == 4
    assert sorted([idx["cam2:0"], idx["cam3:0"], idx["cam2:5"]]) in g23
    with pytest.raises(SamplerError, match="within one camera"):
        groups_from_pairs([(idx["cam1:0"], idx["cam1:1"])], [t.camera_id for t in tracks])


def test_tccpc_batches_come_from_one_camera_pair_with_both_cameras_per_label():
    tracks, idx, pairs = _pair_world()
    s = TCCPC(tracks, pairs, p=4, k=4, seed=0)
    batches = list(s)
    assert len(batches) == len(s) == 2 + 1                 # 5 groups -> 2 batches, 4 groups -> 1
    pairs_seen = set()
    for b in batches:
        assert len(b.items) == 16
        cams = {tracks[ti].camera_id for ti, _ in b.items}
        assert len(cams) == 2
        pairs_seen.add(tuple(sorted(cams)))
        for lab in np.unique(b.labels):
            members = [ti for (ti, _), l in zip(b.items, b.labels) if l == lab]
            assert len(members) == 4
            assert len({tracks[ti].camera_id for ti in members}) == 2
    assert pairs_seen == {("cam1", "cam2"), ("cam2", "cam3")}


def test_tccpc_impossible_says_why_with_numbers():
    tracks, idx, pairs = _pair_world()
    with pytest.raises(SamplerError) as err:
        TCCPC(tracks, pairs, p=6, k=2)
    msg = str(err.value)
    assert "P=6" in msg and "cam1-cam2: 5" in msg and "cam2-cam3: 4" in msg and "10 pairs" in msg
    with pytest.raises(SamplerError, match="no pairs"):
        TCCPC(tracks, [], p=2, k=2)
