"""Ingest with detection on a schedule: real video file, real decode, oracle detections.

Counts, not times: how often the detector ran, how many frames were converted to BGR at all,
and that the tracklets still cover the people with crops only from detected frames.
"""

from __future__ import annotations

import numpy as np
import pytest

from tastr_stream.config.ingest import DetectConfig, IngestConfig
from tastr_stream.datasets.synthetic import SyntheticWorld
from tastr_stream.decode import FileSource
from tastr_stream.detect import make_detector

from .runs import run_single


class CountingDetector:
    def __init__(self, inner):
        self.inner, self.frames = inner, []

    def detect(self, image_bgr, *, frame_index=None):
        self.frames.append(frame_index)
        return self.inner.detect(image_bgr, frame_index=frame_index)


def run_camera(world: SyntheticWorld, cam: str, rate_hz: float, **detect):
    cfg = IngestConfig(detect=DetectConfig(**{"backend": "oracle", **detect}, rate_hz=rate_hz,
                                           min_rate_hz=min(1.0, rate_hz or 1.0)))
    detector = CountingDetector(make_detector(cfg.detect, world=world, camera_id=cam))
    pipe, converted, published = run_single(FileSource(world.video_path(cam), cam), cam, cfg, detector)
    return pipe, detector, converted, published


@pytest.fixture(scope="module")
def world(small_world):
    return SyntheticWorld.open(small_world)


def test_five_hz_detects_every_sixth_frame_and_converts_nothing_else(world):
    cam = world.camera_ids[0]
    assert world.fps == 30
    pipe, detector, converted, published = run_camera(world, cam, 5.0)
    assert pipe.frames == world.num_frames
    assert detector.frames == list(range(0, world.num_frames, 6))
    assert pipe.detected_frames == len(detector.frames) and converted == len(detector.frames)
    assert pipe.detection_rate_hz == pytest.approx(5.0, rel=0.05)
    assert published, "no tracklet at 5 Hz"
    for t in published:
        # Boxes on the frames between detections too, crops only from detected frames.
        assert len(t.frame_times_s) > len(t.crops_jpeg)
        crop_frames = np.round(t.crop_times_s * world.fps).astype(int)
        assert all(f % 6 == 0 for f in crop_frames)


def test_the_schedule_keeps_the_people_every_frame_detection_finds(world):
    cam = world.camera_ids[1]
    every = run_camera(world, cam, 0.0)
    sparse = run_camera(world, cam, 5.0)
    assert every[1].frames == list(range(world.num_frames))

    def people(published):
        gt = world.gt_frames(cam)
        found = set()
        for t in published:
            f = int(round(t.frame_times_s[len(t.frame_times_s) // 2] * world.fps))
            box = t.boxes_xyxy[len(t.frame_times_s) // 2]
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            for g in gt.get(f + 1, []):
                if g.box_xyxy[0] <= cx <= g.box_xyxy[2] and g.box_xyxy[1] <= cy <= g.box_xyxy[3]:
                    found.add(g.pid)
        return found

    assert len(people(every[3])) >= 3
    assert len(people(every[3]) - people(sparse[3])) <= 1


class WholeViewDetector:
    """A learned backend's stand-in: one person filling the middle of whatever it is shown."""

    def __init__(self):
        self.shapes = []

    def detect(self, image_bgr, *, frame_index=None):
        from tastr_stream.wire import Detection

        h, w = image_bgr.shape[:2]
        self.shapes.append((w, h))
        box = np.array([w * 0.25, h * 0.1, w * 0.75, h * 0.9], np.float32)
        kps = np.zeros((17, 3), np.float32)
        return [Detection(box, kps, 0.9)]


def test_a_learned_detector_never_makes_a_frame_convert_whole(world):
    """Fitted to 320x192: the detector's copy is scaled from the decoded planes, its boxes come
    back in the frame's own pixels, and crops convert only their rectangle, so not one frame is
    converted to a full BGR array."""
    cam = world.camera_ids[2]
    cfg = IngestConfig(detect=DetectConfig(backend="hog", input_width=320, input_height=192, rate_hz=5.0))
    detector = WholeViewDetector()
    pipe, converted, published = run_single(FileSource(world.video_path(cam), cam), cam, cfg, detector)
    assert converted == 0
    assert set(detector.shapes) == {(320, 180)} and len(detector.shapes) == len(range(0, world.num_frames, 6))
    (t,) = published
    np.testing.assert_allclose(t.boxes_xyxy[0], [160, 36, 480, 324], atol=0.5)
    assert len(t.crops_jpeg) > 1
