"""The Campus-4K protocol: who trains, who is queried, what the gallery holds.

Guards against: an identity whose second sighting falls after the split frame leaking into
the test set (the split is on the *earliest* appearance), one-camera people counted as test
identities (their queries could never be matched), and a query choice that changes with
input order so two runs of the same evaluation disagree.
"""

from __future__ import annotations

import numpy as np
import pytest

from tastr_stream.errors import DatasetError
from tastr_stream.eval import (CAMPUS4K_SPLIT_FRAME, TrackletMeta, campus4k_split, evaluate_rank,
                               split_frame_from_fraction)


def T(tid, pid, cam, first, last):
    return TrackletMeta(tid, pid, cam, first, last)


HAND = [
    T("t1a", 1, "cam1", 10, 20), T("t1b", 1, "cam2", 50, 60),              # train
    T("t2a", 2, "cam1", 90, 95), T("t2b", 2, "cam3", 120, 130),            # train: first seen at 90
    T("t3a", 3, "cam2", 100, 110), T("t3b", 3, "cam4", 200, 210), T("t3c", 3, "cam4", 300, 310),  # test
    T("t4a", 4, "cam5", 150, 160), T("t4b", 4, "cam6", 400, 410),          # test
    T("t5a", 5, "cam3", 20, 30), T("t5b", 5, "cam3", 500, 510),            # distractor (early, one camera)
    T("t6a", 6, "cam1", 300, 320),                                         # distractor
    T("u1", -1, "cam2", 5, 10),                                            # unlabelled: left out
]


def ids(ts):
    return [t.tracklet_id for t in ts]


def test_hand_made_split():
    s = campus4k_split(HAND, split_frame=100, seed=3)
    assert ids(s.train) == ["t1a", "t1b", "t2a", "t2b"]
    assert s.train_pids == {1, 2} and s.test_pids == {3, 4} and s.distractor_pids == {5, 6}
    assert sorted(t.pid for t in s.query) == [3, 4]
    expected_gallery = {"t3a", "t3b", "t3c", "t4a", "t4b", "t5a", "t5b", "t6a"} - set(ids(s.query))
    assert set(ids(s.gallery)) == expected_gallery and len(s.gallery) == 6
    assert s.split_frame == 100


def test_query_choice_is_seeded_and_order_independent():
    picks = set()
    for seed in range(30):
        a = campus4k_split(HAND, split_frame=100, seed=seed)
        shuffled = [HAND[i] for i in np.random.default_rng(seed).permutation(len(HAND))]
        b = campus4k_split(shuffled, split_frame=100, seed=seed)
        assert ids(a.query) == ids(b.query) and ids(a.gallery) == ids(b.gallery)
        picks.add(next(t.tracklet_id for t in a.query if t.pid == 3))
    assert picks == {"t3a", "t3b", "t3c"}, "every tracklet of an identity can be its query"


def test_default_split_frame_is_campus4k():
    s = campus4k_split(HAND)
    assert s.split_frame == CAMPUS4K_SPLIT_FRAME
    assert s.train_pids == {1, 2, 3, 4} and not s.query


def test_split_from_fraction():
    # frames span 5..510; half way is 257.5 -> 257: pids 3 (100) and 4 (150) now train
    assert split_frame_from_fraction(HAND, 0.5) == 257
    s = campus4k_split(HAND, split_frame=None, split_fraction=0.5)
    assert s.split_frame == 257 and s.train_pids == {1, 2, 3, 4} and not s.test_pids
    with pytest.raises(DatasetError, match="got 1.5"):
        split_frame_from_fraction(HAND, 1.5)


def test_bad_metadata_is_rejected():
    with pytest.raises(DatasetError, match="duplicate tracklet id.*t1a"):
        campus4k_split(HAND + [T("t1a", 9, "cam1", 0, 1)])
    with pytest.raises(DatasetError, match="'bad': last_frame 3 < first_frame 9"):
        T("bad", 1, "cam1", 9, 3)


@pytest.mark.parametrize("seed", range(10))
def test_every_query_is_valid_under_market_removal(seed):
    """On random worlds, each query keeps a cross-camera match, so evaluate_rank skips none."""
    rng = np.random.default_rng(seed)
    metas = []
    for k in range(200):
        first = int(rng.integers(0, 1000))
        metas.append(T(f"t{k}", int(rng.integers(-1, 80)), f"cam{rng.integers(1, 5)}", first, first + 30))
    s = campus4k_split(metas, split_frame=300, seed=seed)
    assert s.query and s.train and s.gallery, "the random world must exercise every part"
    assert not set(ids(s.query)) & set(ids(s.gallery))
    assert not {t.pid for t in s.train} & {t.pid for t in s.query + s.gallery}
    d = rng.uniform(size=(len(s.query), len(s.gallery)))
    r = evaluate_rank(d, np.array([t.pid for t in s.query]), np.array([t.pid for t in s.gallery]),
                      np.array([t.camera_id for t in s.query]), np.array([t.camera_id for t in s.gallery]))
    assert r.num_valid_queries == len(s.query) and r.num_skipped_queries == 0
