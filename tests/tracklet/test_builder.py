"""Tracklet builder: crop cadence, the 60-crop cap sampled evenly, closing rules."""

from __future__ import annotations

import cv2
import numpy as np

from tastr_stream.config.ingest import TrackletConfig
from tastr_stream.tracklet.builder import TrackletBuilder, even_subsample
from tastr_stream.wire import Detection, TrackObservation


def obs(track_id: int, f: int, x: float = 100.0) -> TrackObservation:
    box = np.array([x, 50, x + 40, 150], dtype=np.float32)
    kp = np.zeros((17, 3), dtype=np.float32)
    return TrackObservation("cam2", track_id, f, f / 30.0, Detection(box, kp, 0.9))


def frame(f: int) -> np.ndarray:
    img = np.zeros((240, 320, 3), np.uint8)
    img[:, :, 1] = f % 256  # encode the frame number in the green channel
    return img


def test_even_subsample():
    assert even_subsample(5, 60).tolist() == [0, 1, 2, 3, 4]
    idx = even_subsample(600, 60)
    assert len(idx) == 60 and idx[0] == 0 and idx[-1] == 599
    assert np.ptp(np.diff(idx)) <= 1


def test_short_track_gets_every_third_frame_and_closes_on_end():
    b = TrackletBuilder("cam2", TrackletConfig(min_frames=5), session="s1")
    out = []
    for f in range(30):
        out += b.add(frame(f), [obs(7, f)], [])
    out += b.add(frame(30), [], [7])
    assert len(out) == 1
    t = out[0]
    assert t.tracklet_id == "cam2:s1:7" and t.local_track_id == 7
    assert t.t_start_s == 0 and np.isclose(t.t_end_s, 29 / 30)
    assert len(t.crops_jpeg) == 10
    np.testing.assert_allclose(t.crop_times_s, np.arange(0, 30, 3) / 30)
    img = cv2.imdecode(np.frombuffer(t.crops_jpeg[2], np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (256, 128, 3)
    assert abs(int(img[..., 1].mean()) - 6) <= 2, "crop 2 must come from frame 6"


def test_long_track_caps_crops_and_spreads_them_evenly():
    cfg = TrackletConfig(max_crops=60, max_duration_s=3600, min_frames=5)
    b = TrackletBuilder("cam2", cfg, session="s")
    for f in range(3000):  # 100 s -> 1000 candidates
        b.add(frame(f), [obs(1, f)], [])
    (t,) = b.flush()
    assert len(t.crops_jpeg) == 60
    assert t.crop_times_s[0] < 2.0 and t.crop_times_s[-1] > 95.0
    gaps = np.diff(t.crop_times_s)
    assert gaps.max() < 3 * np.median(gaps)


def test_max_duration_splits_into_segments():
    b = TrackletBuilder("cam2", TrackletConfig(max_duration_s=2.0, min_frames=5), session="s")
    out = []
    for f in range(150):  # 5 s
        out += b.add(frame(f), [obs(3, f)], [])
    out += b.flush()
    assert [t.tracklet_id for t in out] == ["cam2:s:3", "cam2:s:3.1", "cam2:s:3.2"]
    assert all(t.duration_s < 2.0 for t in out)


def test_too_short_tracks_are_dropped_and_counted():
    b = TrackletBuilder("cam2", TrackletConfig(min_frames=10), session="s")
    for f in range(4):
        b.add(frame(f), [obs(1, f)], [])
    assert b.add(frame(4), [], [1]) == [] and b.dropped_short == 1


def test_crop_at_frame_edge_is_clipped():
    b = TrackletBuilder("cam2", TrackletConfig(min_frames=1), session="s")
    b.add(frame(0), [obs(1, 0, x=300.0)], [])
    (t,) = b.flush()
    assert len(t.crops_jpeg) == 1


def test_crops_only_from_confident_detections_and_trailing_predictions_trimmed():
    """Detection every 6th frame: boxes on every frame, crops only where a detection backs them,
    and the tracklet ends at the last sighting, not at the motion model's last guess."""
    b = TrackletBuilder("cam2", TrackletConfig(min_frames=5), session="s1")
    for f in range(40):
        evidence = "detected" if f % 6 == 0 else "predicted"
        o = obs(3, f)
        o = TrackObservation(o.camera_id, o.track_id, o.frame_index, o.t_s, o.detection, evidence)
        b.add(frame(f) if evidence == "detected" else None, [o], [])
    weak = TrackObservation("cam2", 3, 40, 40 / 30, obs(3, 40).detection, "low-score")
    b.add(frame(40), [weak], [])
    for f in range(41, 45):
        o = obs(3, f)
        b.add(None, [TrackObservation(o.camera_id, 3, f, f / 30, o.detection, "predicted")], [])
    (t,) = b.add(None, [], [3])
    np.testing.assert_allclose(t.crop_times_s, np.arange(0, 40, 6) / 30)   # never the weak one at 40
    assert t.t_end_s == 40 / 30 and len(t.frame_times_s) == 41             # 41..44 were guesses
    greens = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR)[:, :, 1].mean() for j in t.crops_jpeg]
    assert np.allclose(greens, np.arange(0, 40, 6), atol=2)


def test_a_detected_observation_without_its_frame_is_an_error():
    b = TrackletBuilder("cam2", TrackletConfig(), session="s1")
    try:
        b.add(None, [obs(1, 0)], [])
    except ValueError as e:
        assert "needs the frame" in str(e)
    else:
        raise AssertionError("no error")
