"""Pairwise similarities between tracks and detections: box IoU and pose OKS; and which side of
the picture a box touches (the tracker's and the linker's one definition).

OKS (object keypoint similarity, COCO) compares poses with per-keypoint tolerances scaled by
the person's size, so a pose match works for far and near people alike; it is what PoseFlow's
pose distance approximates. Keypoints below a score threshold are ignored on either side.
"""

from __future__ import annotations

import numpy as np

# COCO keypoint sigmas (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
COCO_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62,
                        1.07, 1.07, 0.87, 0.87, 0.89, 0.89]) / 10.0


def buffered(boxes_xyxy: np.ndarray, ratio: float) -> np.ndarray:
    """Boxes grown by ``ratio`` of their width/height on every side (C-BIoU's buffer): IoU of
    buffered boxes still sees a match when motion between detections outran the prediction."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    if ratio <= 0 or len(b) == 0:
        return b
    pad = ratio * np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    return np.concatenate([b[:, :2] - pad, b[:, 2:] + pad], axis=1)


def buffered_iou(tracks_xyxy: np.ndarray, buffers: np.ndarray, dets_xyxy: np.ndarray) -> np.ndarray:
    """(T, D) IoU where row i compares track box i and every detection, both grown by ``buffers[i]``."""
    tracks = np.asarray(tracks_xyxy, dtype=np.float64).reshape(-1, 4)
    dets = np.asarray(dets_xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((len(tracks), len(dets)))
    if len(tracks) == 0 or len(dets) == 0:
        return out
    buffers = np.asarray(buffers, dtype=np.float64).reshape(-1)
    for b in np.unique(buffers):
        rows = np.nonzero(buffers == b)[0]
        out[rows] = iou_matrix(buffered(tracks[rows], b), buffered(dets, b))
    return out


def side_of(box, width: float | None, margin: float) -> str | None:
    """"left"/"right" when the box touches that side of the picture, else None."""
    if box is None or not width:
        return None
    if box[0] <= margin * width:
        return "left"
    if box[2] >= (1.0 - margin) * width:
        return "right"
    return None


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def oks_matrix(a_kpts: np.ndarray, b_kpts: np.ndarray, b_boxes_xyxy: np.ndarray,
               min_score: float = 0.3) -> np.ndarray:
    """OKS between every pose in ``a`` (N,17,3) and every pose in ``b`` (M,17,3).

    The scale is the area of ``b``'s boxes. Pairs with no keypoint visible on both sides get 0.
    """
    a = np.asarray(a_kpts, dtype=np.float64).reshape(-1, 17, 3)
    b = np.asarray(b_kpts, dtype=np.float64).reshape(-1, 17, 3)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    boxes = np.asarray(b_boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0)
    d2 = ((a[:, None, :, :2] - b[None, :, :, :2]) ** 2).sum(-1)             # (N, M, 17)
    var = (2 * COCO_SIGMAS) ** 2
    e = d2 / (2 * area[None, :, None] * var[None, None, :])
    vis = (a[:, None, :, 2] >= min_score) & (b[None, :, :, 2] >= min_score)
    count = vis.sum(-1)
    total = (np.exp(-e) * vis).sum(-1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)
