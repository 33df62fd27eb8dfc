"""Run a frame source on a background thread into a bounded queue.

A slow consumer must never grow memory: with ``drop_oldest=True`` (live cameras) a full queue
evicts its OLDEST frame, counted in ``stats.frames_dropped``, so the consumer always gets the
freshest picture. ``drop_oldest=False`` blocks the decoder instead (offline files, benchmarks),
where every frame matters more than latency.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Iterator

from ..errors import StreamError
from .frame import DecodeStats, Frame, FrameSource

log = logging.getLogger(__name__)
DROP_WARN_EVERY_S = 10.0   # a stalled consumer drops every frame; one warning per this many seconds


class DecodeWorker:
    """``start()``, then ``get(timeout_s)`` frames until ``done``; ``stop()`` joins the thread.

    ``get`` returns None on timeout or once the source has ended and the queue is drained. An
    error the source raised is re-raised by ``get`` after the frames queued before it.
    """

    def __init__(self, source: FrameSource, queue_frames: int, *, drop_oldest: bool = True) -> None:
        if not 1 <= queue_frames <= 1024:
            raise StreamError(f"queue_frames must be in [1, 1024], got {queue_frames!r}")
        self.source = source
        self.capacity = int(queue_frames)
        self.drop_oldest = bool(drop_oldest)
        self._queue: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._ended = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"decode-{source.camera_id}", daemon=True)
        self._drops_logged = 0           # frames_dropped at the last warning
        self._drop_warned_s = -DROP_WARN_EVERY_S

    @property
    def stats(self) -> DecodeStats:
        return self.source.stats

    @property
    def done(self) -> bool:
        """The source has ended (or failed) and every queued frame has been taken."""
        with self._cond:
            return self._ended and not self._queue

    def qsize(self) -> int:
        with self._cond:
            return len(self._queue)

    def start(self) -> DecodeWorker:
        self._thread.start()
        return self

    def _run(self) -> None:
        frames = self.source.frames(self._stop)
        try:
            for frame in frames:
                if not self._put(frame):
                    break
        except Exception as exc:  # handed to the consumer through get(), never lost
            log.error("decode source failed", extra={"kv": {"camera": self.source.camera_id, "error": exc}})
            self._error = exc
        finally:
            frames.close()  # runs the source's own cleanup now, not at garbage collection
            self.source.close()
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _put(self, frame: Frame) -> bool:
        dropped = None
        with self._cond:
            if self.drop_oldest:
                if len(self._queue) >= self.capacity:
                    dropped = self._queue.popleft()
                    self.stats.frames_dropped += 1
            else:
                while len(self._queue) >= self.capacity:
                    if self._stop.is_set():
                        return False
                    self._cond.wait(0.1)  # bounded: re-checks stop
            self._queue.append(frame)
            self._cond.notify_all()
        if dropped is not None:
            self._warn_drop(dropped)
        return not self._stop.is_set()

    def _warn_drop(self, dropped: Frame) -> None:
        """Say when frames are lost, at most once per ``DROP_WARN_EVERY_S``: the counter tells how
        many, the log tells when, which is what finds the stall that caused them."""
        now = time.monotonic()
        if now - self._drop_warned_s < DROP_WARN_EVERY_S:
            return
        total = self.stats.frames_dropped
        log.warning("decode queue full: consumer stalled, oldest frames dropped",
                    extra={"kv": {"camera": self.source.camera_id, "frame": dropped.index,
                                  "t_s": round(dropped.t_s, 3), "dropped_since_last": total - self._drops_logged,
                                  "dropped_total": total, "queue_frames": self.capacity}})
        self._drops_logged = total
        self._drop_warned_s = now

    def get(self, timeout_s: float | None = None) -> Frame | None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while not self._queue:
                if self._ended:
                    if self._error is not None:
                        err, self._error = self._error, None
                        raise err
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame = self._queue.popleft()
            self._cond.notify_all()
            return frame

    def __iter__(self) -> Iterator[Frame]:
        """Every frame until the source ends (blocking)."""
        while True:
            frame = self.get(timeout_s=None)
            if frame is None:
                return
            yield frame

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the source to stop and join the thread; raise StreamError if it does not end."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise StreamError(f"decode thread for camera {self.source.camera_id!r} did not stop "
                                  f"within {timeout_s} s")

    def __enter__(self) -> DecodeWorker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
