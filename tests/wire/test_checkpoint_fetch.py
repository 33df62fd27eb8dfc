"""Checkpoint bytes over real loopback sockets: the trainer's CheckpointServer and the edge's
fetch_checkpoint / CheckpointResolver.

Guards against: an edge box that cannot hot-swap because it does not share the trainer's disk,
a half-downloaded or tampered file becoming a served model, a fetch that hangs on a dead trainer,
a server that crashes on (or answers) a hostile request by reading an arbitrary path, and an
edge cache that fills its disk with one file per round.
"""

from __future__ import annotations

import hashlib
import os
import queue
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq

from tastr_stream.errors import WireError
from tastr_stream.wire.checkpoints import (CheckpointFetchError, CheckpointResolver, CheckpointServer,
                                           cached_name, checkpoint_name, encode_request, fetch_checkpoint)
from tastr_stream.wire.records import WeightsAnnouncement

CHUNK = 1000


def write_ckpt(folder: Path, version: int, size: int, seed: int = 0) -> tuple[Path, str]:
    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / checkpoint_name(version)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


@contextmanager
def serving(folder: Path, chunk_bytes: int = CHUNK):
    """A CheckpointServer on a random loopback port, polled by its own thread (as the trainer's loop)."""
    box: queue.Queue = queue.Queue()
    stop = threading.Event()

    def loop():
        server = CheckpointServer("tcp://127.0.0.1:*", folder, chunk_bytes=chunk_bytes)
        box.put(server)
        try:
            while not stop.is_set():
                server.serve(timeout_ms=20)
        finally:
            server.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    server = box.get(timeout=5)
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        assert not thread.is_alive()


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def request(endpoint: str, frames: list[bytes], timeout_s: float = 5.0) -> list[bytes]:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        sock.send_multipart([b"", *frames])
        assert sock.poll(int(timeout_s * 1000)), "the server must answer, not drop or crash"
        return sock.recv_multipart()
    finally:
        sock.close(linger=0)


def error_of(reply: list[bytes]) -> str:
    assert len(reply) == 3 and reply[0] == b"" and reply[2] == b""
    head = msgpack.unpackb(reply[1])
    assert head["ok"] is False
    return head["error"]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("size", [0, CHUNK, 10 * CHUNK + 500])
def test_fetch_is_complete_and_verified(tmp_path, size):
    src, sha = write_ckpt(tmp_path / "trainer", 3, size, seed=size)
    with serving(tmp_path / "trainer") as server:
        got = fetch_checkpoint(server.endpoint, 3, sha, tmp_path / "edge", timeout_s=5)
        assert server.chunks_served == max(1, -(-size // CHUNK))
    assert got == tmp_path / "edge" / cached_name(3, sha)
    assert got.read_bytes() == src.read_bytes()
    assert leftovers(tmp_path / "edge") == [got.name], "no temp file left beside the result"


def test_wrong_sha_is_rejected_and_leaves_no_file(tmp_path):
    write_ckpt(tmp_path / "trainer", 3, 5 * CHUNK)
    with serving(tmp_path / "trainer") as server:
        with pytest.raises(CheckpointFetchError, match="sha256 mismatch"):
            fetch_checkpoint(server.endpoint, 3, "0" * 64, tmp_path / "edge", timeout_s=5)
    assert leftovers(tmp_path / "edge") == []


def test_unknown_version_is_refused(tmp_path):
    _, sha = write_ckpt(tmp_path / "trainer", 3, 100)
    with serving(tmp_path / "trainer") as server:
        with pytest.raises(CheckpointFetchError, match="no checkpoint version 7"):
            fetch_checkpoint(server.endpoint, 7, sha, tmp_path / "edge", timeout_s=5)
    assert leftovers(tmp_path / "edge") == []


def test_server_down_times_out_without_a_file(tmp_path):
    with pytest.raises(CheckpointFetchError, match="no reply within 0.3 s"):
        fetch_checkpoint(free_endpoint(), 3, "a" * 64, tmp_path / "edge", timeout_s=0.3)
    assert leftovers(tmp_path / "edge") == []


@pytest.mark.parametrize("bad", ["short", "bad_sha", "neg_version", "zero_timeout"])
def test_bad_arguments_raise_before_any_io(tmp_path, bad):
    args = {"version": 3, "sha256": "a" * 64, "timeout_s": 1.0}
    args.update({"short": {"sha256": "ab"}, "bad_sha": {"sha256": "Z" * 64}, "neg_version": {"version": -1},
                 "zero_timeout": {"timeout_s": 0}}[bad])
    with pytest.raises(CheckpointFetchError):
        fetch_checkpoint(free_endpoint(), args["version"], args["sha256"], tmp_path / "edge", args["timeout_s"])
    assert not (tmp_path / "edge").exists()


def test_malformed_requests_get_an_error_reply_and_the_server_keeps_serving(tmp_path):
    _, sha = write_ckpt(tmp_path / "trainer", 3, 2500)
    ok = {"schema": 1, "type": "checkpoint.request", "version": 3, "offset": 0}
    malformed = {
        "not msgpack": [b"\xc1\xff"],
        "not a map": [msgpack.packb([1, 2, 3])],
        "wrong type": [msgpack.packb({**ok, "type": "lookup.request"})],
        "wrong schema": [msgpack.packb({**ok, "schema": 99})],
        "string version": [msgpack.packb({**ok, "version": "3"})],
        "bool version": [msgpack.packb({**ok, "version": True})],
        "negative offset": [msgpack.packb({**ok, "offset": -1})],
        "offset past end": [msgpack.packb({**ok, "offset": 10_000})],
        "two frames": [encode_request(3, 0), b"extra"],
        "no frames": [],
        "oversized": [b"\x00" * 10_000],
    }
    with serving(tmp_path / "trainer") as server:
        for name, frames in malformed.items():
            assert error_of(request(server.endpoint, frames)), name
        assert server.errors == len(malformed)
        got = fetch_checkpoint(server.endpoint, 3, sha, tmp_path / "edge", timeout_s=5)
    assert hashlib.sha256(got.read_bytes()).hexdigest() == sha


def test_path_traversal_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not yours")
    folder = tmp_path / "trainer"
    write_ckpt(folder, 3, 100)
    (folder / checkpoint_name(9)).symlink_to(secret)                 # a link out of the folder
    base = {"schema": 1, "type": "checkpoint.request", "offset": 0}
    with serving(folder) as server:
        for version in ("../secret.txt", str(secret), "3/../../secret.txt"):
            assert "version must be an int" in error_of(request(server.endpoint, [msgpack.packb({**base,
                                                                                               "version": version})]))
        no_version = error_of(request(server.endpoint, [msgpack.packb({**base, "path": str(secret)})]))
        assert "version must be an int" in no_version
        assert "no checkpoint version 9" in error_of(request(server.endpoint, [encode_request(9, 0)]))


def test_server_bind_failure_names_the_endpoint(tmp_path):
    with serving(tmp_path) as server:
        with pytest.raises(WireError, match="cannot bind the checkpoint server"):
            CheckpointServer(server.endpoint, tmp_path)


def announcement(version: int, path: Path | str, sha: str) -> WeightsAnnouncement:
    return WeightsAnnouncement(version=version, path=str(path), sha256=sha, backbone="tiny", emb_dim=16)


def test_resolver_prefers_the_local_file_then_the_cache_then_fetches(tmp_path):
    src, sha = write_ckpt(tmp_path / "trainer", 4, 3 * CHUNK)
    with serving(tmp_path / "trainer") as server:
        resolver = CheckpointResolver(server.endpoint, tmp_path / "cache", timeout_s=5)
        assert resolver.resolve(announcement(4, src, sha)) == src and resolver.fetches == 0
        elsewhere = announcement(4, "/nonexistent/box/reid-v000004.ckpt", sha)
        fetched = resolver.resolve(elsewhere)
        assert fetched.parent == tmp_path / "cache" and fetched.read_bytes() == src.read_bytes()
        assert resolver.resolve(elsewhere) == fetched and resolver.fetches == 1, "second time from the cache"
        stale = tmp_path / "stale.ckpt"                  # this box has *a* file there, not the announced one
        stale.write_bytes(b"old")
        assert resolver.resolve(announcement(4, stale, sha)) == fetched


def test_resolver_remembers_a_failed_fetch_instead_of_retrying_every_repeat(tmp_path, monkeypatch):
    import tastr_stream.wire.checkpoints as checkpoints

    calls = []
    real_fetch = checkpoints.fetch_checkpoint
    monkeypatch.setattr(checkpoints, "fetch_checkpoint", lambda *a, **kw: calls.append(a) or real_fetch(*a, **kw))
    resolver = CheckpointResolver(free_endpoint(), tmp_path / "cache", timeout_s=0.3, retry_after_s=60)
    ann = announcement(5, tmp_path / "missing.ckpt", "b" * 64)
    with pytest.raises(CheckpointFetchError, match="is not on this box and .*no reply"):
        resolver.resolve(ann)
    with pytest.raises(CheckpointFetchError, match="no reply"):
        resolver.resolve(ann)
    assert len(calls) == 1, "a repeat within retry_after_s must not go to the network again"
    assert leftovers(tmp_path / "cache") == []


def test_resolver_cache_keeps_only_the_newest_versions(tmp_path):
    folder = tmp_path / "trainer"
    anns = []
    for v in range(1, 6):
        _, sha = write_ckpt(folder, v, 200, seed=v)
        anns.append(announcement(v, f"/elsewhere/{checkpoint_name(v)}", sha))
    with serving(folder) as server:
        resolver = CheckpointResolver(server.endpoint, tmp_path / "cache", timeout_s=5, keep=2)
        for ann in anns:
            resolver.resolve(ann)
    assert leftovers(tmp_path / "cache") == [cached_name(a.version, a.sha256) for a in anns[-2:]]
    assert os.listdir(folder) and resolver.fetches == 5


def test_bad_endpoint_is_a_fetch_error(tmp_path):
    with pytest.raises(CheckpointFetchError, match="bad endpoint"):
        fetch_checkpoint("nonsense://x", 3, "a" * 64, tmp_path / "edge", timeout_s=1)
    assert leftovers(tmp_path / "edge") == []
