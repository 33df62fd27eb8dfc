"""Shared fixtures: the real pedestrian video and the exported pose model, skipped when absent."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
_VTEST_REL = "usr/share/doc/opencv-doc/examples/data/vtest.avi"
# Installed by apt, or unpacked into the project's cache by `./run setup` (no root needed).
VTEST = next((p for p in (Path("/") / _VTEST_REL, Path(__file__).resolve().parents[2] / ".cache/opencv-doc" / _VTEST_REL)
              if p.exists()), Path("/") / _VTEST_REL)
POSE_MODEL = REPO / ".cache" / "models" / "yolo11n-pose.onnx"


@pytest.fixture(scope="session")
def vtest_frames() -> list[np.ndarray]:
    """Every 40th frame of vtest.avi (768x576, 795 frames): 20 frames spread over the video."""
    if not VTEST.is_file():
        pytest.skip(f"{VTEST} absent: `apt-get install opencv-doc` (Debian) provides it")
    cap = cv2.VideoCapture(str(VTEST))
    frames = []
    try:
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if index % 40 == 0:
                frames.append(frame)
            index += 1
    finally:
        cap.release()
    if len(frames) < 10:
        pytest.fail(f"{VTEST}: decoded only {len(frames)} sampled frames; the file looks truncated")
    return frames


@pytest.fixture(scope="session")
def pose_model_path() -> Path:
    pytest.importorskip("onnxruntime", reason="onnxruntime absent: install the 'pose' extra")
    if not POSE_MODEL.is_file():
        pytest.skip(f"{POSE_MODEL} absent: run tools/setup_pose_model.sh to export it offline")
    return POSE_MODEL


def decoded_frames_with_truth(world):
    """(camera id, frame number from 1, BGR image decoded from the camera's H.264 video, ground-truth
    boxes of that frame) for every frame of a rendered world: what a detector test scores against."""
    for camera_id in world.camera_ids:
        gt = world.gt_frames(camera_id)
        cap = cv2.VideoCapture(str(world.video_path(camera_id)))
        frame_no = 0
        try:
            while True:
                ok, image = cap.read()
                if not ok:
                    break
                frame_no += 1
                yield camera_id, frame_no, image, gt.get(frame_no, [])
        finally:
            cap.release()
