"""lower_priority: background threads yield the CPU; the daemon's loop and other threads keep theirs."""

from __future__ import annotations

import threading

import pytest

from tastr_stream.background import lower_priority, thread_niceness


def _in_thread(fn):
    out: dict = {}

    def body():
        try:
            out["value"] = fn()
        except BaseException as exc:  # handed back to the test's thread
            out["error"] = exc

    t = threading.Thread(target=body)
    t.start()
    t.join(30)
    assert not t.is_alive()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_only_the_calling_thread_and_the_threads_it_starts_are_lowered():
    before = thread_niceness()
    target = min(before + 5, 19)

    def worker():
        in_force = lower_priority(target)
        child = _in_thread(thread_niceness)        # e.g. torch's intra-op pool, started by the worker
        return in_force, thread_niceness(), child

    in_force, mine, child = _in_thread(worker)
    assert in_force == mine == child == target
    assert thread_niceness() == before, "the caller's own thread is untouched"
    assert _in_thread(thread_niceness) == before, "threads started elsewhere are untouched"


def test_a_thread_already_nicer_is_not_made_less_nice():
    before = thread_niceness()
    high = min(before + 8, 19)

    def worker():
        lower_priority(high)
        return lower_priority(max(before, high - 4)), thread_niceness()

    assert _in_thread(worker) == (high, high)


@pytest.mark.parametrize("bad", [-1, 20, 100])
def test_a_niceness_outside_0_to_19_is_refused(bad):
    with pytest.raises(ValueError, match="niceness must be in"):
        lower_priority(bad)


def test_a_platform_that_refuses_leaves_the_thread_as_it_was_and_says_so(monkeypatch, caplog):
    def refuse(*args):
        raise PermissionError(1, "Operation not permitted")

    before = thread_niceness()
    if before >= 19:
        pytest.skip("this process already runs at the lowest priority")
    monkeypatch.setattr("tastr_stream.background.os.setpriority", refuse)
    with caplog.at_level("WARNING", logger="tastr_stream.background"):
        assert _in_thread(lambda: lower_priority(min(before + 3, 19))) is None
    assert any("could not lower" in r.getMessage() for r in caplog.records)
    assert thread_niceness() == before
