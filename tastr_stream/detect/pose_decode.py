"""Decode a YOLO-pose output tensor into scored boxes with keypoints, and non-maximum suppression.

The exported YOLO11n-pose head emits ``(1, 56, N)``: per anchor ``cx, cy, w, h`` (input pixels),
one person score (already a sigmoid), then 17 keypoints as ``x, y, score`` (score a sigmoid too).
Everything here is plain numpy, so it is tested on hand-made tensors without the model.

:func:`nms` is greedy class-agnostic suppression (one class: person). It is the reference;
``torchvision.ops.nms`` agrees with it but is not needed at these sizes (a few hundred
candidates after the score threshold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelError

NUM_KEYPOINTS = 17
NUM_CHANNELS = 4 + 1 + NUM_KEYPOINTS * 3
MAX_CANDIDATES = 3000   # before NMS: bounds the O(n^2) suppression on a pathological frame
MAX_DETECTIONS = 300    # after NMS


@dataclass(frozen=True)
class RawPoses:
    """Decoded candidates in network input pixels."""

    boxes_xyxy: np.ndarray   # (M, 4) float32
    scores: np.ndarray       # (M,) float32
    keypoints: np.ndarray    # (M, 17, 3) float32


def box_iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) xyxy box with each of (M, 4)."""
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first (ties: lower index first)."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float32), kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        order = rest[box_iou_one_to_many(boxes[i], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode_pose_output(output: np.ndarray, score_threshold: float, iou_threshold: float) -> RawPoses:
    """Threshold, convert boxes to xyxy, suppress duplicates; keypoints ride along with their box."""
    out = np.asarray(output, dtype=np.float32)
    if out.ndim == 3 and out.shape[0] == 1:
        out = out[0]
    if out.ndim != 2 or out.shape[0] != NUM_CHANNELS:
        raise ModelError(f"pose output: expected (1, {NUM_CHANNELS}, N), got {np.shape(output)}")
    preds = out.T                                   # (N, 56)
    scores = preds[:, 4]
    idx = np.flatnonzero(scores > score_threshold)
    if idx.size > MAX_CANDIDATES:
        idx = idx[np.argsort(-scores[idx], kind="stable")[:MAX_CANDIDATES]]
    preds = preds[idx]
    cx, cy, w, h = preds[:, 0], preds[:, 1], preds[:, 2], preds[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keep = nms(boxes, preds[:, 4], iou_threshold)[:MAX_DETECTIONS]
    return RawPoses(
        boxes_xyxy=boxes[keep].astype(np.float32),
        scores=preds[keep, 4].astype(np.float32),
        keypoints=preds[keep, 5:].reshape(-1, NUM_KEYPOINTS, 3).astype(np.float32),
    )
