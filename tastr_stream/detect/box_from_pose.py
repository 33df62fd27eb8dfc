"""The person box derived from the keypoints, as the paper does (section IV-A).

A detector's own box drifts with loose clothing, bags and partial occlusion; the skeleton is a
steadier anchor for crops and for the tracker's IoU. Keypoints mark joints, not the body's
outline, so the tight keypoint box is padded:

- every side by ``PAD_RATIO`` = 0.1 of the keypoint box's width/height, AlphaPose's
  ``expand_bbox`` ratio (enough for the crown and the soles when the whole body is visible);
- the top, when it is a face point, by at least ``HEAD_ABOVE_FACE_RATIO`` = 0.5 of the face to
  shoulder-line distance (eye to crown is ~11 cm against ~24 cm eye to shoulders; nose to crown
  ~13 cm against ~19 cm): this covers the head when only the upper body is visible;
- the bottom, when it is an ankle, by at least ``FOOT_BELOW_ANKLE_RATIO`` = 0.2 of the knee to
  ankle distance (ankle to sole ~8 cm against a ~42 cm shin);
- the width to at least ``MIN_WIDTH_RATIO`` = 0.3 of the height, centred: a walker seen from the
  side has all joints nearly on one vertical line, while the body is about that wide.

The result is clipped to the image. With fewer than ``MIN_VISIBLE_KEYPOINTS`` keypoints scoring
>= ``min_keypoint_score`` (or a degenerate spread), the detector's own box is used instead.
"""

from __future__ import annotations

import numpy as np

PAD_RATIO = 0.1
HEAD_ABOVE_FACE_RATIO = 0.5
FOOT_BELOW_ANKLE_RATIO = 0.2
MIN_WIDTH_RATIO = 0.3
MIN_VISIBLE_KEYPOINTS = 4

FACE = (0, 1, 2, 3, 4)          # nose, eyes, ears
SHOULDERS = (5, 6)
KNEES = (13, 14)
ANKLES = (15, 16)


def _mean_y(kps: np.ndarray, visible: np.ndarray, idx: tuple[int, ...]) -> float | None:
    sel = [i for i in idx if visible[i]]
    return float(kps[sel, 1].mean()) if sel else None


def box_from_keypoints(
    keypoints: np.ndarray,
    fallback_box_xyxy: np.ndarray,
    image_wh: tuple[int, int],
    min_keypoint_score: float = 0.3,
) -> np.ndarray:
    """Padded, clipped (4,) float32 person box from (17, 3) keypoints; see the module doc."""
    kps = np.asarray(keypoints, dtype=np.float32)
    width, height = image_wh
    limits = np.array([width, height, width, height], dtype=np.float32)
    fallback = np.clip(np.asarray(fallback_box_xyxy, dtype=np.float32), 0, limits)
    visible = kps[:, 2] >= min_keypoint_score
    if int(visible.sum()) < MIN_VISIBLE_KEYPOINTS:
        return fallback
    pts = kps[visible, :2]
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    span_w, span_h = x2 - x1, y2 - y1
    if span_h < 2.0:
        return fallback

    top_pad = PAD_RATIO * span_h
    face_y = _mean_y(kps, visible, FACE)
    shoulder_y = _mean_y(kps, visible, SHOULDERS)
    top_is_face = any(visible[i] and kps[i, 1] <= y1 + 1e-3 for i in FACE)
    if top_is_face and face_y is not None and shoulder_y is not None and shoulder_y > y1:
        top_pad = max(top_pad, HEAD_ABOVE_FACE_RATIO * (shoulder_y - y1))

    bottom_pad = PAD_RATIO * span_h
    knee_y = _mean_y(kps, visible, KNEES)
    bottom_is_ankle = any(visible[i] and kps[i, 1] >= y2 - 1e-3 for i in ANKLES)
    if bottom_is_ankle and knee_y is not None and y2 > knee_y:
        bottom_pad = max(bottom_pad, FOOT_BELOW_ANKLE_RATIO * (y2 - knee_y))

    top, bottom = y1 - top_pad, y2 + bottom_pad
    half_w = max(span_w * (0.5 + PAD_RATIO), 0.5 * MIN_WIDTH_RATIO * (bottom - top))
    cx = 0.5 * (x1 + x2)
    box = np.array([cx - half_w, top, cx + half_w, bottom], dtype=np.float32)
    box = np.clip(box, 0, limits)
    if box[2] - box[0] < 1.0 or box[3] - box[1] < 1.0:
        return fallback
    return box
