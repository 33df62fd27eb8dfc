"""One camera's edge pipeline: frame -> detect -> track -> tracklet -> embed -> publish.

Detection runs on the frames the :class:`DetectionSchedule` picks (``detect.rate_hz`` of stream
time, backing off when the decode queue fills); on the others the tracker predicts and nothing
looks at the pixels, so those frames are never even converted to BGR (``Frame.image`` is lazy).
Detection, tracking and tracklet building run on the caller's thread, frame by frame; Re-ID
embedding runs on the :class:`BackgroundExtractor`'s thread so a slow model never stalls decode.
Several cameras sharing one detector (``pipeline.multi_ingest``) split ``process`` in two:
``needs_detection(frame)`` asks the schedule, the caller detects the due frames of all cameras
in one batch, and ``advance(frame, detections)`` tracks and builds (``None``: predict only).
``process`` is exactly those two steps with this pipeline's own detector in between.
A closed tracklet is handed to the extractor; when its embedding is ready the finished
tracklet (with the model version that made it) goes to ``publish``, which in the daemon puts it
in the disk spool of the reliable sender. A file source's ``ledger`` (``pipeline.resume``) is told
each tracklet as it closes, each frame once its tracklets are registered, and each tracklet right
before it is published or dropped, so a restart continues where the file stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import Future
from typing import Callable

import numpy as np

from ..config.ingest import IngestConfig
from ..config.model import ModelConfig
from ..decode.frame import Frame
from ..detect.base import PoseDetector, fit_size, map_to_full
from ..detect.schedule import DetectionSchedule
from ..errors import StreamError
from ..serve.metrics import IngestMetrics
from ..track import PoseTracker
from ..tracklet.builder import TrackletBuilder, crops_to_embed
from ..tracklet.extractor import BackgroundExtractor, EmbedResult
from ..wire.records import Detection, Tracklet
from .resume import ResumeLedger

log = logging.getLogger(__name__)


class IngestPipeline:
    def __init__(self, camera_id: str, config: IngestConfig, detector: PoseDetector,
                 extractor: BackgroundExtractor, publish: Callable[[Tracklet], None],
                 metrics: IngestMetrics | None = None, session: str | None = None,
                 ledger: ResumeLedger | None = None,
                 crops_per_tracklet: int = ModelConfig.model_fields["crops_per_tracklet"].default):
        self.camera_id = camera_id
        self.crops_per_tracklet = int(crops_per_tracklet)   # [model]: the crops an embedding averages
        self.config = config
        self.detector = detector
        self.extractor = extractor
        self.publish = publish
        self.metrics = metrics
        self.ledger = ledger
        self.tracker = PoseTracker(camera_id, config.track, config.detect.min_keypoint_score,
                                   high_score=config.detect.score_threshold)
        self.builder = TrackletBuilder(camera_id, config.tracklet, session=session)
        self.schedule = DetectionSchedule(config.detect.rate_hz, config.detect.min_rate_hz)
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self.frames = 0
        self.detected_frames = 0
        self._backoffs_exported = 0
        self._due_index: int | None = None   # the frame needs_detection said is due, until advanced
        self._first_t_s: float | None = None
        self._last_t_s: float | None = None
        self._last_index = -1
        self.published = 0
        self.embed_failures = 0

    def process(self, frame: Frame, backlog: float | None = None) -> list[Tracklet]:
        """Run one frame through detect/track/build; returns the tracklets that closed (pre-embedding).

        ``backlog`` is the decode queue's fill (0..1) for a live source, so the schedule can back
        off under overload; None (files read with back-pressure) keeps the configured rate, which
        makes a file's output the same on every run.
        """
        due = self.needs_detection(frame, backlog)
        t0 = time.perf_counter()
        detections = None
        if due:
            view = self.detector_view(frame)
            detections = self.to_frame(self.detector.detect(view, frame_index=frame.index), frame, view)
        return self.advance(frame, detections, detect_s=time.perf_counter() - t0)

    def detector_view(self, frame: Frame) -> np.ndarray:
        """The picture the detector is given. A learned backend (YOLO, HOG) detects on a copy
        fitted inside ``detect.input_width`` x ``input_height``: it is scaled straight from the
        decoded planes (``Frame.resized``), so a 4K frame is never converted whole for it. The
        oracle reads ground truth in the frame's own pixels and gets the frame as it is."""
        cfg = self.config.detect
        if cfg.backend == "oracle":
            return frame.image
        w, h, _ = fit_size(frame.width, frame.height, cfg.input_width, cfg.input_height)
        return frame.image if (w, h) == (frame.width, frame.height) else frame.resized(w, h)

    @staticmethod
    def to_frame(detections: list[Detection], frame: Frame, view: np.ndarray) -> list[Detection]:
        """Detections made on ``detector_view(frame)`` in the frame's full-resolution pixels."""
        return map_to_full(detections, (frame.width, frame.height), view.shape[1], view.shape[0])

    def needs_detection(self, frame: Frame, backlog: float | None = None) -> bool:
        """Whether the schedule wants ``frame`` detected (``backlog`` as for ``process``).

        Call once per frame, in order, each followed by ``advance`` for the same frame.
        """
        if backlog is not None:
            self.schedule.note_backlog(backlog)
        due = self.schedule.due(frame.t_s)
        self._due_index = frame.index if due else None
        return due

    def advance(self, frame: Frame, detections: list[Detection] | None,
                detect_s: float = 0.0) -> list[Tracklet]:
        """Track and build one frame: with its detections when it was due, else predict only.

        ``detect_s`` is the detector's time for this frame (the whole batch's, in a shared
        batch: the latency the frame saw). Returns the tracklets that closed (pre-embedding).
        """
        if (detections is not None) != (self._due_index == frame.index):
            raise StreamError(f"camera {self.camera_id!r} frame {frame.index}: detections "
                              f"{'given' if detections is not None else 'missing'} but the schedule "
                              f"{'did not ask for' if detections is not None else 'asked for'} them")
        self._due_index = None
        t1 = time.perf_counter()
        if detections is not None:
            step = self.tracker.update(detections, frame.index, frame.t_s, frame_size=(frame.width, frame.height))
            closed = self.builder.add(frame, step.observations, step.ended_track_ids)
            self.detected_frames += 1
            if self.metrics:
                self.metrics.detect_seconds.observe(detect_s)
                self.metrics.detections.inc(len(detections))
                self.metrics.frames_detected.inc()
                if self.schedule.backoffs > self._backoffs_exported:
                    self.metrics.detect_backoffs.inc(self.schedule.backoffs - self._backoffs_exported)
                    self._backoffs_exported = self.schedule.backoffs
        else:
            step = self.tracker.predict(frame.index, frame.t_s)
            closed = self.builder.add(None, step.observations, step.ended_track_ids)
        t2 = time.perf_counter()
        self.frames += 1
        if self._first_t_s is None:
            self._first_t_s = frame.t_s
        self._last_t_s = frame.t_s
        self._last_index = frame.index
        if self.metrics:
            self.metrics.track_seconds.observe(t2 - t1)
            self.metrics.open_tracks.set(self.builder.open_count)
            self.metrics.detect_rate.set(self.schedule.current_rate_hz)
        if self.ledger:
            for t in closed:
                self.ledger.closed(t.tracklet_id, frame.index, frame.t_s)
        for t in closed:
            self._embed(t)
        if self.ledger:
            self.ledger.advanced(frame.index, frame.t_s)
        return closed

    @property
    def detection_rate_hz(self) -> float:
        """Frames detected per second of stream time so far (0 before two frames)."""
        if self._first_t_s is None or self._last_t_s is None or self._last_t_s <= self._first_t_s:
            return 0.0
        return self.detected_frames / (self._last_t_s - self._first_t_s)

    def warm_up(self, width: int, height: int) -> None:
        """One detection on a blank frame before the stream starts: onnxruntime's first run
        allocates and plans for seconds, long enough for a live queue to drop frames."""
        import numpy as np

        self.detector.detect(np.zeros((height, width, 3), np.uint8), frame_index=0)

    def finish(self, timeout_s: float = 120.0) -> None:
        """End of stream: close every open track and wait until their embeddings are published."""
        self.tracker.finish()
        closed = self.builder.flush()
        if self.ledger:   # closed by the end of the stream: after the last frame read
            for t in closed:
                self.ledger.closed(t.tracklet_id, self._last_index + 1, self._last_t_s or 0.0)
        for t in closed:
            self._embed(t)
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.01)

    def _embed(self, tracklet: Tracklet) -> None:
        submitted_s = time.perf_counter()
        future = self.extractor.submit(crops_to_embed(tracklet.crops_jpeg, self.crops_per_tracklet),
                                       job_id=tracklet.tracklet_id)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(lambda f: self._on_embedded(tracklet, f, submitted_s))

    def _on_embedded(self, tracklet: Tracklet, future: Future, submitted_s: float) -> None:
        # Leave ``_pending`` only after publishing: ``finish`` waits on it, and a future counts as
        # done before its callbacks have run.
        try:
            self._publish_embedded(tracklet, future, submitted_s)
        finally:
            with self._lock:
                self._pending.discard(future)

    def _publish_embedded(self, tracklet: Tracklet, future: Future, submitted_s: float) -> None:
        if future.cancelled() or future.exception() is not None:
            if self.ledger:
                self.ledger.dropped(tracklet.tracklet_id)
            self.embed_failures += 1
            log.error("embedding failed; tracklet dropped",
                      extra={"kv": {"tracklet": tracklet.tracklet_id, "error": future.exception()}})
            return
        result: EmbedResult = future.result()
        if result.embedding is None:
            if self.ledger:
                self.ledger.dropped(tracklet.tracklet_id)
            self.embed_failures += 1
            log.warning("no decodable crop; tracklet dropped", extra={"kv": {"tracklet": tracklet.tracklet_id}})
            return
        done = dataclasses.replace(tracklet, embedding=result.embedding, model_version=result.model_version)
        if self.metrics:
            self.metrics.embed_seconds.observe(time.perf_counter() - submitted_s)
        try:
            if self.ledger:   # write-ahead: a crash before the spool write loses this one, never repeats it
                self.ledger.committing(tracklet.tracklet_id)
            self.publish(done)
        except Exception:  # the extractor thread must survive a failing publisher; counted and logged
            self.embed_failures += 1
            log.exception("publishing a tracklet failed", extra={"kv": {"tracklet": tracklet.tracklet_id}})
            return
        self.published += 1
        if self.metrics:
            self.metrics.tracklets_published.inc()
