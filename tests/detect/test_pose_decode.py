"""Decoding the (1, 56, N) YOLO-pose output and NMS, on hand-made tensors (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from tastr_stream.detect.pose_decode import NUM_CHANNELS, decode_pose_output, nms
from tastr_stream.errors import ModelError

PEOPLE_XYXY = np.array([[100, 50, 160, 230], [400, 300, 470, 520], [120, 60, 180, 240]], dtype=np.float32)
PEOPLE_SCORES = np.array([0.9, 0.8, 0.7], dtype=np.float32)


def _anchor(box_xyxy, score, kp_offset):
    col = np.zeros(NUM_CHANNELS, dtype=np.float32)
    x1, y1, x2, y2 = box_xyxy
    col[:4] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
    col[4] = score
    kps = np.zeros((17, 3), dtype=np.float32)
    kps[:, 0] = x1 + kp_offset + np.arange(17)
    kps[:, 1] = y1 + kp_offset + 2 * np.arange(17)
    kps[:, 2] = 0.9
    col[5:] = kps.reshape(-1)
    return col


def _synthetic_output(rng):
    """Three people, each with jittered lower-scored duplicates, plus background anchors."""
    cols = []
    for k, (box, score) in enumerate(zip(PEOPLE_XYXY, PEOPLE_SCORES)):
        cols.append(_anchor(box, score, kp_offset=k))
        for _ in range(6):   # duplicates: IoU with the true box well above 0.6
            cols.append(_anchor(box + rng.uniform(-3, 3, 4), score * rng.uniform(0.5, 0.95), kp_offset=99))
    for _ in range(200):     # background: scores below threshold
        xy = rng.uniform(0, 1000, 2)
        cols.append(_anchor(np.r_[xy, xy + 50], rng.uniform(0, 0.2), kp_offset=0))
    out = np.stack(cols, axis=1)[None]
    return out[:, :, rng.permutation(out.shape[2])]


def test_decode_recovers_known_people():
    out = _synthetic_output(np.random.default_rng(0))
    raw = decode_pose_output(out, score_threshold=0.35, iou_threshold=0.6)
    # people 0 and 2 overlap with IoU ~0.46 < 0.6: both survive, in score order.
    np.testing.assert_allclose(raw.boxes_xyxy, PEOPLE_XYXY, atol=1e-4)
    np.testing.assert_allclose(raw.scores, PEOPLE_SCORES, atol=1e-6)
    for k in range(3):   # each keeps its own keypoints, not a duplicate's
        np.testing.assert_allclose(raw.keypoints[k, :, 0], PEOPLE_XYXY[k, 0] + k + np.arange(17))
        np.testing.assert_allclose(raw.keypoints[k, :, 1], PEOPLE_XYXY[k, 1] + k + 2 * np.arange(17))


def test_stricter_iou_merges_overlapping_people():
    out = _synthetic_output(np.random.default_rng(1))
    raw = decode_pose_output(out, score_threshold=0.35, iou_threshold=0.3)
    np.testing.assert_allclose(raw.boxes_xyxy, PEOPLE_XYXY[:2], atol=1e-4)


def test_empty_and_malformed_outputs():
    empty = decode_pose_output(np.zeros((1, NUM_CHANNELS, 10), dtype=np.float32), 0.35, 0.6)
    assert empty.boxes_xyxy.shape == (0, 4) and empty.keypoints.shape == (0, 17, 3)
    with pytest.raises(ModelError, match=r"\(1, 85, 10\)"):
        decode_pose_output(np.zeros((1, 85, 10), dtype=np.float32), 0.35, 0.6)


def test_nms_matches_brute_force_reference():
    rng = np.random.default_rng(3)
    for _ in range(20):
        xy = rng.uniform(0, 200, (60, 2))
        boxes = np.c_[xy, xy + rng.uniform(10, 60, (60, 2))].astype(np.float32)
        scores = rng.uniform(0, 1, 60).astype(np.float32)
        # reference: visit in score order, keep a box unless it overlaps a kept one too much
        kept: list[int] = []
        for i in np.argsort(-scores, kind="stable"):
            ok = True
            for j in kept:
                ix = max(0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]))
                iy = max(0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]))
                a = lambda b: (b[2] - b[0]) * (b[3] - b[1])
                if ix * iy / (a(boxes[i]) + a(boxes[j]) - ix * iy) > 0.5:
                    ok = False
                    break
            if ok:
                kept.append(int(i))
        assert nms(boxes, scores, 0.5).tolist() == kept


def test_nms_agrees_with_torchvision():
    torch = pytest.importorskip("torch")
    tv_ops = pytest.importorskip("torchvision.ops")
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 300, (200, 2))
    boxes = np.c_[xy, xy + rng.uniform(10, 80, (200, 2))].astype(np.float32)
    scores = rng.uniform(0, 1, 200).astype(np.float32)
    ref = tv_ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.6).numpy()
    assert nms(boxes, scores, 0.6).tolist() == ref.tolist()
