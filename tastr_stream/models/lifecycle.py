"""One model lifecycle: how every daemon turns a weights announcement into a model it may serve.

The trainer announces ``{version, path, sha256, backbone, emb_dim}``; ingest (``tracklet.hotswap``)
and the associator (``pipeline.model_switch``) both hand it to a ``ModelLifecycle``, which

1. checks the announcement's own claims against the model this network serves (``[model]``:
   backbone, emb_dim) before fetching anything,
2. finds the file: the announced path, or a copy the caller's ``resolve`` fetches from the
   trainer's checkpoint server (``wire.checkpoints.CheckpointResolver``) when this box lacks it,
3. verifies it: sha256 of the file == announced, the container's own length and weights hash,
   header version == announced version, header backbone and emb_dim == expected, and the head's
   recorded ``architecture`` == what this code builds for that backbone,
4. builds the model (CPU, eval).

Any failure is a ``CheckpointRejected`` with a typed ``reason`` (``models.checkpoint.REJECT_REASONS``).
``Rejections`` remembers them: each (version, sha256, reason) is logged once and counted once
(``on_reject(reason)``, a per-reason metric in each daemon); a rejection for a reason inherent to
the file is final, so the trainer's periodic repeats of the announcement are answered from memory;
one that may heal (the file not there yet, a fetch that failed, a device out of memory) is retried
at the next repeat, quietly.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import TastrError
from ..wire.records import WeightsAnnouncement
from .checkpoint import (ARCHITECTURE, EMB_DIM, LOAD, MISSING, SHA256, CheckpointRejected, check_header,
                         model_from_checkpoint, sha256_file)

log = logging.getLogger(__name__)

# Reasons that may heal by themselves: retried at the next repeat of the announcement (logged once).
TRANSIENT = frozenset({MISSING, LOAD})
REMEMBERED = 256

# (announcement) -> a local file holding it; raises TastrError (e.g. a failed fetch) or OSError.
Resolve = Callable[[WeightsAnnouncement], "str | os.PathLike"]
# (path, announced sha256) -> (model, header); replaces model_from_checkpoint in tests.
Read = Callable[[str, str], "tuple[Any, dict]"]


@dataclass(frozen=True)
class Loaded:
    model: nn.Module
    version: int
    header: dict[str, Any]
    path: str


class Rejections:
    """Announcements refused so far, by (version, sha256): logged once, counted once per reason."""

    def __init__(self, daemon: str = "", on_reject: Callable[[str], None] | None = None,
                 remember: int = REMEMBERED):
        self.daemon, self._on_reject, self._remember = daemon, on_reject, remember
        self._seen: OrderedDict[tuple[int, str, str], str] = OrderedDict()   # (version, sha, reason) -> message
        self._final: dict[tuple[int, str], CheckpointRejected] = {}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def final(self, ann: WeightsAnnouncement) -> CheckpointRejected | None:
        """The rejection that holds for good for this exact announcement, if any."""
        with self._lock:
            return self._final.get((ann.version, ann.sha256))

    def record(self, ann: WeightsAnnouncement, exc: CheckpointRejected, serving: int | None = None) -> bool:
        """Remember ``exc`` for ``ann``; log and count it when it is new. True when it was new."""
        key = (ann.version, ann.sha256, exc.reason)
        with self._lock:
            if exc.reason not in TRANSIENT:
                self._final[(ann.version, ann.sha256)] = exc
            if key in self._seen:
                return False
            self._seen[key] = str(exc)
            self._counts[exc.reason] = self._counts.get(exc.reason, 0) + 1
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            while len(self._final) > self._remember:
                self._final.pop(next(iter(self._final)))
        log.warning("announced checkpoint rejected; old model keeps serving",
                    extra={"kv": {"daemon": self.daemon, "version": ann.version, "path": ann.path,
                                  "reason": exc.reason, "error": str(exc), "serving": serving}})
        if self._on_reject is not None:
            self._on_reject(exc.reason)
        return True

    def counts(self) -> dict[str, int]:
        """Distinct rejections per reason."""
        with self._lock:
            return dict(self._counts)


class ModelLifecycle:
    """Announcement -> verified model for a network whose ``[model]`` is ``backbone``/``emb_dim``.

    ``backbone`` / ``emb_dim`` None expect nothing (library use and tests); daemons always pass
    ``cfg.model``'s. ``resolve``: see ``Resolve`` (None reads ``ann.path`` as announced).
    """

    def __init__(self, backbone: str | None, emb_dim: int | None, *, resolve: Resolve | None = None,
                 read: Read | None = None, rejections: Rejections | None = None):
        self.backbone, self.emb_dim = backbone, emb_dim
        self._resolve, self._read = resolve, read
        self.rejections = rejections or Rejections()

    def load(self, ann: WeightsAnnouncement) -> Loaded:
        """Verify and build ``ann``'s model; raise CheckpointRejected (reason, path, values)."""
        self._check_claims(ann)
        path = self._local_path(ann)
        if self._read is None:
            model, header = model_from_checkpoint(path, ann.sha256, backbone=self.backbone, emb_dim=self.emb_dim,
                                                  version=ann.version)
        else:
            model, header = self._read(path, ann.sha256)
        # The same header checks whatever read it (a custom ``read`` may check less).
        check_header(path, header, version=ann.version, backbone=self.backbone, emb_dim=self.emb_dim)
        return Loaded(model, ann.version, header, path)

    def try_load(self, ann: WeightsAnnouncement, serving: int | None = None,
                 prepare: Callable[[Any], Any] | None = None) -> Loaded | None:
        """``load`` (then ``prepare(model)``, e.g. moving it to the GPU) with rejections remembered:
        None when ``ann`` is refused now or was refused for good before (logged and counted once)."""
        if self.rejections.final(ann) is not None:
            return None
        try:
            loaded = self.load(ann)
            if prepare is not None:
                loaded = Loaded(self._prepared(prepare, loaded), loaded.version, loaded.header, loaded.path)
        except CheckpointRejected as exc:
            self.rejections.record(ann, exc, serving)
            return None
        return loaded

    @staticmethod
    def _prepared(prepare: Callable[[Any], Any], loaded: Loaded) -> Any:
        try:
            return prepare(loaded.model)
        except CheckpointRejected:
            raise
        except Exception as exc:  # e.g. out of GPU memory: this box's trouble, not the file's
            log.exception("preparing verified weights failed", extra={"kv": {"path": loaded.path}})
            raise CheckpointRejected(LOAD, f"checkpoint {loaded.path}: cannot prepare the model: "
                                           f"{type(exc).__name__}: {exc}") from exc

    def _check_claims(self, ann: WeightsAnnouncement) -> None:
        """What the announcement itself says, before any byte is read or fetched (0/'' = not said)."""
        if self.backbone is not None and ann.backbone and ann.backbone != self.backbone:
            raise CheckpointRejected(ARCHITECTURE, f"checkpoint v{ann.version} ({ann.path}): announced "
                                                   f"backbone {ann.backbone!r}, this network serves "
                                                   f"{self.backbone!r} (model.backbone)")
        if self.emb_dim is not None and ann.emb_dim and ann.emb_dim != self.emb_dim:
            raise CheckpointRejected(EMB_DIM, f"checkpoint v{ann.version} ({ann.path}): announced emb_dim "
                                              f"{ann.emb_dim}, this network serves {self.emb_dim} (model.emb_dim)")

    def _local_path(self, ann: WeightsAnnouncement) -> str:
        if self._resolve is None:
            return ann.path
        try:
            return str(self._resolve(ann))
        except (TastrError, OSError) as exc:     # OSError: e.g. an unwritable cache folder
            reason = getattr(exc, "reason", MISSING)
            here = Path(ann.path)
            if reason == MISSING and here.is_file():
                # The box has a file at the announced path, but not the announced one, and no copy
                # could be fetched: say so rather than "missing".
                try:
                    if sha256_file(here) != ann.sha256:
                        reason = SHA256
                except OSError:
                    pass
            raise CheckpointRejected(reason if reason in (MISSING, SHA256) else MISSING,
                                     f"checkpoint v{ann.version} unavailable: {exc}") from exc
