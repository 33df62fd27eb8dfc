"""Switching the associator to a newly announced model without stopping its loop.

Loading a checkpoint (maybe fetched from the trainer) and re-embedding a window of thousands of
tracklets from their crops takes minutes on a CPU; done on the daemon's loop it would stall
intake (senders spool and retry), lookups and metrics for all that time. So a ``ModelSwitch``
does both on one worker thread and the loop only applies the finished result
(``AssociatorCore.apply_swap``). Tracklets that arrived meanwhile get a catch-up pass on the
worker when there are many, and are embedded on the loop only when a few remain.
Until then the window keeps comparing with the old version: never two versions at once.

A newer announcement while one is in flight cancels it (between tracklets) and starts over. The
checkpoint is verified and built by the lifecycle ingest uses too (``models.lifecycle``; the
daemon's ``load`` calls ``ModelLifecycle.load``), and refusals go to the same ``Rejections``: logged
once with their reason and counted; a refusal for good (a corrupt or mismatched file, or a window
that could not be re-embedded with it) is remembered, so the trainer's periodic repeats of the same
announcement are not retried, while one that may heal (a file not fetched yet) is tried again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..background import lower_priority
from ..errors import TastrError
from ..models.checkpoint import LOAD, REEMBED, CheckpointRejected
from ..models.lifecycle import Rejections
from ..wire.records import WeightsAnnouncement
from .associator import AssociatorCore

log = logging.getLogger(__name__)

# At most this many late arrivals are embedded on the loop when a switch is applied; more go back
# to the worker first (a catch-up pass), so the loop never stalls for long.
CATCH_UP_ON_LOOP = 4

# (announcement) -> embed_crops(list[bytes]) -> (mean embedding, version); raises CheckpointRejected
# (other TastrError/OSError count as LOAD: verified or not, it could not be built here).
Loader = Callable[[WeightsAnnouncement], Any]


@dataclass(frozen=True)
class SwitchDone:
    version: int
    tracklets: int
    seconds: float


@dataclass
class _InFlight:
    ann: WeightsAnnouncement
    cancel: threading.Event
    future: Future
    started_s: float


class ModelSwitch:
    def __init__(self, core: AssociatorCore, load: Loader, rejections: Rejections | None = None,
                 niceness: int = 0):
        self.core = core
        self._load = load
        self.rejections = rejections or Rejections("associator")
        self.worker_niceness: int | None = None     # as the worker found it, once it started
        # The worker yields the CPU to live work at ``niceness`` (tastr_stream/background.py).
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-switch",
                                        initializer=self._start_worker, initargs=(niceness,))
        self._inflight: _InFlight | None = None

    def _start_worker(self, niceness: int) -> None:
        self.worker_niceness = lower_priority(niceness)

    @property
    def busy(self) -> bool:
        return self._inflight is not None

    def offer(self, ann: WeightsAnnouncement) -> bool:
        """Start switching to ``ann`` when it is newer than what serves and what is in flight."""
        self.core.note_version(ann.version)   # edge boxes may embed with it before this switch is done
        if ann.version <= self.core.model_version or self.rejections.final(ann) is not None:
            return False
        if self._inflight is not None:
            if ann.version <= self._inflight.ann.version:
                return False
            log.info("newer model announced; abandoning the switch in flight",
                     extra={"kv": {"abandoned": self._inflight.ann.version, "version": ann.version}})
            self._inflight.cancel.set()
        cancel = threading.Event()
        ids = self.core.window_ids()          # snapshot on the loop's thread; the window moves on
        future = self._pool.submit(self._prepare, ann, ids, cancel)
        self._inflight = _InFlight(ann, cancel, future, time.perf_counter())
        return True

    def _prepare(self, ann: WeightsAnnouncement, ids: list[str], cancel: threading.Event, embed_crops=None,
                 feats: dict | None = None):
        if embed_crops is None:
            try:
                embed_crops = self._load(ann)
            except CheckpointRejected:
                raise
            except (TastrError, OSError) as exc:
                raise CheckpointRejected(LOAD, f"checkpoint v{ann.version} ({ann.path}): cannot load: "
                                               f"{type(exc).__name__}: {exc}") from exc
        fresh = self.core.reembed_window(embed_crops, ann.version, ids, cancelled=cancel.is_set)
        return embed_crops, {**(feats or {}), **fresh}

    def poll(self) -> SwitchDone | None:
        """On the loop's thread: apply a finished switch. None while nothing finished."""
        job = self._inflight
        if job is None or not job.future.done():
            return None
        self._inflight = None
        if job.cancel.is_set():
            return None
        try:
            embed_crops, feats = job.future.result()
            missing = [t for t in self.core.window_ids() if t not in feats]
            if len(missing) > CATCH_UP_ON_LOOP:
                # Many tracklets arrived during the re-embedding: embed those off the loop too.
                future = self._pool.submit(self._prepare, job.ann, missing, job.cancel, embed_crops, feats)
                self._inflight = _InFlight(job.ann, job.cancel, future, job.started_s)
                return None
            n = self.core.apply_swap(embed_crops, job.ann.version, feats)
        except CheckpointRejected as exc:
            self.rejections.record(job.ann, exc, self.core.model_version)
            return None
        except (TastrError, OSError) as exc:     # the checkpoint loaded; re-embedding the window failed
            self.rejections.record(job.ann, CheckpointRejected(REEMBED, f"re-embedding the window with "
                                                                        f"v{job.ann.version} failed: {exc}"),
                                   self.core.model_version)
            return None
        return SwitchDone(job.ann.version, n, time.perf_counter() - job.started_s)

    def wait(self, timeout_s: float) -> SwitchDone | None:
        """Block until the switch in flight finished and apply it (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._inflight is not None:
            try:
                self._inflight.future.exception(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return None
            done = self.poll()
            if done is not None:
                return done
        return None

    def close(self) -> None:
        if self._inflight is not None:
            self._inflight.cancel.set()
        self._pool.shutdown(wait=True)
