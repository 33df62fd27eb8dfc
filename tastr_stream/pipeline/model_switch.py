"""Switching the associator to a newly announced model without stopping its loop.

Loading a checkpoint (maybe fetched from the trainer) and re-embedding a window of thousands of
tracklets from their crops takes minutes on a CPU; done on the daemon's loop it would stall
intake (senders spool and retry), lookups and metrics for all that time. So a ``ModelSwitch``
does both on one worker thread and the loop only applies the finished result
(``AssociatorCore.apply_swap``), which also embeds the few tracklets that arrived meanwhile.
Until then the window keeps comparing with the old version: never two versions at once.

A newer announcement while one is in flight cancels it (between tracklets) and starts over; a
checkpoint that cannot be loaded is remembered, so the trainer's periodic repeats of the same
announcement are not retried and re-logged every time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import TastrError
from ..wire.records import WeightsAnnouncement
from .associator import AssociatorCore

log = logging.getLogger(__name__)

# (announcement) -> embed_crops(list[bytes]) -> (mean embedding, version); raises TastrError/OSError.
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
    def __init__(self, core: AssociatorCore, load: Loader):
        self.core = core
        self._load = load
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-switch")
        self._inflight: _InFlight | None = None
        self._rejected: set[tuple[int, str]] = set()

    @property
    def busy(self) -> bool:
        return self._inflight is not None

    def offer(self, ann: WeightsAnnouncement) -> bool:
        """Start switching to ``ann`` when it is newer than what serves and what is in flight."""
        if ann.version <= self.core.model_version or (ann.version, ann.sha256) in self._rejected:
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

    def _prepare(self, ann: WeightsAnnouncement, ids: list[str], cancel: threading.Event):
        embed_crops = self._load(ann)
        feats = self.core.reembed_window(embed_crops, ann.version, ids, cancelled=cancel.is_set)
        return embed_crops, feats

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
            n = self.core.apply_swap(embed_crops, job.ann.version, feats)
        except (TastrError, OSError) as exc:
            self._rejected.add((job.ann.version, job.ann.sha256))
            log.error("announced checkpoint rejected; keeping the current model",
                      extra={"kv": {"version": job.ann.version, "path": job.ann.path, "error": exc}})
            return None
        return SwitchDone(job.ann.version, n, time.perf_counter() - job.started_s)

    def wait(self, timeout_s: float) -> SwitchDone | None:
        """Block until the switch in flight finished and apply it (tests, shutdown)."""
        job = self._inflight
        if job is None:
            return None
        try:
            job.future.exception(timeout=timeout_s)
        except TimeoutError:
            return None
        return self.poll()

    def close(self) -> None:
        if self._inflight is not None:
            self._inflight.cancel.set()
        self._pool.shutdown(wait=True)
