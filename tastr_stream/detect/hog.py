"""OpenCV's HOG + linear SVM people detector: no weights file, licence-safe fallback.

It exists in opencv-python-headless 4.x (not in 5.0). It finds upright people whose body is at
least ~100 px tall (its window is 64x128 with the person in the middle ~96 px), and gives boxes
only. Downstream stages expect 17 keypoints, so a rough standing skeleton is synthesised from
each box at fixed proportions with score ``SKELETON_SCORE`` = 0.05: below any sensible
``min_keypoint_score``, so the box stays the detector's, and the pose term of the tracker's cost
sees low confidence and weighs these points accordingly.

People shorter than the window are missed or boxed too large; ``upscale`` > 1 enlarges the
frame first (at upscale**2 the cost) so that ~96/upscale px people are found.

The SVM's raw margin is mapped to a (0, 1) score with a logistic, and the window's margin around
the person is trimmed (``TRIM_X``, ``TRIM_Y``: fractions of the window width/height per side).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ConfigError, ModelError
from ..wire.records import Detection
from .base import check_image
from .pose_decode import nms

SKELETON_SCORE = 0.05
TRIM_X = 0.18
TRIM_Y = 0.07

# COCO order; (x, y) as fractions of the trimmed person box, a person standing facing the camera.
SKELETON_XY = np.array([
    [0.50, 0.07],                   # nose
    [0.46, 0.05], [0.54, 0.05],     # eyes
    [0.42, 0.06], [0.58, 0.06],     # ears
    [0.30, 0.19], [0.70, 0.19],     # shoulders
    [0.22, 0.35], [0.78, 0.35],     # elbows
    [0.20, 0.49], [0.80, 0.49],     # wrists
    [0.38, 0.52], [0.62, 0.52],     # hips
    [0.38, 0.72], [0.62, 0.72],     # knees
    [0.38, 0.93], [0.62, 0.93],     # ankles
], dtype=np.float32)


def skeleton_from_box(box_xyxy: np.ndarray, score: float = SKELETON_SCORE) -> np.ndarray:
    """A (17, 3) template skeleton filling ``box_xyxy``; every keypoint scored ``score``."""
    x1, y1, x2, y2 = np.asarray(box_xyxy, dtype=np.float32)
    kps = np.empty((17, 3), dtype=np.float32)
    kps[:, 0] = x1 + SKELETON_XY[:, 0] * (x2 - x1)
    kps[:, 1] = y1 + SKELETON_XY[:, 1] * (y2 - y1)
    kps[:, 2] = score
    return kps


class HogPeopleDetector:
    """``cv2.HOGDescriptor`` with the default people SVM; multi-scale, then our NMS."""

    def __init__(self, score_threshold: float = 0.35, nms_iou: float = 0.6,
                 win_stride_px: int = 8, scale_step: float = 1.05, upscale: float = 1.0) -> None:
        if not hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector"):
            raise ModelError(f"OpenCV {cv2.__version__} has no HOG people detector; "
                             "it needs opencv-python-headless 4.x")
        if win_stride_px not in (4, 8, 16) or not 1.01 <= scale_step <= 2.0 or not 1.0 <= upscale <= 4.0:
            raise ConfigError(f"win_stride_px={win_stride_px} (4, 8 or 16), scale_step={scale_step} (1.01..2), "
                              f"upscale={upscale} (1..4)")
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.win_stride = (win_stride_px, win_stride_px)
        self.scale_step = float(scale_step)
        self.upscale = float(upscale)
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, image_bgr: np.ndarray, *, frame_index: int | None = None) -> list[Detection]:
        height, width = check_image(image_bgr)
        work = image_bgr
        if self.upscale > 1.0:
            work = cv2.resize(image_bgr, (round(width * self.upscale), round(height * self.upscale)),
                              interpolation=cv2.INTER_LINEAR)
        if work.shape[0] < 128 or work.shape[1] < 64:
            return []
        rects, weights = self._hog.detectMultiScale(
            work, winStride=self.win_stride, padding=(8, 8), scale=self.scale_step)
        if len(rects) == 0:
            return []
        rects = np.asarray(rects, dtype=np.float32).reshape(-1, 4) / self.upscale
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, dtype=np.float32).reshape(-1)))
        boxes = np.stack([rects[:, 0] + TRIM_X * rects[:, 2], rects[:, 1] + TRIM_Y * rects[:, 3],
                          rects[:, 0] + (1 - TRIM_X) * rects[:, 2], rects[:, 1] + (1 - TRIM_Y) * rects[:, 3]],
                         axis=1)
        boxes = np.clip(boxes, 0, [width, height, width, height])
        keep_score = scores >= self.score_threshold
        boxes, scores = boxes[keep_score], scores[keep_score]
        return [Detection(box_xyxy=boxes[i], keypoints=skeleton_from_box(boxes[i]), score=float(scores[i]))
                for i in nms(boxes, scores, self.nms_iou)]
