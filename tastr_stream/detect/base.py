"""The one interface every person detector offers, and detection on a downscaled frame.

Ingest decodes 3840x2160 frames, but a pose network sees people well enough at a third of that
and runs nine times faster. :class:`DownscaledDetector` resizes the full-resolution frame to fit
the detector's input (keeping the aspect ratio), detects there and maps boxes and keypoints back
to full-resolution pixels, so that the tracklet builder cuts crops from the full frame.

``frame_index`` is keyword-only and optional: the decoder's 0-based frame number from pts
(``decode.Frame.index``). Learned detectors ignore it; the oracle backend (ground truth from the
synthetic world) needs it to know which frame it is looking at. Ingest always passes it, so
every backend is driven the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from ..errors import StreamError
from ..wire.records import Detection


@runtime_checkable
class PoseDetector(Protocol):
    """Finds people in one BGR frame; coordinates are pixels of the image passed in."""

    def detect(self, image_bgr: np.ndarray, *, frame_index: int | None = None) -> list[Detection]:
        ...


def check_image(image_bgr: np.ndarray) -> tuple[int, int]:
    """Validate a decoded frame at the detector's boundary; return (height, width)."""
    if not isinstance(image_bgr, np.ndarray):
        raise StreamError(f"image_bgr: expected a numpy array, got {type(image_bgr).__name__}")
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise StreamError(f"image_bgr: expected (H, W, 3) uint8 BGR, got shape {image_bgr.shape} "
                          f"dtype {image_bgr.dtype}")
    height, width = image_bgr.shape[:2]
    if height < 8 or width < 8:
        raise StreamError(f"image_bgr: frame {width}x{height} is too small to detect people in")
    return height, width


def scale_detection(det: Detection, scale_x: float, scale_y: float) -> Detection:
    """The same detection in an image scaled by (scale_x, scale_y); keypoint scores unchanged."""
    box = det.box_xyxy * np.array([scale_x, scale_y, scale_x, scale_y], dtype=np.float32)
    kps = det.keypoints.copy()
    kps[:, 0] *= scale_x
    kps[:, 1] *= scale_y
    return Detection(box_xyxy=box, keypoints=kps, score=det.score)


def fit_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int, float]:
    """(new_width, new_height, scale) fitting (width, height) inside the max, never upscaling."""
    scale = min(max_width / width, max_height / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale)), scale


class DownscaledDetector:
    """Run ``inner`` on a copy of the frame shrunk to fit ``max_width`` x ``max_height``.

    Frames already inside that size pass through untouched. Area interpolation is used for the
    shrink because it averages instead of skipping pixels, which keeps thin limbs visible.
    """

    def __init__(self, inner: PoseDetector, max_width: int, max_height: int) -> None:
        if max_width < 8 or max_height < 8:
            raise StreamError(f"DownscaledDetector: target {max_width}x{max_height} is too small")
        self.inner = inner
        self.max_width = int(max_width)
        self.max_height = int(max_height)

    def detect(self, image_bgr: np.ndarray, *, frame_index: int | None = None) -> list[Detection]:
        small, size = self._shrink(image_bgr)
        return self._map_back(self.inner.detect(small, frame_index=frame_index), size, small)

    def detect_batch(self, images: Sequence[np.ndarray], *, frame_indices: Sequence[int | None] | None = None,
                     camera_ids: Sequence[str] | None = None) -> list[list[Detection]]:
        """``detect`` of each frame; one batched call when ``inner`` has ``detect_batch``."""
        indices = list(frame_indices) if frame_indices is not None else [None] * len(images)
        shrunk = [self._shrink(img) for img in images]
        smalls = [small for small, _ in shrunk]
        if hasattr(self.inner, "detect_batch"):
            found = self.inner.detect_batch(smalls, frame_indices=indices, camera_ids=camera_ids)
        else:
            found = [self.inner.detect(small, frame_index=i) for small, i in zip(smalls, indices)]
        return [self._map_back(dets, size, small) for dets, (small, size) in zip(found, shrunk)]

    def _shrink(self, image_bgr: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """(the frame fitted inside the detector's size, the original (width, height))."""
        height, width = check_image(image_bgr)
        new_w, new_h, _ = fit_size(width, height, self.max_width, self.max_height)
        if (new_w, new_h) == (width, height):
            return image_bgr, (width, height)
        return cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_AREA), (width, height)

    @staticmethod
    def _map_back(dets: list[Detection], size: tuple[int, int], small: np.ndarray) -> list[Detection]:
        return map_to_full(dets, size, small.shape[1], small.shape[0])


def map_to_full(dets: list[Detection], size: tuple[int, int], small_width: int, small_height: int) -> list[Detection]:
    """Detections made on a ``small_width`` x ``small_height`` copy, in the pixels of the full
    ``size`` = (width, height) frame, clipped to it."""
    width, height = size
    if (small_width, small_height) == (width, height):
        return dets
    # Map with the exact per-axis ratio of the two pixel grids, not the rounded scale.
    sx, sy = width / small_width, height / small_height
    out = []
    for d in dets:
        full = scale_detection(d, sx, sy)
        box = np.clip(full.box_xyxy, 0, [width, height, width, height]).astype(np.float32)
        out.append(Detection(box_xyxy=box, keypoints=full.keypoints, score=full.score))
    return out
