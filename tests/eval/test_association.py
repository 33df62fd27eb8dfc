"""Association precision / recall (pairs and global identities) against ground truth.

Guards against: a pair reported twice (or as (b, a)) inflating precision, within-camera
pairs counted as cross-camera associations, and the closed-form counts drifting from a
brute-force enumeration of pairs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tastr_stream.eval import EvalError, TrackletMeta, evaluate_clusters, evaluate_pairs

T = TrackletMeta
GT = [
    T("a1", 1, "cam1", 0, 10), T("a2", 1, "cam2", 100, 110), T("a3", 1, "cam3", 200, 210),
    T("b1", 2, "cam1", 0, 10), T("b2", 2, "cam2", 120, 130),
    T("c1", 3, "cam3", 50, 60),
    T("u1", -1, "cam2", 5, 6),
]
PRED = [("a1", "a2"), ("a2", "a1"), ("a1", "a3"), ("b1", "a2"), ("c1", "b2"), ("a1", "b1"), ("u1", "a3")]


def test_pairs_hand_made():
    m = evaluate_pairs(PRED, GT)
    assert (m.overall.num_predicted, m.overall.num_correct) == (5, 2)
    assert (m.overall.num_true, m.overall.num_true_found) == (4, 2)
    assert m.precision == pytest.approx(0.4) and m.recall == pytest.approx(0.5)
    assert m.num_same_camera_ignored == 1 and m.num_out_of_scope_ignored == 0
    per = {cp: (c.num_predicted, c.num_correct, c.num_true, c.num_true_found) for cp, c in m.per_camera_pair.items()}
    assert per == {("cam1", "cam2"): (2, 1, 2, 1), ("cam1", "cam3"): (1, 1, 1, 1), ("cam2", "cam3"): (2, 0, 1, 0)}


def test_pairs_adjacent_only():
    m = evaluate_pairs(PRED, GT, adjacent_only=True)
    # true adjacent pairs: a1-a2, a2-a3 (pid 1 walks cam1 -> cam2 -> cam3), b1-b2; a1-a3 is not adjacent
    assert m.overall.num_true == 3 and m.overall.num_true_found == 1
    assert m.precision == pytest.approx(0.4), "a non-adjacent same-person pair is still correct"
    assert m.recall == pytest.approx(1 / 3)
    assert math.isnan(m.per_camera_pair[("cam1", "cam3")].recall)


def test_adjacency_groups_fragments_into_visits():
    gt = [T("x1", 9, "cam1", 0, 10), T("x2", 9, "cam1", 20, 30), T("x3", 9, "cam2", 100, 110),
          T("x4", 9, "cam1", 200, 210), T("x5", 9, "cam3", 300, 310)]
    # visits: cam1 {x1, x2} -> cam2 {x3} -> cam1 {x4} -> cam3 {x5}
    assert evaluate_pairs([], gt, adjacent_only=True).overall.num_true == 4
    assert evaluate_pairs([], gt).overall.num_true == 7
    m = evaluate_pairs([("x1", "x3"), ("x1", "x5")], gt, adjacent_only=True)
    assert (m.overall.num_correct, m.overall.num_true_found) == (2, 1)


def test_pairs_restricted_to_camera_pairs():
    m = evaluate_pairs(PRED, GT, camera_pairs=[("cam2", "cam1")])
    assert list(m.per_camera_pair) == [("cam1", "cam2")]
    assert (m.overall.num_predicted, m.overall.num_correct, m.overall.num_true) == (2, 1, 2)
    assert m.num_out_of_scope_ignored == 3 and m.num_same_camera_ignored == 1


def test_pairs_empty_prediction_and_unknown_ids():
    m = evaluate_pairs([], GT)
    assert math.isnan(m.precision) and m.recall == 0.0
    with pytest.raises(EvalError, match="names tracklet 'zz'"):
        evaluate_pairs([("a1", "zz")], GT)
    with pytest.raises(EvalError, match="duplicate tracklet id 'a1'"):
        evaluate_pairs([], GT + [T("a1", 1, "cam1", 0, 1)])


def test_clusters_hand_made():
    assign = {"a1": "X", "a2": "X", "b1": "X", "a3": "Y", "b2": "Y"}   # u1 left out: a singleton
    c = evaluate_clusters(assign, GT)
    assert (c.num_pairs_predicted, c.num_pairs_correct, c.num_pairs_true) == (4, 1, 4)
    assert c.precision == pytest.approx(0.25) and c.recall == pytest.approx(0.25) and c.f1 == pytest.approx(0.25)
    assert (c.num_clusters, c.num_identities) == (4, 4)   # X, Y, {c1}, {u1}; pids 1, 2, 3, u1
    x = evaluate_clusters(assign, GT, cross_camera_only=True)
    assert (x.num_pairs_predicted, x.num_pairs_correct, x.num_pairs_true) == (3, 1, 4)
    perfect = evaluate_clusters({t.tracklet_id: t.pid for t in GT if t.pid >= 0}, GT)
    assert perfect.precision == 1.0 and perfect.recall == 1.0
    with pytest.raises(EvalError, match="not in the ground truth.*'q9'"):
        evaluate_clusters({"q9": 1}, GT)


def _random_world(rng, n=40):
    gt = []
    for k in range(n):
        first = int(rng.integers(0, 500))
        gt.append(T(f"t{k}", int(rng.integers(-1, 8)), f"cam{rng.integers(1, 4)}", first, first + 5))
    return gt


@pytest.mark.parametrize("seed", range(15))
def test_pairs_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    gt = _random_world(rng)
    pairs = [(gt[i].tracklet_id, gt[j].tracklet_id) for i, j in rng.integers(0, len(gt), size=(60, 2)) if i != j]
    m = evaluate_pairs(pairs, gt)
    by = {t.tracklet_id: t for t in gt}
    cross = {frozenset(p) for p in pairs if by[p[0]].camera_id != by[p[1]].camera_id}
    true = {frozenset((a.tracklet_id, b.tracklet_id)) for a, b in itertools.combinations(gt, 2)
            if a.pid >= 0 and a.pid == b.pid and a.camera_id != b.camera_id}
    correct = {p for p in cross if p in true}
    assert m.overall.num_predicted == len(cross)
    assert m.overall.num_correct == len(correct) == m.overall.num_true_found
    assert m.overall.num_true == len(true)
    assert all(by[a].pid == by[b].pid for a, b in (tuple(p) for p in correct))


@pytest.mark.parametrize("seed", range(15))
@pytest.mark.parametrize("cross_camera_only", [False, True])
def test_clusters_match_brute_force(seed, cross_camera_only):
    rng = np.random.default_rng(seed)
    gt = _random_world(rng)
    assign = {t.tracklet_id: int(rng.integers(0, 10)) for t in gt if rng.uniform() < 0.8}
    c = evaluate_clusters(assign, gt, cross_camera_only=cross_camera_only)

    def cl(t):
        return assign.get(t.tracklet_id, t.tracklet_id)

    pairs = [(a, b) for a, b in itertools.combinations(gt, 2)
             if not cross_camera_only or a.camera_id != b.camera_id]
    same_cluster = [(a, b) for a, b in pairs if cl(a) == cl(b)]
    same_pid = [(a, b) for a, b in pairs if a.pid >= 0 and a.pid == b.pid]
    assert c.num_pairs_predicted == len(same_cluster)
    assert c.num_pairs_true == len(same_pid)
    assert c.num_pairs_correct == len([p for p in same_cluster if p in same_pid])
