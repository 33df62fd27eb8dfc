"""Re-ID embedding of tracklet crops: a synchronous batched path and a background batcher.

``Extractor`` owns the serving model and its version. ``embed`` is the synchronous fast path
(batched, channels-last; bf16/fp16 autocast on CUDA only, ``embed.precision`` in the config,
fp32 on CPU whatever is asked); ``embed_reference`` is the plain per-image float32 path that
tests hold it equal to.

``BackgroundExtractor`` runs the model on one thread behind a bounded queue of jobs (a job is
one tracklet's crops plus a Future). It packs crops from consecutive jobs into batches of up
to ``batch_size`` (a big job spans several batches) and gives each job its per-crop
embeddings, their mean and the version of the model that made them. Every forward pass, in
both paths, runs as chunks of a few fixed sizes (``batch_size``, then powers of two below it): a
backend that keeps a plan per input shape then keeps a handful, not one per size it ever met
(see ``models.inference``; that was issue 13's growing ingest memory).

Swap policy: *hold the swap until the split job finishes*. A swap request is applied only at
a batch boundary where no job is partly embedded. While a swap is pending the batcher starts
no new job, so the wait is bounded by the rest of the one job in progress
(``ceil(crops / batch_size)`` batches at most), no work is thrown away (the alternative,
re-embedding a split job with the new model, wastes up to a whole job), and every job is
embedded by exactly one version. Versions only increase; an older or equal version is ignored.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ModelError
from ..models import inference
from ..models.checkpoint import initial_model
from ..models.preprocess import check_images, decode_crops

log = logging.getLogger(__name__)

Crops = Sequence[bytes] | np.ndarray   # JPEG bytes, or decoded uint8 (N, H, W, 3) RGB


@dataclass(frozen=True)
class EmbedResult:
    """One job's embeddings, all made by model ``model_version``."""

    job_id: Any
    embedding: np.ndarray | None     # (D,) float32 mean of the crop embeddings; None: no usable crop
    crop_embeddings: np.ndarray      # (M, D) float32
    crop_index: np.ndarray           # (M,) int64 input positions that decoded (the rest failed)
    n_failed: int
    model_version: int


class Extractor:
    """The serving model, its version and the synchronous batched embedding path.

    ``model_factory()`` builds the initial model (version ``version``); ``install`` switches to
    another prepared model atomically (one tuple assignment), so a concurrent ``embed`` sees
    either the old pair or the new one. With a BackgroundExtractor in charge, swap through it.
    """

    def __init__(self, model_factory: Callable[[], Any], device: str = "auto", batch_size: int = 32,
                 precision: str = "auto", version: int = 0, channels_last: bool | None = None) -> None:
        if not isinstance(batch_size, int) or not 1 <= batch_size <= 4096:
            raise ModelError(f"batch_size must be an int in 1..4096, got {batch_size!r}")
        self.device = inference.resolve_device(device)
        self.precision = inference.resolve_precision(precision, self.device)
        self.channels_last = (inference.default_channels_last(self.device) if channels_last is None
                              else bool(channels_last))
        self.batch_size = batch_size
        self._active = (self.prepare(model_factory()), int(version))

    def prepare(self, model: Any) -> Any:
        """Ready a model for this extractor's device (call off the hot path, before install)."""
        return inference.prepare_model(model, self.device, self.channels_last)

    @property
    def active(self) -> tuple[Any, int]:
        return self._active

    @property
    def version(self) -> int:
        return self._active[1]

    def install(self, model: Any, version: int) -> None:
        """Serve ``model`` (already prepared) as ``version`` from the next batch on."""
        if version <= self._active[1]:
            raise ModelError(f"model version must increase: {version} <= serving {self._active[1]}")
        self._active = (model, int(version))

    def embed(self, images: np.ndarray) -> tuple[np.ndarray, int]:
        """uint8 (N, H, W, 3) RGB -> ((N, D) float32, version); one model for the whole call."""
        images = check_images(images)
        model, version = self._active
        if len(images) == 0:
            raise ModelError("embed called with no images")
        parts = [self.forward(model, images[i:i + self.batch_size])
                 for i in range(0, len(images), self.batch_size)]
        return np.concatenate(parts), version

    def forward(self, model: Any, images: np.ndarray) -> np.ndarray:
        """One batch through ``model`` with this extractor's device, precision and layout, run
        in chunks of the fixed sizes ``inference.fixed_batch_sizes(batch_size)``: a batch of any
        other size would make the backend plan (and keep) one more shape (see models.inference)."""
        return inference.embed_in_fixed_batches(model, images, self.device, self.batch_size, self.precision,
                                                self.channels_last)

    def embed_reference(self, images: np.ndarray) -> tuple[np.ndarray, int]:
        """Plain per-image float32 path with the same model: the reference for ``embed``."""
        model, version = self._active
        return inference.embed_reference(model, check_images(images)), version


def extractor_from_config(model_cfg: Any, cfg: Any, precision: str | None = None) -> Extractor:
    """An Extractor serving ``model_cfg`` (``[model]``: backbone, emb_dim, weights_path; see
    ``models.initial_model``) as an ``EmbedConfig`` (``ingest.embed``) runs it.

    ``precision`` defaults to ``cfg.precision`` (``embed.precision``: bf16 autocast on CUDA, fp32 on
    CPU whatever is asked)."""
    model, version = initial_model(model_cfg.backbone, model_cfg.emb_dim, model_cfg.weights_path)
    precision = precision or getattr(cfg, "precision", "auto")
    return Extractor(lambda: model, device=cfg.device, batch_size=cfg.batch_size, precision=precision,
                     version=version)


@dataclass
class _Job:
    job_id: Any
    crops: Crops
    future: Future
    images: np.ndarray | None = None
    index: np.ndarray | None = None
    n_failed: int = 0
    done: int = 0
    version: int | None = None
    rows: list[np.ndarray] = field(default_factory=list)


@dataclass(frozen=True)
class BatchInfo:
    """What one forward pass held: for tests and metrics. ``parts`` = (job_id, start, end)."""

    batch_no: int
    model_version: int
    parts: tuple[tuple[Any, int, int], ...]


class BackgroundExtractor:
    """Batches crops of queued jobs through ``extractor`` on a background thread; see module doc."""

    def __init__(self, extractor: Extractor, max_queued_jobs: int = 64,
                 on_swap: Callable[[int, int], None] | None = None,
                 on_batch: Callable[[BatchInfo], None] | None = None, name: str = "reid-extractor") -> None:
        if max_queued_jobs < 1:
            raise ModelError(f"max_queued_jobs must be >= 1, got {max_queued_jobs}")
        self.extractor = extractor
        self._max_jobs = max_queued_jobs
        self._on_swap, self._on_batch = on_swap, on_batch
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._pending: tuple[Any, int] | None = None
        self._stopping = False
        self._counts = {"jobs": 0, "crops": 0, "failed_crops": 0, "batches": 0, "swaps": 0,
                        "ignored_swaps": 0, "batch_errors": 0}
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> BackgroundExtractor:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0, drain: bool = True) -> None:
        """Stop after finishing queued jobs (``drain``) or cancelling them."""
        with self._cond:
            self._stopping = True
            if not drain:
                while self._jobs:
                    self._jobs.popleft().future.cancel()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise ModelError(f"extractor thread did not stop within {timeout_s} s")

    def __enter__(self) -> BackgroundExtractor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- public API -----------------------------------------------------------------------
    def submit(self, crops: Crops, job_id: Any = None, timeout_s: float | None = None) -> Future:
        """Queue one tracklet's crops; the Future resolves to an EmbedResult.

        Blocks while the queue is full; raises ``queue.Full`` after ``timeout_s``.
        """
        if isinstance(crops, np.ndarray):
            crops = check_images(crops)
        elif not isinstance(crops, (list, tuple)):
            raise ModelError(f"crops must be a list of JPEG bytes or a uint8 array, got {type(crops).__name__}")
        job = _Job(job_id, crops, Future())
        with self._cond:
            if self._stopping:
                raise ModelError(f"extractor is stopped; job {job_id!r} not accepted")
            if not self._cond.wait_for(lambda: len(self._jobs) < self._max_jobs, timeout_s):
                raise queue.Full(f"extractor queue full ({self._max_jobs} jobs) for {timeout_s} s")
            self._jobs.append(job)
            self._cond.notify_all()
        return job.future

    def request_swap(self, model: Any, version: int) -> bool:
        """Serve ``model`` (prepared via ``extractor.prepare``) as ``version`` from the next
        batch boundary with no job in progress. False (ignored) unless ``version`` is newer."""
        with self._cond:
            newest = max(self.extractor.version, self._pending[1] if self._pending else -1)
            if version <= newest:
                self._counts["ignored_swaps"] += 1
                log.info("older model version ignored", extra={"kv": {"version": version, "newest": newest}})
                return False
            self._pending = (model, int(version))
            self._cond.notify_all()
            return True

    @property
    def model_version(self) -> int:
        return self.extractor.version

    @property
    def newest_version(self) -> int:
        """Serving or pending, whichever is newer."""
        with self._cond:
            return self._pending[1] if self._pending else self.extractor.version

    def wait_for_version(self, version: int, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.extractor.version >= version, timeout_s)

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {**self._counts, "queued_jobs": len(self._jobs), "model_version": self.extractor.version}

    # ---- worker ---------------------------------------------------------------------------
    def _run(self) -> None:
        current: _Job | None = None
        batch_no = 0
        while True:
            swapped = None
            with self._cond:
                while True:
                    if current is None and self._pending is not None:
                        swapped = self._apply_swap_locked()
                        break
                    if current is not None or self._jobs:
                        break
                    if self._stopping:
                        return
                    self._cond.wait()
            if swapped is not None:
                self._notify(self._on_swap, *swapped)
                continue
            parts, current = self._assemble(current)
            if parts:
                self._process(batch_no, parts)
                batch_no += 1

    def _apply_swap_locked(self) -> tuple[int, int]:
        model, version = self._pending
        self._pending = None
        old = self.extractor.version
        self.extractor.install(model, version)
        self._counts["swaps"] += 1
        self._cond.notify_all()
        log.info("model swapped", extra={"kv": {"from_version": old, "to_version": version}})
        return old, version

    def _assemble(self, current: _Job | None) -> tuple[list[tuple[_Job, int, int]], _Job | None]:
        """Fill one batch: the rest of the split job first, then new jobs unless a swap waits."""
        room = self.extractor.batch_size
        parts: list[tuple[_Job, int, int]] = []
        while room > 0:
            if current is None:
                with self._cond:
                    if self._pending is not None or not self._jobs:
                        break
                    job = self._jobs.popleft()
                    self._cond.notify_all()
                if not job.future.set_running_or_notify_cancel():
                    continue
                if not self._decode(job):
                    continue
                current = job
            n = min(room, len(current.images) - current.done)
            parts.append((current, current.done, current.done + n))
            current.done += n
            room -= n
            if current.done == len(current.images):
                current = None
        return parts, current

    def _decode(self, job: _Job) -> bool:
        """Decode a job's crops; a job with no usable crop completes at once (False)."""
        try:
            if isinstance(job.crops, np.ndarray):
                job.images, job.index = job.crops, np.arange(len(job.crops), dtype=np.int64)
            else:
                dec = decode_crops(job.crops)
                job.images, job.index, job.n_failed = dec.images, dec.index, dec.n_failed
        except Exception as exc:  # a job that cannot be decoded fails alone, not the thread
            log.warning("job decode failed", extra={"kv": {"job": job.job_id, "error": repr(exc)}})
            job.future.set_exception(exc)
            return False
        with self._cond:
            self._counts["failed_crops"] += job.n_failed
        if job.n_failed:
            log.warning("undecodable crops skipped", extra={"kv": {"job": job.job_id, "failed": job.n_failed}})
        if len(job.images) == 0:
            self._finish(job, self.extractor.version)
            return False
        return True

    def _process(self, batch_no: int, parts: list[tuple[_Job, int, int]]) -> None:
        model, version = self.extractor.active
        images = np.concatenate([job.images[a:b] for job, a, b in parts])
        try:
            emb = self.extractor.forward(model, images)
        except Exception as exc:  # e.g. CUDA OOM: fail these jobs, keep serving the rest
            with self._cond:
                self._counts["batch_errors"] += 1
            log.exception("embedding batch failed", extra={"kv": {"batch": batch_no, "crops": len(images)}})
            for job, _, _ in parts:
                if not job.future.done():
                    job.future.set_exception(ModelError(f"embedding failed for job {job.job_id!r}: {exc!r}"))
            return
        with self._cond:
            self._counts["batches"] += 1
            self._counts["crops"] += len(images)
        self._notify(self._on_batch, BatchInfo(batch_no, version, tuple((j.job_id, a, b) for j, a, b in parts)))
        row = 0
        for job, a, b in parts:
            if job.version is not None and job.version != version and not job.future.done():
                # Cannot happen under the hold-the-swap policy; guard so a bug never mixes versions.
                log.error("job spans two model versions", extra={"kv": {"job": job.job_id}})
                job.future.set_exception(ModelError(
                    f"job {job.job_id!r} spans model versions {job.version} and {version}"))
            job.version = version
            job.rows.append(emb[row:row + b - a])
            row += b - a
            if b == len(job.images) and not job.future.done():
                self._finish(job, version)

    def _notify(self, hook: Callable[..., None] | None, *args: Any) -> None:
        """Run a user hook on the worker thread; its failure is logged, never kills the thread."""
        if hook is None:
            return
        try:
            hook(*args)
        except Exception:  # a hook is outside our control; keep serving
            log.exception("extractor hook failed", extra={"kv": {"hook": getattr(hook, "__name__", hook)}})

    def _finish(self, job: _Job, version: int) -> None:
        rows = np.concatenate(job.rows) if job.rows else np.zeros((0, 0), np.float32)
        mean = rows.mean(axis=0, dtype=np.float64).astype(np.float32) if len(rows) else None
        with self._cond:
            self._counts["jobs"] += 1
        job.future.set_result(EmbedResult(job.job_id, mean, rows, job.index, job.n_failed, version))
