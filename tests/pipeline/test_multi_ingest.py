"""Several cameras, one detector: a multi-camera ingest gives each camera exactly the tracklets a
single-camera ingest of that camera gives, while its detector runs the cameras' frames in batches.

Guards against: one camera's detections fed to another camera's tracker, frames tracked out of
order while waiting for a batch, a camera that finishes early stalling the others, and a
"batched" detector that in fact runs one frame at a time. Counts only, never times.
"""

from __future__ import annotations

import numpy as np
import pytest

from tastr_stream.config.ingest import DetectConfig, IngestConfig
from tastr_stream.datasets.synthetic import SyntheticWorld
from tastr_stream.decode import DecodeWorker, FileSource
from tastr_stream.detect import make_detector
from tastr_stream.detect.batch import OneCamera
from tastr_stream.detect.factory import make_batch_detector
from tastr_stream.errors import StreamError
from tastr_stream.pipeline.ingest import IngestPipeline
from tastr_stream.pipeline.multi_ingest import Lane, MultiIngest

from .runs import embedder, run_single


FRAMES = 300   # the first 10 s of each 30 fps camera: enough people and tracklets, seconds to run


class FirstFrames:
    """A file source cut to its first ``n`` frames (the world's videos are 30 s long)."""

    def __init__(self, path, cam: str, n: int = FRAMES) -> None:
        self.inner, self.n = FileSource(path, cam), n
        self.camera_id, self.stats = cam, self.inner.stats

    def frames(self, stop=None):
        for i, frame in enumerate(self.inner.frames(stop)):
            if i == self.n:
                return
            yield frame

    def close(self) -> None:
        self.inner.close()


def config(rate_hz: float) -> IngestConfig:
    return IngestConfig(detect=DetectConfig(backend="oracle", rate_hz=rate_hz, min_rate_hz=1.0))


def single(world: SyntheticWorld, cam: str, cfg: IngestConfig) -> list:
    detector = make_detector(cfg.detect, world=world, camera_id=cam)
    return run_single(FirstFrames(world.video_path(cam), cam), cam, cfg, detector)[2]


def multi(world: SyntheticWorld, cams: list[str], cfg: IngestConfig, frames: dict[str, int] | None = None):
    """The cameras through one MultiIngest; ``frames`` cuts a camera to its first n frames."""
    background, published = embedder(), []
    shared = make_batch_detector(cfg.detect, cams, world=world)
    lanes = []
    for cam in cams:
        pipe = IngestPipeline(cam, cfg, OneCamera(shared, cam), background, published.append)
        source = FirstFrames(world.video_path(cam), cam, (frames or {}).get(cam, FRAMES))
        lanes.append(Lane(pipe, DecodeWorker(source, 8, drop_oldest=False).start()))
    ingest = MultiIngest(lanes, shared)
    try:
        ingest.run()
        ingest.finish()
    finally:
        for lane in lanes:
            lane.worker.stop()
        background.stop()
    return ingest, published


def summary(tracklets) -> list[tuple]:
    # Ids differ in their per-run session part (cam1:<session>:n): compare camera and track number.
    return sorted((t.camera_id, t.local_track_id, round(t.t_start_s, 6), round(t.t_end_s, 6), len(t.crops_jpeg))
                  for t in tracklets)


@pytest.fixture(scope="module")
def world(small_world):
    return SyntheticWorld.open(small_world)


@pytest.mark.parametrize("rate_hz", [5.0, 0.0])
def test_two_cameras_through_one_detector_give_the_single_camera_tracklets(world, rate_hz):
    cams = world.camera_ids[:2]
    cfg = config(rate_hz)
    ingest, published = multi(world, cams, cfg)
    reference = [t for cam in cams for t in single(world, cam, cfg)]
    assert reference and summary(published) == summary(reference)
    by_track = {(t.camera_id, t.local_track_id): t for t in reference}
    for t in published:
        np.testing.assert_array_equal(t.boxes_xyxy, by_track[t.camera_id, t.local_track_id].boxes_xyxy)
    stats = ingest.stats()
    every = 6 if rate_hz else 1
    per_camera = -(-FRAMES // every)
    # Files are waited for, so every round holds both cameras' due frames: batches of two.
    assert stats["frames_detected"] == 2 * per_camera
    assert stats["detector_runs"] == per_camera and stats["largest_batch"] == 2
    assert all(lane.pipeline.frames == FRAMES for lane in ingest.lanes)


def test_a_camera_that_ends_first_leaves_the_others_running(world):
    """Three cameras, one of them cut after 1 s: the rounds go on with the two left."""
    cams = world.camera_ids
    cfg = config(5.0)
    ingest, _ = multi(world, cams, cfg, dict(zip(cams, (FRAMES, FRAMES, 30))))
    assert [lane.pipeline.frames for lane in ingest.lanes] == [FRAMES, FRAMES, 30]
    assert ingest.detector.batch_sizes == {3: 5, 2: FRAMES // 6 - 5}


def test_detections_must_follow_the_schedule(world):
    cfg = config(5.0)
    cam = world.camera_ids[0]
    background = embedder()
    try:
        pipe = IngestPipeline(cam, cfg, make_detector(cfg.detect, world=world, camera_id=cam), background, lambda t: None)
        worker = DecodeWorker(FirstFrames(world.video_path(cam), cam), 8, drop_oldest=False).start()
        first, second = worker.get(5.0), worker.get(5.0)
        worker.stop()
        assert pipe.needs_detection(first)
        with pytest.raises(StreamError, match="detections missing but the schedule asked for them"):
            pipe.advance(first, None)
        assert not pipe.needs_detection(second)
        with pytest.raises(StreamError, match="detections given but the schedule did not ask"):
            pipe.advance(second, [])
    finally:
        background.stop()


def test_cameras_must_be_distinct(world):
    cfg = config(5.0)
    cam = world.camera_ids[0]
    shared = make_batch_detector(cfg.detect, [cam], world=world)
    lane = Lane(IngestPipeline(cam, cfg, OneCamera(shared, cam), None, lambda t: None),
                DecodeWorker(FirstFrames(world.video_path(cam), cam), 8, drop_oldest=False))
    with pytest.raises(StreamError, match="distinct cameras"):
        MultiIngest([lane, lane], shared)
