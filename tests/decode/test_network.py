"""NetworkSource against a real MPEG-TS server process on a random loopback port.

Guards against the production failures of live cameras: a camera that reboots (connection
cut, then back on the same address), a camera that hangs with the socket open, and a camera
that is down at start-up. Every wait is bounded by a deadline.
"""

from __future__ import annotations

import logging
import time

import pytest

from tastr_stream.decode import Backoff, DecodeWorker, NetworkSource
from tastr_stream.errors import StreamError

from .conftest import N_FRAMES
from .media import free_port, start_ts_server, stop_process


def _collect(worker: DecodeWorker, n: int, timeout_s: float, sink: list) -> None:
    """Take frames until ``n`` more arrived; fail after ``timeout_s``."""
    want = len(sink) + n
    deadline = time.monotonic() + timeout_s
    while len(sink) < want:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(sink)}/{want} frames in {timeout_s} s; stats={worker.stats}")
        frame = worker.get(timeout_s=0.2)
        if frame is not None:
            sink.append(frame)


def _poll(cond, timeout_s: float, worker: DecodeWorker, sink: list) -> None:
    """Drain frames while waiting for ``cond`` (bounded)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s} s; stats={worker.stats}")
        frame = worker.get(timeout_s=0.05)
        if frame is not None:
            sink.append(frame)


def _source(port: int, **kw) -> NetworkSource:
    args = dict(threads=1, reconnect_initial_s=0.1, reconnect_max_s=0.4, stall_timeout_s=1.0,
                open_timeout_s=5.0)
    return NetworkSource(f"tcp://127.0.0.1:{port}", "cam7", **(args | kw))


def _assert_monotonic(frames) -> None:
    t = [f.t_s for f in frames]
    idx = [f.index for f in frames]
    assert all(b > a for a, b in zip(t, t[1:])), "time went backwards"
    assert all(b > a for a, b in zip(idx, idx[1:])), "index went backwards"


def test_server_killed_and_restarted_on_the_same_port(ts_clip):
    port = free_port()
    server = start_ts_server(ts_clip, port, N_FRAMES)
    worker = DecodeWorker(_source(port, epoch_offset_s=50.0), 64).start()
    frames: list = []
    try:
        _collect(worker, 15, 15.0, frames)
        assert frames[0].t_s == pytest.approx(50.0, abs=1e-6)
        stop_process(server)                       # the camera reboots
        _poll(lambda: worker.stats.reconnects >= 2, 10.0, worker, frames)  # refused while down
        before = len(frames)
        server = start_ts_server(ts_clip, port, N_FRAMES)
        _collect(worker, 15, 15.0, frames)
        assert worker.stats.reconnects >= 2
        after = frames[before:]
        # Down for at least a back-off step: the gap shows in time, and time never went back.
        assert after[0].t_s - frames[before - 1].t_s > 0.1
        _assert_monotonic(frames)
        assert all(f.image.shape == (240, 320, 3) and f.camera_id == "cam7" for f in frames)
    finally:
        worker.stop(timeout_s=10.0)
        stop_process(server)


def test_stalled_stream_is_dropped_and_reconnected(ts_clip):
    """First connection hangs mid-stream with the socket open; the source must not hang with it."""
    port = free_port()
    server = start_ts_server(ts_clip, port, N_FRAMES, stall_after_bytes=ts_clip.stat().st_size // 2)
    worker = DecodeWorker(_source(port, stall_timeout_s=0.8), 64).start()
    frames: list = []
    try:
        _collect(worker, 10, 15.0, frames)
        _poll(lambda: worker.stats.reconnects >= 1, 10.0, worker, frames)
        before = len(frames)
        _collect(worker, 10, 15.0, frames)
        assert frames[before].t_s - frames[before - 1].t_s >= 0.8  # the stall shows as a gap
        _assert_monotonic(frames)
    finally:
        worker.stop(timeout_s=10.0)
        stop_process(server)


def test_looping_sender_restarts_pts_and_time_stays_monotonic(ts_clip):
    """The server loops the file, so pts jump back to 0 inside one connection."""
    port = free_port()
    server = start_ts_server(ts_clip, port, N_FRAMES, fps=120.0)
    worker = DecodeWorker(_source(port), 256).start()
    frames: list = []
    try:
        _collect(worker, N_FRAMES + 20, 15.0, frames)
        _assert_monotonic(frames)
        assert worker.stats.reconnects == 0
    finally:
        worker.stop(timeout_s=10.0)
        stop_process(server)


def test_unreachable_camera_retries_forever_with_backoff_and_logs_attempts(caplog):
    port = free_port()                             # nothing listens here
    caplog.set_level(logging.WARNING, logger="tastr_stream.decode.network")
    worker = DecodeWorker(_source(port, reconnect_initial_s=0.05, reconnect_max_s=0.2), 4).start()
    try:
        _poll(lambda: worker.stats.reconnects >= 4, 10.0, worker, [])
    finally:
        worker.stop(timeout_s=30.0)      # raises StreamError if the retry loop does not end on stop
    attempts = [r.kv["attempt"] for r in caplog.records if getattr(r, "kv", None)]
    delays = [r.kv["retry_in_s"] for r in caplog.records if getattr(r, "kv", None)]
    assert attempts[:4] == [1, 2, 3, 4]
    assert delays[:4] == [0.05, 0.1, 0.2, 0.2]
    assert all(f"127.0.0.1:{port}" in r.kv["url"] for r in caplog.records if getattr(r, "kv", None))


def test_backoff_doubles_caps_and_resets():
    b = Backoff(0.5, 3.0)
    assert [b.next_delay_s() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    b.reset()
    assert b.next_delay_s() == 0.5
    with pytest.raises(StreamError, match="5.0"):
        Backoff(5.0, 1.0)
