"""Several cameras on one box, one detector: rounds of batched detection over per-camera pipelines.

Each camera keeps what makes it a camera: its decode worker, its :class:`IngestPipeline`
(schedule, tracker, tracklet builder, ids ``cam:n``), its sender and metrics. Only the pose
detector is shared. A *round* is:

1. for each camera in turn, take its frames in order; frames its schedule does not want detected
   are tracked at once (prediction only), until the first frame that is due (or none is left);
2. the due frames of all cameras (one per camera at most) go through the shared detector in one
   ``detect_batch`` call, i.e. one ``session.run`` for up to ``detect.max_batch`` cameras;
3. each camera's pipeline takes its own frame's detections.

A camera's frames therefore reach its tracker in the same order with the same detections as in
a single-camera ingest, whatever the batching: the output of a file is the same either way.

Waiting: a file read with back-pressure (``drop_oldest=False``) is waited for until its next frame
exists, so every round holds one due frame from every camera still running (full batches, the
same rounds on every run). A live source is never waited for beyond ``live_wait_s`` per round: a
slow or stalled camera must not hold the others' frames, so its due frame joins a later round.
Every wait is bounded, so ``stop`` is honoured within ``POLL_S``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..decode.frame import Frame
from ..decode.worker import DecodeWorker
from ..detect.batch import BatchDetector, CountingBatchDetector
from ..errors import StreamError
from .ingest import IngestPipeline

log = logging.getLogger(__name__)

POLL_S = 0.2   # longest single wait on a file's decoder, so a stop request is seen


@dataclass
class Lane:
    """One camera: where its frames come from and where they go."""

    pipeline: IngestPipeline
    worker: DecodeWorker

    @property
    def camera_id(self) -> str:
        return self.pipeline.camera_id

    @property
    def live(self) -> bool:
        return self.worker.drop_oldest

    def backlog(self) -> float | None:
        """The decode queue's fill for a live source (the schedule backs off on it), else None."""
        return self.worker.qsize() / self.worker.capacity if self.live else None


class MultiIngest:
    """``step()`` runs one round (see the module doc) and returns the frames it advanced; ``done``
    once every camera's source has ended and its queue is drained; ``finish()`` at the end."""

    def __init__(self, lanes: Sequence[Lane], detector: BatchDetector, *, live_wait_s: float = 0.02,
                 stop: threading.Event | None = None) -> None:
        cams = [lane.camera_id for lane in lanes]
        if not lanes or len(set(cams)) != len(cams):
            raise StreamError(f"multi-camera ingest needs distinct cameras, got {cams}")
        if not 0 <= live_wait_s <= 10:
            raise StreamError(f"live_wait_s={live_wait_s}: must be within 0..10 s")
        self.lanes = list(lanes)
        self.detector = CountingBatchDetector(detector)
        self.live_wait_s = float(live_wait_s)
        self.stop = stop if stop is not None else threading.Event()
        self.rounds = 0

    @property
    def done(self) -> bool:
        return all(lane.worker.done for lane in self.lanes)

    def step(self) -> int:
        deadline = time.monotonic() + self.live_wait_s
        advanced = 0
        due: list[tuple[Lane, Frame]] = []
        for lane in self.lanes:
            frame, n = self._next_due(lane, deadline)
            advanced += n
            if frame is not None:
                due.append((lane, frame))
        if due:
            self.rounds += 1
            t0 = time.perf_counter()
            views = [lane.pipeline.detector_view(f) for lane, f in due]
            found = self.detector.detect_batch(views, frame_indices=[f.index for _, f in due],
                                               camera_ids=[lane.camera_id for lane, _ in due])
            detect_s = time.perf_counter() - t0
            for (lane, frame), view, detections in zip(due, views, found):
                lane.pipeline.advance(frame, lane.pipeline.to_frame(detections, frame, view), detect_s=detect_s)
            advanced += len(due)
        return advanced

    def _next_due(self, lane: Lane, deadline: float) -> tuple[Frame | None, int]:
        """Track ``lane``'s frames that need no detection; return its next due frame (or None)."""
        advanced = 0
        while not self.stop.is_set():
            timeout = max(0.0, deadline - time.monotonic()) if lane.live else POLL_S
            frame = lane.worker.get(timeout_s=timeout)
            if frame is None:
                if lane.live or lane.worker.done:
                    return None, advanced
                continue   # a file's decoder is behind: wait for it (bounded, sees stop)
            if lane.pipeline.needs_detection(frame, lane.backlog()):
                return frame, advanced
            lane.pipeline.advance(frame, None)
            advanced += 1
        return None, advanced

    def run(self) -> None:
        """Rounds until every source has ended or ``stop`` is set (no daemon chores in between)."""
        while not self.stop.is_set() and not self.done:
            self.step()

    def warm_up(self, sizes: dict[str, tuple[int, int]]) -> None:
        """One batch of blank frames, (width, height) per camera, before the streams start:
        onnxruntime plans its first run of a batch size for seconds, long enough for live queues
        to drop frames. Cameras whose size is not known yet (live, before connecting) are left out."""
        import numpy as np

        cams = [lane.camera_id for lane in self.lanes if lane.camera_id in sizes]
        if cams:
            self.detector.inner.detect_batch([np.zeros((sizes[c][1], sizes[c][0], 3), np.uint8) for c in cams],
                                             frame_indices=[0] * len(cams), camera_ids=cams)

    def finish(self, timeout_s: float = 120.0) -> None:
        """End of streams: close every camera's open tracks and wait for their embeddings."""
        for lane in self.lanes:
            lane.pipeline.finish(timeout_s)

    def stats(self) -> dict[str, float | int]:
        d = self.detector
        return {"rounds": self.rounds, "detector_runs": d.calls, "frames_detected": d.frames,
                "mean_batch": round(d.mean_batch, 2), "largest_batch": d.largest_batch}
