"""The default detector on the project's own synthetic world: recall of clearly visible people.

Requirement: YOLO11n-pose finds >= 90% of people taller than 80 px (visibility >= 0.7) with
IoU >= 0.5 against the ground-truth box, on decoded H.264 video at 1280x720. It guards against
a renderer whose figures a real pose network does not take for people (then every downstream
test on the world exercises the oracle's assumptions, not the system). Slow: it renders a
small world (2 cameras, 30 s at 10 fps) and runs the network on every 5th frame.
"""

from __future__ import annotations

import numpy as np
import pytest

from tastr_stream.config.ingest import DetectConfig
from tastr_stream.detect import make_detector
from tastr_stream.detect.pose_decode import box_iou_one_to_many

from .conftest import decoded_frames_with_truth

MIN_HEIGHT_PX = 80
MIN_VISIBILITY = 0.7
FRAME_STEP = 5


def _size_bucket(height_px: float) -> str:
    return "80-150px" if height_px < 150 else "150-300px" if height_px < 300 else ">=300px"


@pytest.mark.slow
def test_yolo_pose_recall_on_synthetic_world(pose_model_path, tmp_path_factory):
    world_mod = pytest.importorskip("tastr_stream.sim.world", reason="synthetic world renderer not present")
    from tastr_stream.datasets.synthetic import SyntheticWorld

    root = world_mod.render_world(tmp_path_factory.mktemp("world") / "w", cameras=2, people=10, minutes=0.5,
                                  resolution=(1280, 720), seed=1, fps=10, path_range_m=(10.0, 30.0),
                                  progress=False)
    world = SyntheticWorld.open(root)
    detector = make_detector(DetectConfig(model_path=str(pose_model_path)), intra_op_threads=2)
    hits: dict[str, list[bool]] = {}
    for _, frame_no, image, truth in decoded_frames_with_truth(world):
        people = [b for b in truth if b.box_xyxy[3] - b.box_xyxy[1] > MIN_HEIGHT_PX and b.visibility >= MIN_VISIBILITY]
        if frame_no % FRAME_STEP or not people:
            continue
        boxes = np.array([d.box_xyxy for d in detector.detect(image, frame_index=frame_no - 1)]).reshape(-1, 4)
        for person in people:
            hit = len(boxes) > 0 and box_iou_one_to_many(person.box_xyxy, boxes).max() >= 0.5
            hits.setdefault(_size_bucket(person.box_xyxy[3] - person.box_xyxy[1]), []).append(bool(hit))
    every = [h for bucket in hits.values() for h in bucket]
    assert len(every) >= 100, f"only {len(every)} ground-truth people sampled; the world is too empty"
    detail = {k: f"{np.mean(v):.2f} of {len(v)}" for k, v in sorted(hits.items())}
    print(f"\nYOLO11n-pose recall on the synthetic world: {np.mean(every):.3f} of {len(every)}; by height: {detail}")
    assert np.mean(every) >= 0.9, f"recall {np.mean(every):.3f} < 0.90 by height: {detail}"
