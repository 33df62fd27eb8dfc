"""One detector for several cameras: the batch interface, its plain reference and a per-camera router.

A multi-camera ingest collects the frames that are due for detection in one round, one per
camera at most, and hands them to one :class:`BatchDetector` call. The YOLO pose detector (and
:class:`~.base.DownscaledDetector` around it) implements ``detect_batch`` with one
``session.run`` per batch; :func:`detect_each` is the plain reference (one ``detect`` per frame)
that the tests hold it equal to, and what any single-frame detector falls back to.

:class:`CameraDetectors` serves backends that are per camera by nature (the oracle reads one
camera's ground truth): it routes each frame to its camera's detector, in the order given, so a
camera's detector sees exactly the calls it would see in a single-camera ingest.

:class:`CountingBatchDetector` counts runs and batch sizes for metrics, logs and tests.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import StreamError
from ..wire.records import Detection
from .base import PoseDetector


@runtime_checkable
class BatchDetector(Protocol):
    """Finds people in several frames at once; ``result[i]`` answers ``images[i]``."""

    def detect_batch(self, images: Sequence[np.ndarray], *, frame_indices: Sequence[int | None] | None = None,
                     camera_ids: Sequence[str] | None = None) -> list[list[Detection]]:
        ...


def detect_each(detector: PoseDetector, images: Sequence[np.ndarray],
                frame_indices: Sequence[int | None] | None = None) -> list[list[Detection]]:
    """Reference: one ``detect`` call per frame, in order."""
    indices = list(frame_indices) if frame_indices is not None else [None] * len(images)
    return [detector.detect(img, frame_index=i) for img, i in zip(images, indices)]


class SequentialBatch:
    """Any single-frame detector behind the batch interface (one ``detect`` per frame)."""

    def __init__(self, detector: PoseDetector) -> None:
        self.detector = detector

    def detect(self, image_bgr: np.ndarray, *, frame_index: int | None = None) -> list[Detection]:
        return self.detector.detect(image_bgr, frame_index=frame_index)

    def detect_batch(self, images, *, frame_indices=None, camera_ids=None) -> list[list[Detection]]:
        return detect_each(self.detector, images, frame_indices)


def as_batch_detector(detector: PoseDetector) -> BatchDetector:
    """``detector`` itself when it batches, else a :class:`SequentialBatch` around it."""
    return detector if isinstance(detector, BatchDetector) else SequentialBatch(detector)


class CameraDetectors:
    """Per-camera detectors behind one batch interface: frame i goes to ``camera_ids[i]``'s."""

    def __init__(self, detectors: Mapping[str, PoseDetector]) -> None:
        if not detectors:
            raise StreamError("CameraDetectors needs at least one camera")
        self.detectors = dict(detectors)

    def detect_batch(self, images, *, frame_indices=None, camera_ids=None) -> list[list[Detection]]:
        if camera_ids is None or len(camera_ids) != len(images):
            raise StreamError(f"per-camera detectors need one camera id per frame, got "
                              f"{None if camera_ids is None else len(camera_ids)} for {len(images)} frames")
        indices = list(frame_indices) if frame_indices is not None else [None] * len(images)
        out = []
        for img, index, cam in zip(images, indices, camera_ids):
            if cam not in self.detectors:
                raise StreamError(f"no detector for camera {cam!r}; have {sorted(self.detectors)}")
            out.append(self.detectors[cam].detect(img, frame_index=index))
        return out


class CountingBatchDetector:
    """Counts calls, frames and the size of each batch of the detector it wraps.

    Plain ints, written by the one thread that detects and read by others (a stale read is
    harmless), as the decode counters are.
    """

    def __init__(self, inner: BatchDetector) -> None:
        self.inner = inner
        self.calls = 0
        self.frames = 0
        self.largest_batch = 0
        self.batch_sizes: collections.Counter[int] = collections.Counter()

    def detect_batch(self, images, *, frame_indices=None, camera_ids=None) -> list[list[Detection]]:
        found = self.inner.detect_batch(images, frame_indices=frame_indices, camera_ids=camera_ids)
        if len(found) != len(images):
            raise StreamError(f"batch detector answered {len(found)} frames for {len(images)}")
        self.calls += 1
        self.frames += len(images)
        self.largest_batch = max(self.largest_batch, len(images))
        self.batch_sizes[len(images)] += 1
        return found

    @property
    def mean_batch(self) -> float:
        return self.frames / self.calls if self.calls else 0.0


class OneCamera:
    """One camera's single-frame view of a shared batch detector (a batch of one)."""

    def __init__(self, shared: BatchDetector, camera_id: str) -> None:
        self.shared, self.camera_id = shared, camera_id

    def detect(self, image_bgr: np.ndarray, *, frame_index: int | None = None) -> list[Detection]:
        return self.shared.detect_batch([image_bgr], frame_indices=[frame_index], camera_ids=[self.camera_id])[0]
