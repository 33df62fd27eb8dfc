"""Multi-camera IDF1: one global id mapping over all cameras, scored through py-motmetrics.

Guards against: per-camera scoring passing for a network that splits every person into one
identity per camera (each camera alone looks perfect), frame ids of different cameras
colliding in the concatenated sequence, and the ground-truth frame of a tracklet time drifting
from the one :mod:`gt_match` uses. The tiny hand-built world has its expected values worked
out in the comments; the rendered world checks the same properties on real ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tastr_stream.datasets.synthetic import GtBox, SyntheticWorld
from tastr_stream.errors import EvalError
from tastr_stream.eval import multi_camera_idf1
from tastr_stream.sim import render_world
from tastr_stream.wire.records import Tracklet

FPS = 10
BOX_P = (0.0, 0.0, 10.0, 20.0)
BOX_Q = (50.0, 0.0, 60.0, 20.0)
GT_ONLY = dict(cameras=3, people=8, distractors=2, minutes=0.5, resolution=(320, 180), seed=5,
               path_range_m=(12.0, 30.0), workers=1, video=False, progress=False)


@dataclass
class HandWorld:
    """The part of ``SyntheticWorld`` the metric reads: rows are (camera, pid, frame, box, visibility)."""

    rows: list
    fps: int = FPS

    @property
    def camera_ids(self) -> list[str]:
        return ["cam1", "cam2"]

    def gt_frames(self, camera_id: str) -> dict[int, list[GtBox]]:
        out: dict[int, list[GtBox]] = {}
        for cam, pid, frame, box, vis in self.rows:
            if cam == camera_id:
                out.setdefault(frame, []).append(GtBox(pid, np.array(box, np.float32), np.zeros((17, 3)), vis))
        return out


def _tracklet(tid: str, cam: str, frames, box, fps: int = FPS) -> Tracklet:
    times = (np.asarray(frames, np.float64) - 1) / fps
    boxes = np.tile(np.asarray(box, np.float32), (len(times), 1))
    return Tracklet(tid, cam, 0, float(times[0]), float(times[-1]), times, boxes)


def _runs(frames: list[int]) -> list[list[int]]:
    """Split sorted frame numbers into runs of consecutive frames."""
    runs = [[frames[0]]]
    for f in frames[1:]:
        if f == runs[-1][-1] + 1:
            runs[-1].append(f)
        else:
            runs.append([f])
    return runs


# p1 walks cam1 (frames 1-10) then cam2 (21-25); p2 is in cam2 (1-10): 25 ground-truth detections.
HAND = HandWorld([("cam1", 1, f, BOX_P, 1.0) for f in range(1, 11)]
                 + [("cam2", 1, f, BOX_P, 1.0) for f in range(21, 26)]
                 + [("cam2", 2, f, BOX_Q, 1.0) for f in range(1, 11)])
HAND_TRACKLETS = [_tracklet("t1", "cam1", range(1, 11), BOX_P), _tracklet("t2", "cam2", range(21, 26), BOX_P),
                  _tracklet("t3", "cam2", range(1, 11), BOX_Q)]


def test_true_identities_score_one():
    s = multi_camera_idf1(HAND, HAND_TRACKLETS, {"t1": "a", "t2": "a", "t3": "b"})
    assert (s.idf1, s.idp, s.idr) == (1.0, 1.0, 1.0)
    assert (s.num_gt_detections, s.num_predicted_detections, s.num_gt_ids, s.num_identities) == (25, 25, 2, 2)
    assert s.per_camera_idf1 == {"cam1": 1.0, "cam2": 1.0}


def test_merging_two_people_costs_the_smaller_one():
    # One identity X over all 25 predictions; X -> p1 explains 15 of them: IDF1 = 2*15 / (25 + 25).
    s = multi_camera_idf1(HAND, HAND_TRACKLETS, {"t1": 7, "t2": 7, "t3": 7})
    assert s.idf1 == pytest.approx(0.6) and s.idp == pytest.approx(0.6) and s.idr == pytest.approx(0.6)
    # In cam2 alone X covers p1 (5) and p2 (10): 2*10 / (15 + 15).
    assert s.per_camera_idf1["cam1"] == 1.0 and s.per_camera_idf1["cam2"] == pytest.approx(2 / 3)


def test_splitting_a_person_across_cameras_costs_though_each_camera_is_perfect():
    # p1 -> the cam1 identity (10), p2 -> its own (10); the 5 cam2 boxes of p1 go unexplained: 2*20 / 50.
    s = multi_camera_idf1(HAND, HAND_TRACKLETS, {"t1": "a", "t2": "c", "t3": "b"})
    assert s.idf1 == pytest.approx(0.8) and s.idp == pytest.approx(0.8) and s.idr == pytest.approx(0.8)
    assert s.per_camera_idf1 == {"cam1": 1.0, "cam2": 1.0}
    # A tracklet without an identity is an identity of its own: the same split.
    s2 = multi_camera_idf1(HAND, HAND_TRACKLETS, {"t1": "a", "t3": "b"})
    assert s2.idf1 == pytest.approx(0.8) and s2.num_identities == 3


def test_missing_camera_lowers_recall_not_precision():
    s = multi_camera_idf1(HAND, HAND_TRACKLETS[:1], {"t1": "a"})
    assert s.idp == 1.0 and s.idr == pytest.approx(10 / 25) and s.idf1 == pytest.approx(2 * 10 / 35)
    assert s.per_camera_idf1 == {"cam1": 1.0, "cam2": 0.0}


def test_an_identity_in_two_places_at_once_keeps_one_box_per_frame():
    # p3 stands next to p1 in cam1 frames 1-6 and both tracklets get identity A. A's box per frame
    # is the one of its longest tracklet (p1's); p3's 6 boxes match nobody: 2*10 / (16 + 16).
    world = HandWorld(HAND.rows[:10] + [("cam1", 3, f, BOX_Q, 1.0) for f in range(1, 7)])
    tracklets = [HAND_TRACKLETS[0], _tracklet("t4", "cam1", range(1, 7), BOX_Q)]
    s = multi_camera_idf1(world, tracklets, {"t1": "A", "t4": "A"})
    assert s.num_predicted_detections == 16 and s.idf1 == pytest.approx(0.625)
    assert s.idp == pytest.approx(10 / 16) and s.idr == pytest.approx(10 / 16)


def test_hidden_people_are_ignored_either_way():
    # p4 is barely visible: found or not, it changes nothing; a box on nobody is a false positive.
    world = HandWorld(HAND.rows + [("cam1", 4, f, BOX_Q, 0.2) for f in range(1, 11)])
    found = HAND_TRACKLETS + [_tracklet("t5", "cam1", range(1, 11), BOX_Q)]
    ids = {"t1": "a", "t2": "a", "t3": "b", "t5": "d"}
    for tracklets in (HAND_TRACKLETS, found):
        s = multi_camera_idf1(world, tracklets, ids)
        assert (s.idf1, s.num_gt_detections, s.num_predicted_detections) == (1.0, 25, 25)
    ghost = HAND_TRACKLETS + [_tracklet("t6", "cam1", range(1, 11), (100.0, 100.0, 110.0, 120.0))]
    s = multi_camera_idf1(world, ghost, {**ids, "t6": "e"})
    assert s.idr == 1.0 and s.idp == pytest.approx(25 / 35)


def test_unknown_camera_is_refused():
    with pytest.raises(EvalError, match="cam9"):
        multi_camera_idf1(HAND, [_tracklet("x", "cam9", [1], BOX_P)], {})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = render_world(tmp_path_factory.mktemp("mtmc") / "world", **GT_ONLY)
    for cam in ("cam1", "cam2", "cam3"):
        (root / "videos" / f"{cam}.mp4").touch()   # ground truth only: SyntheticWorld.open wants the files
    return SyntheticWorld.open(root)


def _gt_tracklets(world) -> tuple[list[Tracklet], dict[str, int], dict[tuple[int, str], int]]:
    """One tracklet per run of consecutive frames of a person in a camera, labelled with its pid;
    also the number of visible (scored) detections per (pid, camera)."""
    tracklets, pids, visible = [], {}, {}
    for cam in world.camera_ids:
        by_pid: dict[int, list[tuple[int, GtBox]]] = {}
        for frame, gts in sorted(world.gt_frames(cam).items()):
            for g in gts:
                by_pid.setdefault(g.pid, []).append((frame, g))
                visible[g.pid, cam] = visible.get((g.pid, cam), 0) + (g.visibility >= 0.5)
        for pid, rows in by_pid.items():
            boxes = {f: g.box_xyxy for f, g in rows}
            for k, run in enumerate(_runs([f for f, _ in rows])):
                times = np.array([world.frame_time_s(f) for f in run])
                tid = f"{cam}:{pid}:{k}"
                tracklets.append(Tracklet(tid, cam, pid, float(times[0]), float(times[-1]), times,
                                          np.stack([boxes[f] for f in run])))
                pids[tid] = pid
    return tracklets, pids, visible


def test_rendered_world_true_ids_split_ids_and_a_missing_camera(world):
    tracklets, pids, visible = _gt_tracklets(world)
    num_gt = sum(visible.values())
    assert len({pid for pid, _ in visible}) >= 4 and len({cam for _, cam in visible}) == 3
    perfect = multi_camera_idf1(world, tracklets, pids)
    assert (perfect.idf1, perfect.idp, perfect.idr) == (1.0, 1.0, 1.0) and perfect.num_gt_detections == num_gt
    assert all(v == 1.0 for v in perfect.per_camera_idf1.values())

    # One identity per (person, camera): each person keeps only their best camera.
    split = multi_camera_idf1(world, tracklets, {t.tracklet_id: f"{t.camera_id}/{pids[t.tracklet_id]}"
                                                 for t in tracklets})
    best = sum(max(n for (p, _), n in visible.items() if p == pid) for pid in {p for p, _ in visible})
    assert best < num_gt and split.idf1 == pytest.approx(best / num_gt)
    assert all(v == 1.0 for v in split.per_camera_idf1.values())

    kept = [t for t in tracklets if t.camera_id != "cam2"]
    missing = multi_camera_idf1(world, kept, pids)
    lost = sum(n for (_, cam), n in visible.items() if cam == "cam2")
    assert missing.idp == 1.0 and missing.idr == pytest.approx((num_gt - lost) / num_gt) and lost > 0
