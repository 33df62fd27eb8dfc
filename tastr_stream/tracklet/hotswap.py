"""Live weight hot-swap: verify and load announced checkpoints off the hot path.

The trainer announces ``{version, path, sha256}`` (a ``WeightsAnnouncement``). Reading a
~100 MB file, hashing it, building the network and moving it to the GPU takes far longer than
one batch, so ``WeightSwapper`` does all of that on its own thread and hands the extractor a
ready model; the extractor only swaps a reference between batches (see ``extractor.py``).

Rules: versions must increase (an announcement not newer than what is serving or pending is
ignored and counted); everything else about a checkpoint (where the file is, whether it is the
announced one, its header version, architecture and emb_dim) is decided by the lifecycle every
daemon shares (``models.lifecycle.ModelLifecycle``): a refused checkpoint is logged once with its
reason, counted, and the old model keeps serving.

Edge boxes do not share the trainer's disk: with a ``resolver`` (``wire.checkpoints.
CheckpointResolver``) an announced path this box lacks is fetched from the trainer's checkpoint
server on this same background thread; a failed fetch is a rejection ("missing") like a corrupt file.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ..errors import ModelError
from ..models.lifecycle import ModelLifecycle, Rejections
from ..wire.records import WeightsAnnouncement
from .extractor import BackgroundExtractor

if TYPE_CHECKING:
    from ..wire.checkpoints import CheckpointResolver

log = logging.getLogger(__name__)

# Outcomes an announcement's Future resolves to.
HANDED_OVER = "handed_over"   # verified, loaded and queued for the swap at the next batch boundary
STALE = "stale"               # not newer than the serving/pending version: ignored
REJECTED = "rejected"         # checkpoint unusable: old model keeps serving


class WeightSwapper:
    """Loads announced checkpoints on a background thread and hands them to ``target``.

    ``lifecycle`` verifies and builds each announced model (``models.lifecycle``). Without one, it
    is made from ``expect_backbone`` / ``expect_emb_dim`` (a checkpoint of another architecture is
    rejected: embeddings of another size would break everything downstream), ``resolver`` (maps
    each announcement to a local verified file, fetching it when this box lacks ``ann.path``; None
    loads ``ann.path`` as announced) and ``loader`` ((path, sha256) -> (model, header), replacing
    ``model_from_checkpoint`` in tests).
    """

    def __init__(self, target: BackgroundExtractor, *, expect_backbone: str | None = None,
                 expect_emb_dim: int | None = None,
                 loader: Callable[[str, str], tuple[Any, dict]] | None = None,
                 resolver: CheckpointResolver | None = None, lifecycle: ModelLifecycle | None = None,
                 max_queued: int = 16, name: str = "weight-swapper") -> None:
        self.target = target
        self.lifecycle = lifecycle or ModelLifecycle(
            expect_backbone, expect_emb_dim, resolve=resolver.resolve if resolver is not None else None,
            read=loader, rejections=Rejections("ingest"))
        self._queue: queue.Queue[tuple[WeightsAnnouncement, Future] | None] = queue.Queue(max_queued)
        self._lock = threading.Lock()
        self._counts = {"handed_over": 0, "stale": 0, "rejected": 0}
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> WeightSwapper:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        if self._thread.is_alive():
            self._queue.put(None, timeout=timeout_s)
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise ModelError(f"weight swapper did not stop within {timeout_s} s")

    def __enter__(self) -> WeightSwapper:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def announce(self, ann: WeightsAnnouncement | tuple[int, str, str], timeout_s: float = 5.0) -> Future:
        """Queue an announcement; the Future resolves to HANDED_OVER, STALE or REJECTED."""
        if isinstance(ann, tuple):
            if len(ann) != 3:
                raise ModelError(f"announcement tuple must be (version, path, sha256), got {ann!r}")
            version, path, sha = ann
            ann = WeightsAnnouncement(version=int(version), path=str(path), sha256=str(sha),
                                      backbone="", emb_dim=0)
        if not isinstance(ann, WeightsAnnouncement):
            raise ModelError(f"expected a WeightsAnnouncement, got {type(ann).__name__}")
        fut: Future = Future()
        self._queue.put((ann, fut), timeout=timeout_s)
        return fut

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    # ---- worker ---------------------------------------------------------------------------
    def _count(self, outcome: str) -> str:
        with self._lock:
            self._counts[outcome] += 1
        return outcome

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            ann, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(self._handle(ann))
            except Exception as exc:  # a bug here must not end hot-swapping for the process
                log.exception("weights announcement handling failed", extra={"kv": {"path": ann.path}})
                fut.set_exception(exc)

    def _handle(self, ann: WeightsAnnouncement) -> str:
        newest = self.target.newest_version
        if ann.version <= newest:
            log.info("stale weights announcement ignored",
                     extra={"kv": {"version": ann.version, "newest": newest, "path": ann.path}})
            return self._count(STALE)
        loaded = self.lifecycle.try_load(ann, serving=self.target.model_version,
                                         prepare=self.target.extractor.prepare)
        if loaded is None:
            return self._count(REJECTED)
        if not self.target.request_swap(loaded.model, ann.version):
            return self._count(STALE)
        log.info("new weights handed to the extractor",
                 extra={"kv": {"version": ann.version, "path": loaded.path,
                               "backbone": loaded.header.get("backbone")}})
        return self._count(HANDED_OVER)
