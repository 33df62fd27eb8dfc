"""The person box derived from keypoints: padding, side views, partial bodies, fallback."""

from __future__ import annotations

import numpy as np

from tastr_stream.detect.box_from_pose import box_from_keypoints
from tastr_stream.detect.hog import skeleton_from_box

IMAGE_WH = (1280, 720)


def _standing(x1=400.0, y1=100.0, x2=480.0, y2=400.0, score=0.9):
    """A person whose true extent (crown to soles) is the given box."""
    kps = skeleton_from_box(np.array([x1, y1, x2, y2]), score=score)
    return kps


def test_full_body_box_covers_crown_and_soles():
    true_box = np.array([400, 100, 480, 400], dtype=np.float32)
    kps = _standing(*true_box)
    box = box_from_keypoints(kps, np.zeros(4), IMAGE_WH)
    # keypoints span nose (y=121) to ankles (y=379): padding must reach the crown and soles
    assert box[1] <= true_box[1] + 3 and box[3] >= true_box[3] - 3
    assert box[0] <= true_box[0] + 3 and box[2] >= true_box[2] - 3
    height = box[3] - box[1]
    assert height <= 1.25 * (true_box[3] - true_box[1])       # not absurdly loose


def test_side_view_gets_a_plausible_width():
    kps = _standing()
    kps[:, 0] = 440.0 + np.linspace(-2, 2, 17)   # all joints nearly on one vertical line
    box = box_from_keypoints(kps, np.zeros(4), IMAGE_WH)
    assert box[2] - box[0] >= 0.29 * (box[3] - box[1])
    assert abs(0.5 * (box[0] + box[2]) - 440.0) < 1.0


def test_upper_body_gets_its_head():
    kps = _standing()
    kps[11:, 2] = 0.0                             # hips, knees, ankles hidden (e.g. behind a car)
    box = box_from_keypoints(kps, np.zeros(4), IMAGE_WH)
    nose_y, shoulder_y = kps[0, 1], kps[5, 1]
    assert box[1] <= nose_y - 0.45 * (shoulder_y - nose_y)
    assert box[3] <= kps[9, 1] + 0.2 * (kps[9, 1] - nose_y)   # ends near the wrists, not at the feet


def test_too_few_keypoints_fall_back_to_detector_box():
    kps = _standing()
    kps[3:, 2] = 0.1                              # only 3 keypoints above the threshold
    fallback = np.array([10, 20, 60, 150], dtype=np.float32)
    np.testing.assert_array_equal(box_from_keypoints(kps, fallback, IMAGE_WH, 0.3), fallback)


def test_box_is_clipped_to_the_image():
    kps = _standing(x1=-30, y1=600, x2=40, y2=900)
    box = box_from_keypoints(kps, np.zeros(4), IMAGE_WH)
    assert box[0] == 0 and box[3] == IMAGE_WH[1]
    assert box[2] > box[0] and box[3] > box[1]
