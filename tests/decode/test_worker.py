"""DecodeWorker: a slow consumer never grows memory; drops are counted, newest frames kept."""

from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import pytest

from tastr_stream.decode import DecodeStats, DecodeWorker, FileSource, Frame
from tastr_stream.errors import StreamError

from .conftest import N_FRAMES


class SyntheticSource:
    """In-memory frames (no codec) so the queue policy is tested on its own."""

    def __init__(self, n: int, *, fail_after: int | None = None, size=(120, 160)) -> None:
        self.camera_id, self.stats, self.n, self.fail_after, self.size = "camS", DecodeStats(), n, fail_after, size
        self.closed = False

    def frames(self, stop: threading.Event):
        h, w = self.size
        for i in range(self.n):
            if stop.is_set():
                return
            if self.fail_after is not None and i == self.fail_after:
                raise StreamError(f"synthetic failure at frame {i}")
            self.stats.frames_decoded += 1
            yield Frame(self.camera_id, i, i / 30.0, np.full((h, w, 3), i % 256, np.uint8), w, h)

    def close(self) -> None:
        self.closed = True


def _wait_until(cond, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)  # polling a condition with a deadline, not synchronising by sleep


def test_drops_are_logged_with_when_and_how_many_at_most_once_per_interval(caplog, monkeypatch):
    monkeypatch.setattr("tastr_stream.decode.worker.DROP_WARN_EVERY_S", 3600.0)  # no clock in the count
    n, cap = 50, 4
    worker = DecodeWorker(SyntheticSource(n), cap)
    with caplog.at_level("WARNING", logger="tastr_stream.decode.worker"):
        worker.start()
        _wait_until(lambda: worker.stats.frames_decoded == n and worker.qsize() == cap)
        worker.stop()
    warnings = [r for r in caplog.records if "oldest frames dropped" in r.getMessage()]
    # 46 drops inside one interval: one warning, naming the first frame lost.
    assert len(warnings) == 1
    kv = warnings[0].kv
    assert kv["camera"] == "camS" and kv["frame"] == 0 and kv["dropped_total"] == 1
    assert worker.stats.frames_dropped == n - cap


def test_consumer_that_never_reads_keeps_memory_bounded_and_newest_frames():
    n, cap, h, w = 400, 8, 240, 320
    frame_bytes = h * w * 3
    tracemalloc.start()
    src = SyntheticSource(n, size=(h, w))
    worker = DecodeWorker(src, cap).start()
    _wait_until(lambda: worker.done or src.stats.frames_decoded == n and worker.qsize() == cap)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # 400 frames would be 92 MB; the queue holds 8 plus one in flight.
    assert peak < (cap + 4) * frame_bytes
    assert worker.qsize() == cap
    assert worker.stats.frames_dropped == n - cap
    kept = [worker.get(0.1).index for _ in range(cap)]
    assert kept == list(range(n - cap, n))
    assert worker.get(0.5) is None and worker.done
    worker.stop()
    assert src.closed


def test_block_mode_delivers_every_frame_of_a_file(mp4_clip):
    worker = DecodeWorker(FileSource(mp4_clip, "cam1"), 2, drop_oldest=False).start()
    got = []
    for f in worker:
        got.append(f.index)
        time.sleep(0.001)  # a slow consumer
    assert got == list(range(N_FRAMES))
    assert worker.stats.frames_dropped == 0 and worker.done
    worker.stop()


def test_source_error_reaches_the_consumer_after_queued_frames():
    worker = DecodeWorker(SyntheticSource(10, fail_after=5), 16, drop_oldest=False).start()
    got = [worker.get(5.0).index for _ in range(5)]
    assert got == [0, 1, 2, 3, 4]
    with pytest.raises(StreamError, match="frame 5"):
        worker.get(5.0)
    worker.stop()


def test_stop_joins_a_blocked_producer():
    worker = DecodeWorker(SyntheticSource(10_000), 2, drop_oldest=False).start()
    _wait_until(lambda: worker.qsize() == 2)
    worker.stop(timeout_s=30.0)          # raises StreamError if the blocked producer does not end
    assert worker.source.closed


def test_get_times_out_with_none():
    worker = DecodeWorker(SyntheticSource(0), 2)
    t0 = time.monotonic()
    assert worker.get(timeout_s=0.1) is None
    assert time.monotonic() - t0 >= 0.09            # it waited (how much longer depends on load)


def test_capacity_is_validated():
    with pytest.raises(StreamError, match="0"):
        DecodeWorker(SyntheticSource(1), 0)
