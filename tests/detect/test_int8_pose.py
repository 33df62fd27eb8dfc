"""The int8 pose model (tools/quantize_pose_model.py) finds the people the float model finds.

``./run setup`` quantizes the 640x384 model, calibrated on a rendered world. Here a different
world (another seed, another resolution) is decoded from H.264 and both models run through the
detector as ingest builds it: the int8 one must find >= 90 % of the people the float one finds
(box IoU >= 0.5) and >= 90 % of the ground-truth people the float one finds, so a model that
lost its scores or keypoints to quantization (all-int8 finds nobody) cannot pass. Speed is not
asserted (CI machines are shared); RESULTS.md has it.
"""

from __future__ import annotations

import numpy as np
import pytest

from tastr_stream.config.ingest import DetectConfig
from tastr_stream.detect import make_detector
from tastr_stream.detect.pose_decode import box_iou_one_to_many

from .conftest import REPO, decoded_frames_with_truth

FLOAT = REPO / ".cache/models/yolo11n-pose-640x384.onnx"
INT8 = REPO / ".cache/models/yolo11n-pose-640x384-int8.onnx"


def _found(reference: np.ndarray, candidate: np.ndarray) -> int:
    """How many ``reference`` boxes have a ``candidate`` box at IoU >= 0.5."""
    if not len(candidate):
        return 0
    return sum(float(box_iou_one_to_many(box, candidate).max()) >= 0.5 for box in reference)


def test_int8_pose_model_finds_the_people_the_float_model_finds(tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime absent: install the 'pose' extra")
    if not (FLOAT.is_file() and INT8.is_file()):
        pytest.skip("640x384 pose models absent: ./run setup-pose makes them offline")
    from tastr_stream.datasets.synthetic import SyntheticWorld
    from tastr_stream.sim.world import render_world

    world = SyntheticWorld.open(render_world(tmp_path / "w", cameras=2, people=8, minutes=0.25, resolution=(1280, 720),
                                             seed=11, fps=2, path_range_m=(10.0, 25.0), progress=False))
    detectors = {name: make_detector(DetectConfig(model_path=str(path), input_width=640, input_height=384),
                                     intra_op_threads=2) for name, path in (("float", FLOAT), ("int8", INT8))}
    counts = {"float": 0, "int8 of float": 0, "truth by float": 0, "truth by int8": 0}
    for _, _, image, truth in decoded_frames_with_truth(world):
        boxes = {name: np.array([d.box_xyxy for d in det.detect(image)]).reshape(-1, 4)
                 for name, det in detectors.items()}
        people = np.array([b.box_xyxy for b in truth if b.visibility >= 0.7
                           and b.box_xyxy[3] - b.box_xyxy[1] >= 80]).reshape(-1, 4)
        counts["float"] += len(boxes["float"])
        counts["int8 of float"] += _found(boxes["float"], boxes["int8"])
        counts["truth by float"] += _found(people, boxes["float"])
        counts["truth by int8"] += _found(people, boxes["int8"])
    assert counts["float"] >= 20, counts                    # the world put people in view
    assert counts["int8 of float"] >= 0.9 * counts["float"], counts
    assert counts["truth by int8"] >= 0.9 * counts["truth by float"], counts
