"""Live weight hot-swap: verify and load announced checkpoints off the hot path.

The trainer announces ``{version, path, sha256}`` (a ``WeightsAnnouncement``). Reading a
~100 MB file, hashing it, building the network and moving it to the GPU takes far longer than
one batch, so ``WeightSwapper`` does all of that on its own thread and hands the extractor a
ready model; the extractor only swaps a reference between batches (see ``extractor.py``).

Rules: versions must increase (an announcement not newer than what is serving or pending is
ignored and counted); a missing, truncated, corrupt, checksum-mismatched or wrong-architecture
checkpoint is logged once (path and reason), counted, and the old model keeps serving.

Edge boxes do not share the trainer's disk: with a ``resolver`` (``wire.checkpoints.
CheckpointResolver``) an announced path this box lacks is fetched from the trainer's checkpoint
server on this same background thread; a failed fetch is a rejection like a corrupt file.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ..errors import ModelError, WireError
from ..models.checkpoint import model_from_checkpoint
from ..wire.records import WeightsAnnouncement
from .extractor import BackgroundExtractor

if TYPE_CHECKING:
    from ..wire.checkpoints import CheckpointResolver

log = logging.getLogger(__name__)

# Outcomes an announcement's Future resolves to.
HANDED_OVER = "handed_over"   # verified, loaded and queued for the swap at the next batch boundary
STALE = "stale"               # not newer than the serving/pending version: ignored
REJECTED = "rejected"         # checkpoint unusable: old model keeps serving
_REMEMBERED_REJECTIONS = 256


class WeightSwapper:
    """Loads announced checkpoints on a background thread and hands them to ``target``.

    ``expect_emb_dim`` / ``expect_backbone``: when set, a checkpoint of another architecture is
    rejected (embeddings of another size would break everything downstream).
    ``loader`` (path, sha256) -> (model, header) replaces ``model_from_checkpoint`` in tests.
    ``resolver``: maps each announcement to a local verified file (fetching it when this box lacks
    ``ann.path``) before ``loader`` reads it; None loads ``ann.path`` as announced.
    """

    def __init__(self, target: BackgroundExtractor, *, expect_backbone: str | None = None,
                 expect_emb_dim: int | None = None,
                 loader: Callable[[str, str], tuple[Any, dict]] | None = None,
                 resolver: CheckpointResolver | None = None,
                 max_queued: int = 16, name: str = "weight-swapper") -> None:
        self.target = target
        self._resolver = resolver
        self._expect_backbone = expect_backbone
        self._expect_emb_dim = expect_emb_dim
        self._loader = loader or self._load_verified
        self._queue: queue.Queue[tuple[WeightsAnnouncement, Future] | None] = queue.Queue(max_queued)
        self._lock = threading.Lock()
        self._counts = {"handed_over": 0, "stale": 0, "rejected": 0}
        self._rejected: OrderedDict[tuple[int, str, str], str] = OrderedDict()
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
    def _load_verified(self, path: str, sha256: str) -> tuple[Any, dict]:
        return model_from_checkpoint(path, sha256, backbone=self._expect_backbone,
                                     emb_dim=self._expect_emb_dim)

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
        try:
            model, header = self._loader(self._local_path(ann), ann.sha256)
            self._check_header(ann, header)
            model = self.target.extractor.prepare(model)
        except ModelError as exc:
            return self._reject(ann, str(exc))
        except Exception as exc:  # e.g. out of GPU memory while preparing: same outcome
            log.exception("loading announced weights failed", extra={"kv": {"path": ann.path}})
            return self._reject(ann, f"{type(exc).__name__}: {exc}")
        if not self.target.request_swap(model, ann.version):
            return self._count(STALE)
        log.info("new weights handed to the extractor",
                 extra={"kv": {"version": ann.version, "path": ann.path, "backbone": header.get("backbone")}})
        return self._count(HANDED_OVER)

    def _local_path(self, ann: WeightsAnnouncement) -> str:
        if self._resolver is None:
            return ann.path
        try:
            return str(self._resolver.resolve(ann))
        except (WireError, OSError) as exc:     # OSError: e.g. an unwritable cache folder
            raise ModelError(f"checkpoint v{ann.version} unavailable: {exc}") from exc

    def _check_header(self, ann: WeightsAnnouncement, header: dict) -> None:
        if header.get("version") != ann.version:
            raise ModelError(f"checkpoint {ann.path}: header version {header.get('version')!r} "
                             f"!= announced {ann.version}")
        if ann.backbone and header.get("backbone") != ann.backbone:
            raise ModelError(f"checkpoint {ann.path}: backbone {header.get('backbone')!r} "
                             f"!= announced {ann.backbone!r}")
        if ann.emb_dim and header.get("emb_dim") != ann.emb_dim:
            raise ModelError(f"checkpoint {ann.path}: emb_dim {header.get('emb_dim')!r} "
                             f"!= announced {ann.emb_dim}")

    def _reject(self, ann: WeightsAnnouncement, reason: str) -> str:
        key = (ann.version, ann.path, ann.sha256)
        if key not in self._rejected:
            log.warning("checkpoint rejected; old model keeps serving",
                        extra={"kv": {"version": ann.version, "path": ann.path, "reason": reason,
                                      "serving": self.target.model_version}})
            self._rejected[key] = reason
            while len(self._rejected) > _REMEMBERED_REJECTIONS:
                self._rejected.popitem(last=False)
        return self._count(REJECTED)
