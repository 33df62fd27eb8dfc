"""DownscaledDetector: detection on a shrunk copy, answers in full-resolution pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tastr_stream.detect.base import DownscaledDetector, PoseDetector, check_image
from tastr_stream.detect.hog import skeleton_from_box
from tastr_stream.errors import StreamError
from tastr_stream.wire.records import Detection


class WhiteBlobDetector:
    """A stand-in detector: every white blob is a 'person'; records the sizes it was given."""

    def __init__(self) -> None:
        self.seen_shapes: list[tuple[int, ...]] = []
        self.seen_frames: list[int | None] = []

    def detect(self, image_bgr, *, frame_index=None):
        self.seen_shapes.append(image_bgr.shape)
        self.seen_frames.append(frame_index)
        mask = (image_bgr.min(axis=2) > 128).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        dets = []
        for x, y, w, h, _area in stats[1:n]:
            box = np.array([x, y, x + w, y + h], dtype=np.float32)
            dets.append(Detection(box_xyxy=box, keypoints=skeleton_from_box(box, 0.9), score=0.9))
        return dets


def test_4k_frame_detected_at_input_scale_and_mapped_back():
    frame = np.zeros((2160, 3840, 3), dtype=np.uint8)
    people = [(600, 900, 780, 1500), (3000, 300, 3120, 660)]
    for x1, y1, x2, y2 in people:
        frame[y1:y2, x1:x2] = 255
    inner = WhiteBlobDetector()
    det = DownscaledDetector(inner, 1280, 736)
    assert isinstance(det, PoseDetector)
    out = sorted(det.detect(frame, frame_index=42), key=lambda d: d.box_xyxy[0])
    assert inner.seen_shapes == [(720, 1280, 3)] and inner.seen_frames == [42]
    assert len(out) == 2
    for d, truth in zip(out, people):
        np.testing.assert_allclose(d.box_xyxy, truth, atol=4.0)   # within ~1 px at detector scale
        x1, y1, x2, y2 = truth
        assert (d.keypoints[:, 0] >= x1 - 4).all() and (d.keypoints[:, 0] <= x2 + 4).all()
        assert (d.keypoints[:, 1] >= y1 - 4).all() and (d.keypoints[:, 1] <= y2 + 4).all()


def test_small_frame_passes_through_unscaled():
    frame = np.zeros((576, 768, 3), dtype=np.uint8)
    frame[100:200, 300:340] = 255
    inner = WhiteBlobDetector()
    (d,) = DownscaledDetector(inner, 1280, 736).detect(frame)
    assert inner.seen_shapes == [(576, 768, 3)]
    np.testing.assert_array_equal(d.box_xyxy, [300, 100, 340, 200])


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32),
                                 np.zeros((4, 100, 3), np.uint8), "not an image"])
def test_malformed_frames_are_rejected_with_their_shape(bad):
    with pytest.raises(StreamError, match="image_bgr"):
        check_image(bad)
