"""make_detector: each backend from config, and the errors a user sees when one cannot start."""

from __future__ import annotations

import numpy as np
import pytest

from tastr_stream.config.ingest import DetectConfig
from tastr_stream.detect import DownscaledDetector, OracleDetector, PoseDetector, make_detector
from tastr_stream.detect.factory import oracle_options
from tastr_stream.errors import ConfigError, ModelError


class FakeWorld:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def gt_frames(self, camera_id):
        self.asked.append(camera_id)
        return {}


def test_hog_backend_is_downscaled():
    det = make_detector(DetectConfig(backend="hog", input_width=640, input_height=384))
    assert isinstance(det, DownscaledDetector) and isinstance(det, PoseDetector)
    assert (det.max_width, det.max_height) == (640, 384)
    assert det.detect(np.zeros((720, 1280, 3), np.uint8)) == []


def test_oracle_backend_reads_the_camera_ground_truth():
    world = FakeWorld()
    cfg = DetectConfig(backend="oracle", oracle_box_noise=0.1, oracle_miss_rate=0.2, oracle_seed=9)
    det = make_detector(cfg, world=world, camera_id="cam2")
    assert isinstance(det, OracleDetector) and world.asked == ["cam2"]
    assert (det.options.box_noise, det.options.miss_rate, det.options.seed) == (0.1, 0.2, 9)
    assert oracle_options(cfg).fragment_rate == 0.0
    with pytest.raises(ConfigError, match="camera_id=None"):
        make_detector(cfg, world=world)


def test_missing_onnx_model_says_how_to_make_it(tmp_path):
    pytest.importorskip("onnxruntime")
    cfg = DetectConfig(backend="yolo-pose", model_path="models/none.onnx")
    with pytest.raises(ModelError, match=r"none\.onnx not found.*setup_pose_model\.sh"):
        make_detector(cfg, root=tmp_path)


def test_corrupt_onnx_model_is_a_model_error(tmp_path):
    pytest.importorskip("onnxruntime")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load pose model"):
        make_detector(DetectConfig(model_path=str(tmp_path / "bad.onnx")))


def test_yolo_backend_refuses_a_model_exported_for_another_size(pose_model_path):
    cfg = DetectConfig(model_path=str(pose_model_path), input_width=640, input_height=384)
    with pytest.raises(ModelError, match="exported for 1280x736.*640x384"):
        make_detector(cfg, intra_op_threads=1)
