"""Both image detectors on real pedestrian video (Debian's opencv-doc vtest.avi, 768x576).

Guards against a pipeline that runs but finds nobody: wrong channel order, a letterbox that
misplaces the image, keypoints decoded from the wrong channels. The scene has 3-8 walkers
(~70-110 px tall) in nearly every frame.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tastr_stream.config.ingest import DetectConfig
from tastr_stream.detect import make_detector
from tastr_stream.detect.hog import HogPeopleDetector


def _plausible(det, width: int, height: int) -> bool:
    x1, y1, x2, y2 = det.box_xyxy
    return 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height and 1.2 < (y2 - y1) / max(x2 - x1, 1) < 6


@pytest.fixture(scope="module")
def yolo(pose_model_path):
    return make_detector(DetectConfig(model_path=str(pose_model_path)), intra_op_threads=2)


def test_yolo_pose_finds_people_in_most_frames(yolo, vtest_frames):
    counts = []
    for frame in vtest_frames[::2]:   # 10 frames, 80 apart
        dets = [d for d in yolo.detect(frame) if _plausible(d, 768, 576)]
        counts.append(len(dets))
        for d in dets:   # confident keypoints lie in (or at the padded edge of) their own box
            kps = d.keypoints[d.keypoints[:, 2] >= 0.5, :2]
            x1, y1, x2, y2 = d.box_xyxy
            assert ((kps >= [x1 - 1, y1 - 1]) & (kps <= [x2 + 1, y2 + 1])).all()
    counts = np.array(counts)
    assert (counts > 0).mean() >= 0.9, f"people found per frame: {counts.tolist()}"
    assert counts.mean() >= 2.0, f"people found per frame: {counts.tolist()}"


def test_yolo_pose_on_an_upscaled_4k_frame_matches_the_original(yolo, vtest_frames):
    """A 5x upscaled frame (3840x2880) is shrunk back before detection, boxes come back x5."""
    frame = vtest_frames[5]
    small = sorted(yolo.detect(frame), key=lambda d: d.box_xyxy[0])
    big = sorted(yolo.detect(cv2.resize(frame, (3840, 2880), interpolation=cv2.INTER_LINEAR)),
                 key=lambda d: d.box_xyxy[0])
    assert len(small) >= 2 and len(big) == len(small)
    for s, b in zip(small, big):
        np.testing.assert_allclose(b.box_xyxy / 5, s.box_xyxy, atol=4.0)


def test_hog_finds_people_in_most_frames(vtest_frames):
    hog = HogPeopleDetector(score_threshold=0.5, upscale=1.5)   # people here are below HOG's 96 px
    found = [any(_plausible(d, 768, 576) for d in hog.detect(f)) for f in vtest_frames[::4]]
    assert np.mean(found) >= 0.8, f"frames with a person: {found}"
