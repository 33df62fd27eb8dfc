"""Tracker unit tests on hand-made pose sequences with known identities."""

from __future__ import annotations

import numpy as np

from tastr_stream.config.ingest import TrackConfig
from tastr_stream.track import PoseTracker
from tastr_stream.track import kalman
from tastr_stream.track.similarity import iou_matrix, oks_matrix
from tastr_stream.wire import Detection

# A standing-person template in a unit box (x right, y down), COCO order.
_TEMPLATE = np.array([
    [0.5, 0.08], [0.47, 0.06], [0.53, 0.06], [0.44, 0.07], [0.56, 0.07],
    [0.35, 0.2], [0.65, 0.2], [0.3, 0.38], [0.7, 0.38], [0.28, 0.53], [0.72, 0.53],
    [0.4, 0.55], [0.6, 0.55], [0.4, 0.77], [0.6, 0.77], [0.4, 0.98], [0.6, 0.98]])


def person(cx: float, top: float, h: float) -> Detection:
    w = 0.4 * h
    x1 = cx - w / 2
    kp = np.column_stack([x1 + _TEMPLATE[:, 0] * w, top + _TEMPLATE[:, 1] * h, np.full(17, 0.9)])
    return Detection(np.array([x1, top, x1 + w, top + h]), kp, 0.9)


def run(tracker, frames):
    obs, ended = [], []
    for f, dets in enumerate(frames):
        step = tracker.update(dets, f, f / 30)
        obs += step.observations
        ended += step.ended_track_ids
    ended += tracker.finish().ended_track_ids
    return obs, ended


def test_kalman_predict_follows_constant_velocity():
    mean, cov = kalman.initiate(kalman.xyxy_to_xyah(np.array([[0, 0, 40, 100]])))
    for step in range(1, 20):
        mean, cov = kalman.predict(mean, cov)
        z = kalman.xyxy_to_xyah(np.array([[3 * step, 0, 40 + 3 * step, 100]]))
        mean, cov = kalman.update(mean, cov, z)
    pred, _ = kalman.predict(mean, cov)
    assert abs(kalman.xyah_to_xyxy(pred[:, :4])[0, 0] - 60) < 2.0


def test_iou_and_oks_basics():
    a = np.array([[0, 0, 10, 10]])
    assert iou_matrix(a, a)[0, 0] == 1.0
    assert iou_matrix(a, np.array([[10, 10, 20, 20]]))[0, 0] == 0.0
    p = person(50, 10, 100)
    assert oks_matrix(p.keypoints[None], p.keypoints[None], p.box_xyxy[None])[0, 0] > 0.999
    far = person(300, 10, 100)
    assert oks_matrix(p.keypoints[None], far.keypoints[None], far.box_xyxy[None])[0, 0] < 0.01


def test_two_crossing_people_keep_their_ids():
    """Guards against id swaps when two walkers of different sizes cross paths."""
    frames = []
    for f in range(60):
        frames.append([person(50 + 5 * f, 40, 120), person(350 - 5 * f, 60, 90)])
    obs, ended = run(PoseTracker("cam1", TrackConfig(min_hits=3)), frames)
    by_track: dict[int, list[float]] = {}
    for o in obs:
        by_track.setdefault(o.track_id, []).append(o.detection.box_xyxy[3] - o.detection.box_xyxy[1])
    assert len(by_track) == 2
    for heights in by_track.values():
        assert np.ptp(heights) < 1e-3, "a track switched between the tall and the short person"
    assert sorted(ended) == sorted(by_track)


def test_short_occlusion_does_not_split_and_long_one_ends():
    frames = [[person(50 + 4 * f, 40, 120)] if not 20 <= f < 26 else [] for f in range(50)]
    obs, _ = run(PoseTracker("cam1", TrackConfig(max_misses=10)), frames)
    assert {o.track_id for o in obs} == {1}
    frames = [[person(50 + 4 * f, 40, 120)] if not 20 <= f < 40 else [] for f in range(60)]
    obs, ended = run(PoseTracker("cam1", TrackConfig(max_misses=10)), frames)
    assert len({o.track_id for o in obs}) == 2 and len(ended) == 2


def test_single_false_detection_never_confirmed():
    frames = [[person(50, 40, 120)] if f == 5 else [] for f in range(20)]
    obs, ended = run(PoseTracker("cam1", TrackConfig(min_hits=3)), frames)
    assert obs == [] and ended == []


def test_trackers_do_not_share_ids_state():
    a, b = PoseTracker("cam1"), PoseTracker("cam2")
    for f in range(5):
        a.update([person(50, 40, 120)], f, f / 30)
    for f in range(5):
        b.update([person(50, 40, 120)], f, f / 30)
    assert a.active_track_ids == [1] and b.active_track_ids == [1]


def weak(d: Detection, score: float = 0.2) -> Detection:
    return Detection(d.box_xyxy, d.keypoints, score)


def test_predict_between_detections_carries_tracks_and_marks_the_boxes():
    tr = PoseTracker("cam1", TrackConfig(min_hits=2))
    obs = []
    for f in range(30):
        p = person(50 + 4 * f, 40, 120)
        step = tr.update([p], f, f / 30) if f % 6 == 0 else tr.predict(f, f / 30)
        obs += step.observations
    assert {o.track_id for o in obs} == {1}
    predicted = [o for o in obs if o.evidence == "predicted"]
    detected = [o for o in obs if o.evidence == "detected"]
    assert [o.frame_index for o in detected] == [6, 12, 18, 24]       # confirmed on the 2nd detection
    assert len(predicted) == 4 * 5 and all(o.detection.score == 0.0 for o in predicted)
    # The motion model has learned the walk: the last predicted box is near the true one.
    last = max(predicted, key=lambda o: o.frame_index)
    assert abs(last.detection.box_xyxy[0] - person(50 + 4 * last.frame_index, 40, 120).box_xyxy[0]) < 12


def test_fast_walker_seen_every_sixth_frame_stays_one_track():
    """Moving 3/4 of its width between two detections (a brisk walk at 5 Hz): the IoU buffer,
    grown for the frames since the last match, still matches; without it the walker is lost."""
    def track_ids(cfg):
        tr = PoseTracker("cam1", cfg)
        ids = set()
        for f in range(90):
            p = person(50 + 5 * f, 40, 100)
            step = tr.update([p], f, f / 30) if f % 6 == 0 else tr.predict(f, f / 30)
            ids |= {o.track_id for o in step.observations}
        return ids

    assert track_ids(TrackConfig()) == {1}
    assert track_ids(TrackConfig(iou_buffer=0.0, match_threshold=0.7)) != {1}


def test_second_pass_keeps_a_track_alive_through_weak_detections_only():
    def run_with(high_score):
        tr = PoseTracker("cam1", TrackConfig(max_misses=5), high_score=high_score)
        frames = [[person(50 + 3 * f, 40, 120)] if f < 10 or f >= 30 else [weak(person(50 + 3 * f, 40, 120))]
                  for f in range(40)]
        return run(tr, frames)

    obs, _ = run_with(high_score=0.35)
    assert {o.track_id for o in obs} == {1}
    assert {o.evidence for o in obs if 10 <= o.frame_index < 30} == {"low-score"}
    obs, _ = run_with(high_score=0.95)      # everything is weak: nothing ever starts
    assert obs == []


def test_weak_detections_never_start_a_track():
    tr = PoseTracker("cam1", TrackConfig(min_hits=1), high_score=0.35)
    obs, ended = run(tr, [[weak(person(50, 40, 120))] for _ in range(10)])
    assert obs == [] and ended == []


def clipped(d: Detection, width: float = 640.0) -> Detection:
    """What a detector reports for someone partly out of the picture: the part inside it."""
    box = d.box_xyxy.copy()
    box[[0, 2]] = np.clip(box[[0, 2]], 0.0, width)
    kp = d.keypoints.copy()
    kp[:, 0] = np.clip(kp[:, 0], 0.0, width)
    return Detection(box, kp, d.score)


def edge_crossing(frames: int = 40, speed: float = 10.0):
    """A walks out by the right side of a 640 px picture while B, who looks the same to a box and
    a pose (same size and height), walks in there: A's last detection and B's first overlap."""
    out = []
    for f in range(frames):
        a, b = 470 + speed * f, 690 - speed * (f - 10)
        out.append([clipped(person(cx, 40, 100)) for cx in (a, b) if (cx <= 620 if cx == a else 625 >= cx)])
    return out


def tracks_of(cfg: TrackConfig, frames, frame_size=(640, 360)) -> dict[int, list[float]]:
    """track id -> box centre x of each of its observations."""
    tr = PoseTracker("cam1", cfg)
    out: dict[int, list[float]] = {}
    for f, dets in enumerate(frames):
        for o in tr.update(dets, f, f / 6, frame_size=frame_size).observations:
            out.setdefault(o.track_id, []).append(float(o.detection.box_xyxy[[0, 2]].mean()))
    return out


def test_someone_walking_in_where_a_track_walked_out_gets_a_track_of_their_own():
    frames = edge_crossing()
    one = tracks_of(TrackConfig(min_hits=2, max_misses=6, side_reversal=0.0), frames)
    assert len(one) == 1                                   # without the check: A's track takes B over
    split = tracks_of(TrackConfig(min_hits=2, max_misses=6), frames)
    assert len(split) == 2
    a, b = (split[k] for k in sorted(split))
    assert np.all(np.diff(a[:-2]) > 0)                     # A's track walks right ...
    assert np.all(np.diff(b) < 0) and b[-1] <= 400         # ... and B's walks left, into the picture
    assert len(tracks_of(TrackConfig(min_hits=2, max_misses=6), frames, frame_size=None)) == 1  # needs the size


def test_a_person_at_the_side_or_walking_in_by_it_keeps_one_track():
    rng = np.random.default_rng(0)
    standing = [[clipped(person(626 + rng.uniform(-2, 2), 40, 100))] for _ in range(40)]
    walking_in = [[clipped(person(660 - 10 * f, 40, 100))] for f in range(40)]
    turning = [[clipped(person(510 + 10 * f if f < 5 else 560 - 10 * (f - 5), 40, 100))] for f in range(30)]
    for frames in (standing, walking_in, turning):     # turning round clear of the side: one person
        assert len(tracks_of(TrackConfig(min_hits=2, max_misses=6), frames)) == 1
