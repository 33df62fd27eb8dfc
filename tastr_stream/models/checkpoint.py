"""Versioned, checksummed Re-ID checkpoints, written atomically.

Why a container of our own around ``torch.save``: a hot-swapping extractor must tell a good
file from a truncated or corrupt one *before* it replaces a serving model, and a reader may
look at a path while the trainer is still writing it. So the trainer writes to a temporary
file in the same folder, fsyncs, renames over the final name (readers see the old file or the
new one, never half of one) and fsyncs the folder; the file carries its own length and
sha256 of the weights, and the sha256 of the whole file is returned for the announcement.

File layout::

    MAGIC (11 bytes) | header length (uint32 LE) | header JSON (utf-8) | payload

The header holds ``format``, ``version``, ``backbone`` (the architecture name: trunk, optionally
``+partcolour``), ``emb_dim``, ``architecture`` (the model's ``spec()``: head, stripes, colour
bins, weights... whatever fixes the computation beyond the weights), ``created`` (ISO-8601 UTC),
``created_unix_s``, the caller's ``meta`` keys (e.g. ``config``), ``payload_bytes`` and
``payload_sha256``. A file without ``architecture`` (written before it existed) loads as the
architecture its ``backbone`` names; one whose ``architecture`` differs from what this code builds
for that name is refused, so a head whose constants changed can never load weights made for
the old constants. The payload is ``torch.save(state_dict)``, read back with
``weights_only=True`` so a checkpoint can never run code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import secrets
import struct
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ModelError
from ..wire.records import WeightsAnnouncement
from .backbones import build_reid_model
from .packaged import load_into

log = logging.getLogger(__name__)

# Why a checkpoint was refused: one word each, for metrics labels and log lines (models.lifecycle).
MISSING = "missing"                # no file at the path (or this box could not fetch it), unreadable
SHA256 = "sha256"                  # the file is not the one announced
CORRUPT = "corrupt"                # not a checkpoint, truncated, weights fail their own hash or shape
VERSION = "version"                # the header names another version than the announcement
ARCHITECTURE = "architecture"      # another backbone, or a head whose constants differ from ours
EMB_DIM = "emb_dim"                # another embedding size
LOAD = "load"                      # verified, but could not be built or prepared here (e.g. out of GPU memory)
REEMBED = "reembed"                # (associator) its window could not be re-embedded with it
REJECT_REASONS = (MISSING, SHA256, CORRUPT, VERSION, ARCHITECTURE, EMB_DIM, LOAD, REEMBED)


class CheckpointRejected(ModelError):
    """A checkpoint that must not serve, with ``reason`` (one of REJECT_REASONS)."""

    def __init__(self, reason: str, message: str):
        if reason not in REJECT_REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}; one of {REJECT_REASONS}")
        super().__init__(message)
        self.reason = reason


MAGIC = b"TASTR-CKPT\n"
FORMAT = 1
MAX_HEADER_BYTES = 1 << 20
RESERVED_KEYS = frozenset({"format", "version", "backbone", "emb_dim", "architecture", "created",
                           "created_unix_s", "payload_bytes", "payload_sha256"})


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(model: nn.Module, path: str | os.PathLike, version: int,
                    meta: dict[str, Any] | None = None) -> str:
    """Write ``model``'s weights to ``path`` atomically; return the sha256 of the file.

    ``model`` needs ``backbone_name`` and ``emb_dim`` attributes and a ``spec()`` (a ReIDNet or a
    PartColourNet). ``meta`` must be JSON-serialisable and may not use the reserved header keys.
    """
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ModelError(f"checkpoint version must be an int >= 0, got {version!r}")
    meta = dict(meta or {})
    clash = RESERVED_KEYS & set(meta)
    if clash:
        raise ModelError(f"meta may not set reserved keys {sorted(clash)}")
    backbone = getattr(model, "backbone_name", None)
    emb_dim = getattr(model, "emb_dim", None)
    if not isinstance(backbone, str) or not isinstance(emb_dim, int):
        raise ModelError(f"model must carry backbone_name/emb_dim, got {backbone!r}/{emb_dim!r}")
    spec = model.spec() if callable(getattr(model, "spec", None)) else None
    if not isinstance(spec, dict):
        raise ModelError(f"model {type(model).__name__} has no spec() describing its architecture")
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    payload = buf.getvalue()
    now_s = time.time()
    header = {"format": FORMAT, "version": version, "backbone": backbone, "emb_dim": emb_dim,
              "architecture": spec, "created": dt.datetime.fromtimestamp(now_s, dt.timezone.utc).isoformat(),
              "created_unix_s": now_s, **meta, "payload_bytes": len(payload),
              "payload_sha256": hashlib.sha256(payload).hexdigest()}
    try:
        header_bytes = json.dumps(header, sort_keys=True).encode()
    except (TypeError, ValueError) as exc:
        raise ModelError(f"checkpoint meta is not JSON-serialisable: {exc}") from exc
    blob = MAGIC + struct.pack("<I", len(header_bytes)) + header_bytes + payload
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(final.parent)
    digest = hashlib.sha256(blob).hexdigest()
    log.info("checkpoint written", extra={"kv": {"path": final, "version": version,
                                                  "bytes": len(blob), "sha256": digest}})
    return digest


def load_checkpoint(path: str | os.PathLike, expected_sha256: str | None = None, *,
                    backbone: str | None = None, emb_dim: int | None = None, version: int | None = None
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read and verify a checkpoint; return ``(state_dict, header)``.

    Raises CheckpointRejected (a ModelError), naming the path and the reason, when the file is
    missing, truncated, corrupt, not a checkpoint, fails ``expected_sha256``, or its header names
    another ``version``, ``backbone`` or ``emb_dim`` than the caller expects (checked before the
    weights are unpickled).
    """
    p = Path(path)
    try:
        blob = p.read_bytes()
    except OSError as exc:
        raise CheckpointRejected(MISSING, f"checkpoint {p}: cannot read: {exc}") from exc
    if expected_sha256 is not None:
        actual = hashlib.sha256(blob).hexdigest()
        if actual != expected_sha256.lower():
            raise CheckpointRejected(SHA256, f"checkpoint {p}: sha256 mismatch: file has {actual}, "
                                             f"announced {expected_sha256}")
    head = len(MAGIC) + 4
    if len(blob) < head or not blob.startswith(MAGIC):
        raise CheckpointRejected(CORRUPT, f"checkpoint {p}: not a tastr checkpoint or truncated header "
                                          f"({len(blob)} bytes)")
    (header_len,) = struct.unpack("<I", blob[len(MAGIC):head])
    if header_len > MAX_HEADER_BYTES or len(blob) < head + header_len:
        raise CheckpointRejected(CORRUPT, f"checkpoint {p}: truncated or bad header length {header_len} "
                                          f"in a {len(blob)}-byte file")
    try:
        header = json.loads(blob[head:head + header_len])
        payload_bytes = int(header["payload_bytes"])
        payload_sha = str(header["payload_sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointRejected(CORRUPT, f"checkpoint {p}: corrupt header: {exc}") from exc
    if header.get("format") != FORMAT:
        raise CheckpointRejected(CORRUPT, f"checkpoint {p}: unknown format {header.get('format')!r}, "
                                          f"expected {FORMAT}")
    check_header(p, header, version=version, backbone=backbone, emb_dim=emb_dim)
    payload = blob[head + header_len:]
    if len(payload) != payload_bytes:
        raise CheckpointRejected(CORRUPT, f"checkpoint {p}: truncated: weights are {len(payload)} bytes, "
                                          f"header says {payload_bytes}")
    if hashlib.sha256(payload).hexdigest() != payload_sha:
        raise CheckpointRejected(CORRUPT, f"checkpoint {p}: corrupt: weights do not match their sha256 "
                                          f"{payload_sha}")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure means the same thing: unusable weights
        raise CheckpointRejected(CORRUPT, f"checkpoint {p}: cannot load weights: "
                                          f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointRejected(CORRUPT, f"checkpoint {p}: payload is not a state dict of tensors")
    return state, header


def check_header(path: str | os.PathLike, header: dict[str, Any], *, version: int | None = None,
                 backbone: str | None = None, emb_dim: int | None = None) -> None:
    """Raise CheckpointRejected when the header names another ``version`` (VERSION), ``backbone``
    (ARCHITECTURE) or ``emb_dim`` (EMB_DIM) than expected; None expects nothing."""
    if version is not None and header.get("version") != version:
        raise CheckpointRejected(VERSION, f"checkpoint {path}: header version {header.get('version')!r} "
                                          f"!= announced {version}")
    if backbone is not None and header.get("backbone") != backbone:
        raise CheckpointRejected(ARCHITECTURE, f"checkpoint {path}: wrong architecture: "
                                               f"backbone={header.get('backbone')!r}, expected {backbone!r}")
    if emb_dim is not None and header.get("emb_dim") != emb_dim:
        raise CheckpointRejected(EMB_DIM, f"checkpoint {path}: wrong architecture: "
                                          f"emb_dim={header.get('emb_dim')!r}, expected {emb_dim!r}")


def model_from_checkpoint(path: str | os.PathLike, expected_sha256: str | None = None, *,
                          backbone: str | None = None, emb_dim: int | None = None, version: int | None = None
                          ) -> tuple[nn.Module, dict[str, Any]]:
    """Build the architecture the header names and load the verified weights into it (CPU, eval).

    Raises CheckpointRejected as ``load_checkpoint`` does, and ARCHITECTURE when this code cannot
    build the header's backbone or builds it with other constants than the header records."""
    state, header = load_checkpoint(path, expected_sha256, backbone=backbone, emb_dim=emb_dim, version=version)
    try:
        model = build_reid_model(str(header.get("backbone")), header.get("emb_dim"), pretrained=False)
    except ModelError as exc:
        raise CheckpointRejected(ARCHITECTURE, f"checkpoint {path}: {exc}") from exc
    try:
        load_into(model, state, f"checkpoint {path}")
    except ModelError as exc:            # the header's own architecture does not fit its tensors
        raise CheckpointRejected(CORRUPT, str(exc)) from exc
    model.pretrained_trunk = True          # trained weights, with real BatchNorm statistics
    recorded = header.get("architecture")      # tensors fit; do the constants around them match too?
    if recorded is not None and json.loads(json.dumps(model.spec())) != recorded:
        raise CheckpointRejected(ARCHITECTURE, f"checkpoint {path}: architecture {recorded!r} is not what this "
                                               f"code builds for backbone {header.get('backbone')!r}: "
                                               f"{model.spec()!r}")
    return model.eval(), header


INITIAL_MODEL_SEED = 0


def initial_model(backbone: str, emb_dim: int, weights_path: str = "") -> tuple[nn.Module, int]:
    """The model a process starts serving, and its version.

    ``weights_path`` set: a tastr checkpoint, verified, which must match ``backbone`` and
    ``emb_dim``; its header version serves. Empty: ``backbone`` with its packaged ImageNet
    weights (or random init) as version 0, its random parts drawn from a fixed seed so that
    every process (ingest on an edge box, the associator at the centre) builds the same model
    and version-0 embeddings compare across processes without exchanging a file.
    """
    if weights_path:
        model, header = model_from_checkpoint(weights_path, backbone=backbone, emb_dim=emb_dim)
        return model, int(header["version"])
    return build_reid_model(backbone, emb_dim, seed=INITIAL_MODEL_SEED), 0


def sweep_partial_checkpoints(checkpoint_dir: str | os.PathLike) -> int:
    """Remove the temporary files of checkpoint writes that never finished (a writer killed between
    its first byte and ``os.replace``); returns how many. Only for a folder's single writer, at
    start: a concurrent writer's file would look the same."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return 0
    removed = 0
    for p in folder.iterdir():
        if p.name.startswith(".") and ".ckpt.tmp-" in p.name and p.is_file():
            p.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.warning("unfinished checkpoint writes removed", extra={"kv": {"folder": folder, "files": removed}})
    return removed


def publish_checkpoint(model: nn.Module, checkpoint_dir: str | os.PathLike, version: int,
                       meta: dict[str, Any] | None = None) -> WeightsAnnouncement:
    """Save ``<dir>/reid-v<version>.ckpt`` atomically and return the announcement to send."""
    path = Path(checkpoint_dir) / f"reid-v{version:06d}.ckpt"
    digest = save_checkpoint(model, path, version, meta)
    return WeightsAnnouncement(version=version, path=str(path), sha256=digest,
                               backbone=model.backbone_name, emb_dim=model.emb_dim)
