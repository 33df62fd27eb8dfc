"""One detector for several cameras: N letterboxed frames in one ``session.run`` answer exactly
what N single calls answer, on real pedestrian video (vtest.avi) with the real YOLO11n-pose model.

Guards against: rows of a batch decoded against the wrong frame's letterbox, a batch export whose
numbers drift from the single-frame model, frames of different sizes mixed up in one batch, and a
missing batch model stopping a multi-camera ingest instead of running frame by frame.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from tastr_stream.config.ingest import DetectConfig
from tastr_stream.detect import make_detector
from tastr_stream.detect.batch import CameraDetectors, CountingBatchDetector, SequentialBatch, detect_each
from tastr_stream.detect.factory import batch_model_path, make_batch_detector
from tastr_stream.errors import StreamError


def assert_same(found, reference, atol=1e-3):
    assert len(found) == len(reference)
    for dets, ref in zip(found, reference):
        assert len(dets) == len(ref)
        for d, r in zip(dets, ref):
            np.testing.assert_allclose(d.box_xyxy, r.box_xyxy, atol=atol)
            np.testing.assert_allclose(d.keypoints, r.keypoints, atol=atol)
            assert d.score == pytest.approx(r.score, abs=1e-5)


@pytest.fixture(scope="module")
def batch_cfg(pose_model_path):
    cfg = DetectConfig(model_path=str(pose_model_path), device="cpu", max_batch=4)
    if not batch_model_path(cfg).is_file():
        pytest.skip(f"{batch_model_path(cfg)} absent: run ./run setup-pose to export it offline")
    return cfg


@pytest.fixture(scope="module")
def batched(batch_cfg):
    det = make_batch_detector(batch_cfg, ["cam1", "cam2"], intra_op_threads=2)
    assert det.inner.max_batch == 4
    return det


def test_a_batch_equals_single_calls_of_the_same_model(batched, vtest_frames):
    frames = vtest_frames[:6]           # 6 frames, max_batch 4: one batch of 4, one of 2
    found = batched.detect_batch(frames)
    assert sum(len(d) for d in found) >= 6, "the batch found almost nobody"
    assert_same(found, detect_each(batched, frames), atol=1e-4)


def test_a_batch_equals_the_single_frame_model(batched, batch_cfg, vtest_frames):
    single = make_detector(batch_cfg, intra_op_threads=2)
    frames = vtest_frames[6:10]
    assert_same(batched.detect_batch(frames), detect_each(single, frames))


def test_frames_of_different_sizes_share_a_batch(batched, vtest_frames):
    """A 4K camera and a 768x576 one in one batch: each answers in its own pixels."""
    small = vtest_frames[3]
    big = cv2.resize(small, (3840, 2880), interpolation=cv2.INTER_LINEAR)
    a, b = batched.detect_batch([big, small])
    ref_b = batched.detect_batch([small])[0]
    assert_same([b], [ref_b], atol=1e-4)
    assert len(a) == len(b) >= 2
    for d_big, d_small in zip(sorted(a, key=lambda d: d.box_xyxy[0]), sorted(b, key=lambda d: d.box_xyxy[0])):
        np.testing.assert_allclose(d_big.box_xyxy / 5, d_small.box_xyxy, atol=4.0)


def test_without_a_batch_model_one_session_runs_frame_by_frame(pose_model_path, tmp_path, vtest_frames, caplog):
    cfg = DetectConfig(model_path=str(pose_model_path), device="cpu", batch_model_path=str(tmp_path / "none.onnx"))
    with caplog.at_level(logging.WARNING, logger="tastr_stream.detect.factory"):
        det = make_batch_detector(cfg, ["cam1", "cam2"], intra_op_threads=2)
    assert det.inner.max_batch == 1
    assert [r.getMessage() for r in caplog.records].count(
        "no pose model with a free batch axis; one session detects frame by frame") == 1
    frames = vtest_frames[:2]
    assert_same(det.detect_batch(frames), detect_each(det, frames), atol=0)


def test_default_batch_model_name_follows_the_model_name():
    assert batch_model_path(DetectConfig(model_path="/m/yolo11n-pose-640x384.onnx")).name == "yolo11n-pose-640x384-batch.onnx"
    assert str(batch_model_path(DetectConfig(batch_model_path="x/b.onnx"), root="/r")) == "/r/x/b.onnx"


class Echo:
    """Answers with the frame index it was given, so routing is visible."""

    def __init__(self, name):
        self.name, self.calls = name, []

    def detect(self, image_bgr, *, frame_index=None):
        self.calls.append(frame_index)
        return [(self.name, frame_index)]


def test_per_camera_detectors_route_each_frame_to_its_camera():
    a, b = Echo("a"), Echo("b")
    router = CountingBatchDetector(CameraDetectors({"cam1": a, "cam2": b}))
    img = np.zeros((16, 16, 3), np.uint8)
    out = router.detect_batch([img, img, img], frame_indices=[4, 4, 5], camera_ids=["cam2", "cam1", "cam2"])
    assert out == [[("b", 4)], [("a", 4)], [("b", 5)]]
    assert a.calls == [4] and b.calls == [4, 5]
    assert (router.calls, router.frames, router.largest_batch) == (1, 3, 3)
    with pytest.raises(StreamError, match="no detector for camera 'cam9'"):
        router.detect_batch([img], frame_indices=[0], camera_ids=["cam9"])
    with pytest.raises(StreamError, match="one camera id per frame"):
        router.detect_batch([img], frame_indices=[0])
    assert SequentialBatch(a).detect_batch([img], frame_indices=[7]) == [[("a", 7)]]
