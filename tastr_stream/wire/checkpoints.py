"""Checkpoint bytes from the trainer to boxes that do not share its disk.

A ``WeightsAnnouncement`` names a path on the trainer's box; an edge ingest daemon usually cannot
see it. The trainer therefore also serves its checkpoint folder over ZeroMQ, and a box that lacks
the announced file fetches it by *version* (the only thing a request can name: the file name is
built from an integer, so no request can reach a path outside the folder).

Why a ROUTER server and chunked, stateless requests: every request is ``(version, offset)`` and
every reply is one chunk (default 4 MiB, so a 100 MB ResNet-50 checkpoint never becomes one giant
message), so the server keeps no per-client state, a client that vanishes costs nothing (ROUTER
drops replies to peers that went away) and the trainer's single-threaded main loop can serve
several boxes between its other polls without ever blocking in a REP state machine. The client
is a DEALER that keeps a few chunk requests in flight (zguide "file transfer" credit pattern) so
throughput does not pay one round trip per chunk; it writes a temp file, fsyncs, verifies the
announced sha256 and renames, so a reader sees a whole verified file or nothing.

Frames: request ``[b"", msgpack map]``; reply ``[b"", msgpack header, raw chunk bytes]``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

import msgpack
import zmq

from ..errors import WireError
from .curve import CurveClient, CurveServer
from .records import WeightsAnnouncement
from .sockets import drain

log = logging.getLogger(__name__)

CHUNK_BYTES = 4 * 1024 * 1024
MAX_REQUEST_BYTES = 4096
MAX_CHECKPOINT_BYTES = 8 * 1024**3
CREDIT_CHUNKS = 4                       # chunk requests a client keeps in flight
REQUEST_TYPE, REPLY_TYPE, SCHEMA = "checkpoint.request", "checkpoint.reply", 1


class CheckpointFetchError(WireError):
    """A checkpoint could not be fetched: missing version, timeout, bad reply or sha256 mismatch.

    ``reason`` in the words of ``models.checkpoint.REJECT_REASONS``: "sha256" when bytes arrived
    but are not the announced file, "missing" for everything else (it may be there next time)."""

    def __init__(self, message: str, reason: str = "missing"):
        super().__init__(message)
        self.reason = reason


def checkpoint_name(version: int) -> str:
    """The trainer's file name for ``version`` (``models.checkpoint.publish_checkpoint`` writes it)."""
    return f"reid-v{version:06d}.ckpt"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- server
class CheckpointServer:
    """Serves ``<checkpoint_dir>/reid-v<version>.ckpt`` in chunks; call ``serve`` from a poll loop."""

    def __init__(self, endpoint: str, checkpoint_dir: str | os.PathLike, chunk_bytes: int = CHUNK_BYTES,
                 context: zmq.Context | None = None, curve: CurveServer | None = None):
        if not isinstance(chunk_bytes, int) or not 1 <= chunk_bytes <= 64 * 1024**2:
            raise WireError(f"chunk_bytes must be an int in [1, 64 MiB], got {chunk_bytes!r}")
        self.root = Path(checkpoint_dir)
        self.chunk_bytes = chunk_bytes
        self._ctx = context or zmq.Context.instance()
        self.sock = self._ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(self.sock)
        try:
            self.sock.bind(endpoint)
        except zmq.ZMQError as exc:
            self.sock.close(linger=0)
            raise WireError(f"cannot bind the checkpoint server on {endpoint!r}: {exc}") from exc
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.chunks_served = 0
        self.errors = 0

    def serve(self, timeout_ms: int = 0, max_requests: int = 64) -> int:
        """Answer the requests waiting (after up to ``timeout_ms`` for the first); return how many."""
        handled = 0
        for frames in drain(self.sock, timeout_ms, max_requests, multipart=True):
            handled += 1
            # Routing frames end at the empty delimiter a REQ/DEALER client sends; a peer that sent
            # none still gets an answer addressed by its identity frame.
            split = frames.index(b"") + 1 if b"" in frames else 1
            envelope, payload = frames[:split], frames[split:]
            try:
                header, data = self._answer(payload)
            except WireError as exc:
                self.errors += 1
                log.warning("bad checkpoint request answered with an error", extra={"kv": {"error": exc}})
                header, data = {"ok": False, "error": str(exc)}, b""
            reply = msgpack.packb({"schema": SCHEMA, "type": REPLY_TYPE, **header}, use_bin_type=True)
            self.sock.send_multipart(envelope + [reply, data], flags=zmq.NOBLOCK)
        return handled

    def _answer(self, payload: list[bytes]) -> tuple[dict[str, Any], bytes]:
        version, offset = parse_request(payload)
        path = self.root / checkpoint_name(version)
        # A symlink in the folder must not lead outside it either.
        if not path.is_file() or path.resolve().parent != self.root.resolve():
            raise WireError(f"no checkpoint version {version} on this trainer")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if offset > size:
                raise WireError(f"offset {offset} beyond the {size}-byte checkpoint version {version}")
            f.seek(offset)
            data = f.read(self.chunk_bytes)
        self.chunks_served += 1
        return {"ok": True, "version": version, "offset": offset, "size_bytes": size,
                "chunk_bytes": self.chunk_bytes}, data

    def close(self) -> None:
        self.sock.close(linger=0)


def parse_request(payload: list[bytes]) -> tuple[int, int]:
    """Validate one request's frames; return ``(version, offset)`` or raise WireError."""
    if len(payload) != 1:
        raise WireError(f"expected one request frame, got {len(payload)}")
    if len(payload[0]) > MAX_REQUEST_BYTES:
        raise WireError(f"request of {len(payload[0])} bytes exceeds {MAX_REQUEST_BYTES}")
    try:
        body = msgpack.unpackb(payload[0], raw=False, strict_map_key=True, max_str_len=256, max_bin_len=0,
                               max_array_len=16, max_map_len=16, max_ext_len=0)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise WireError(f"request is not valid msgpack: {type(exc).__name__}") from None
    if not isinstance(body, dict) or body.get("type") != REQUEST_TYPE or body.get("schema") != SCHEMA:
        raise WireError(f"expected a {REQUEST_TYPE} map of schema {SCHEMA}, got {str(body)[:120]!r}")
    version, offset = body.get("version"), body.get("offset", 0)
    for name, value in (("version", version), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CHECKPOINT_BYTES:
            raise WireError(f"request {name} must be an int in [0, {MAX_CHECKPOINT_BYTES}], got {value!r}")
    return version, offset


def encode_request(version: int, offset: int) -> bytes:
    return msgpack.packb({"schema": SCHEMA, "type": REQUEST_TYPE, "version": version, "offset": offset},
                         use_bin_type=True)


# ----------------------------------------------------------------------------- client
def _check_fetch_args(version: int, sha256: str, timeout_s: float) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise CheckpointFetchError(f"checkpoint version must be an int >= 0, got {version!r}")
    if not isinstance(sha256, str) or len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise CheckpointFetchError(f"sha256 must be 64 lowercase hex digits, got {sha256!r}")
    if not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise CheckpointFetchError(f"timeout_s must be > 0, got {timeout_s!r}")


def cached_name(version: int, sha256: str) -> str:
    """Cache file name: the version for humans and pruning, a sha prefix so two trainers' v3 never mix."""
    return f"reid-v{version:06d}-{sha256[:16]}.ckpt"


def fetch_checkpoint(endpoint: str, version: int, sha256: str, dest_dir: str | os.PathLike,
                     timeout_s: float = 10.0, context: zmq.Context | None = None,
                     curve: CurveClient | None = None) -> Path:
    """Download checkpoint ``version`` from a CheckpointServer into ``dest_dir``; return its path.

    ``timeout_s`` bounds the wait for each reply (not the whole transfer), so a slow link that keeps
    making progress finishes while a dead or unreachable server fails fast. The file appears under
    its final name only complete, fsynced and matching ``sha256``; on any failure (missing version,
    timeout, malformed reply, mismatch) CheckpointFetchError is raised and no partial file is left.
    """
    _check_fetch_args(version, sha256, timeout_s)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / cached_name(version, sha256)
    tmp = dest / f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    what = f"checkpoint v{version} from {endpoint}"
    sock = (context or zmq.Context.instance()).socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if curve is not None:
        curve.apply(sock)
    t0 = time.perf_counter()
    try:
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            raise CheckpointFetchError(f"{what}: bad endpoint: {exc}") from exc
        with open(tmp, "wb") as f:
            size = _transfer(sock, version, f, timeout_s, what)
            f.flush()
            os.fsync(f.fileno())
        actual = _sha256_file(tmp)
        if actual != sha256:
            raise CheckpointFetchError(f"{what}: sha256 mismatch: got {actual}, announced {sha256}", "sha256")
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        sock.close(linger=0)
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - t0
    log.info("checkpoint fetched", extra={"kv": {"version": version, "endpoint": endpoint, "bytes": size,
                                                 "seconds": round(seconds, 3), "path": final}})
    return final


def _transfer(sock: zmq.Socket, version: int, f, timeout_s: float, what: str) -> int:
    """Pull every chunk into ``f`` in order, keeping CREDIT_CHUNKS requests in flight; return the size."""
    sock.send_multipart([b"", encode_request(version, 0)])
    size, chunk = _receive(sock, version, 0, None, timeout_s, what, f)
    next_offset, in_flight = chunk, []
    expect = min(chunk, size)
    while expect < size:
        while len(in_flight) < CREDIT_CHUNKS and next_offset < size:
            sock.send_multipart([b"", encode_request(version, next_offset)])
            in_flight.append(next_offset)
            next_offset += chunk
        _receive(sock, version, in_flight.pop(0), size, timeout_s, what, f)
        expect += min(chunk, size - expect)
    return size


def _receive(sock: zmq.Socket, version: int, offset: int, size: int | None, timeout_s: float, what: str,
             f) -> tuple[int, int]:
    """Receive the reply for ``offset``, check it, write its bytes; return ``(size, chunk)``."""
    if not sock.poll(int(timeout_s * 1000)):
        raise CheckpointFetchError(f"{what}: no reply within {timeout_s} s (server down or unreachable)")
    frames = sock.recv_multipart()
    if len(frames) != 3 or frames[0] != b"" or len(frames[1]) > MAX_REQUEST_BYTES:
        raise CheckpointFetchError(f"{what}: malformed reply of {len(frames)} frames")
    try:
        head = msgpack.unpackb(frames[1], raw=False, strict_map_key=True, max_str_len=MAX_REQUEST_BYTES,
                               max_bin_len=0, max_array_len=16, max_map_len=16, max_ext_len=0)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise CheckpointFetchError(f"{what}: reply header is not msgpack: {type(exc).__name__}") from None
    if not isinstance(head, dict) or head.get("type") != REPLY_TYPE or head.get("schema") != SCHEMA:
        raise CheckpointFetchError(f"{what}: unexpected reply {str(head)[:120]!r}")
    if head.get("ok") is not True:
        raise CheckpointFetchError(f"{what}: refused: {str(head.get('error'))[:300]}")
    got_size, chunk, data = head.get("size_bytes"), head.get("chunk_bytes"), frames[2]
    if (head.get("version") != version or head.get("offset") != offset
            or not isinstance(got_size, int) or not 0 <= got_size <= MAX_CHECKPOINT_BYTES
            or (size is not None and got_size != size) or not isinstance(chunk, int) or chunk < 1
            or len(data) != min(chunk, got_size - offset)):
        raise CheckpointFetchError(f"{what}: inconsistent reply at offset {offset}: version={head.get('version')!r} "
                                   f"offset={head.get('offset')!r} size={got_size!r} chunk={chunk!r} "
                                   f"data={len(data)} bytes")
    f.write(data)
    return got_size, chunk


# ----------------------------------------------------------------------------- resolver
class CheckpointResolver:
    """Turns an announcement into a local file: the announced path when this box has it with the
    announced sha256, else a cached copy, else one fetched from the trainer's checkpoint server.

    Blocking (hashing, network): call it off the hot path. A failed fetch is remembered for
    ``retry_after_s`` and re-raised without touching the network, so a trainer that repeats its
    announcement every 2 s cannot pile up fetch attempts behind an unreachable server. The cache
    keeps the newest ``keep`` versions.
    """

    def __init__(self, endpoint: str, cache_dir: str | os.PathLike, timeout_s: float = 10.0,
                 retry_after_s: float = 10.0, keep: int = 3, context: zmq.Context | None = None,
                 curve: CurveClient | None = None):
        if keep < 1:
            raise WireError(f"keep must be >= 1, got {keep!r}")
        self.endpoint, self.cache_dir, self.timeout_s = endpoint, Path(cache_dir), timeout_s
        self.retry_after_s, self.keep, self._ctx, self._curve = retry_after_s, keep, context, curve
        self._failed: dict[tuple[int, str], tuple[float, str, str]] = {}   # -> (when, message, reason)
        self.fetches = 0

    def resolve(self, ann: WeightsAnnouncement) -> Path:
        local = Path(ann.path)
        if local.is_file() and _sha256_file(local) == ann.sha256:
            return local
        cached = self.cache_dir / cached_name(ann.version, ann.sha256)
        if cached.is_file() and _sha256_file(cached) == ann.sha256:
            return cached
        key = (ann.version, ann.sha256)
        failed = self._failed.get(key)
        if failed is not None and time.monotonic() - failed[0] < self.retry_after_s:
            raise CheckpointFetchError(failed[1], failed[2])
        try:
            path = fetch_checkpoint(self.endpoint, ann.version, ann.sha256, self.cache_dir, self.timeout_s,
                                    self._ctx, curve=self._curve)
        except CheckpointFetchError as exc:
            self._failed[key] = (time.monotonic(), f"{ann.path} is not on this box and {exc}", exc.reason)
            while len(self._failed) > 64:
                self._failed.pop(next(iter(self._failed)))
            raise CheckpointFetchError(self._failed[key][1], exc.reason) from exc
        self._failed.pop(key, None)
        self.fetches += 1
        self._prune()
        return path

    def _prune(self) -> None:
        """Delete all but the newest ``keep`` cached versions (readers load a file whole, so an
        unlink under a reader is harmless)."""
        def version(p: Path) -> int:
            digits = p.name[len("reid-v"):].split("-", 1)[0]
            return int(digits) if digits.isdigit() else -1
        files = sorted(self.cache_dir.glob("reid-v*-*.ckpt"), key=version)
        for old in files[:-self.keep]:
            try:
                old.unlink()
            except FileNotFoundError:
                continue                  # another daemon on this box pruned it first
