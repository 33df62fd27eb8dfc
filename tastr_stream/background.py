"""Background work yields the CPU to live work.

On one box, a training round or the re-embedding of a window after a model swap competes with
ingest's decoding and detection for the same cores. Ingest is the one that loses frames when
it waits: its decode queue holds a few seconds of video at most, and a CPU-bound round that
takes its fair share while the box is full makes the queue drop the oldest frames (the demo
lost 4 frames on one camera in 2 of 8 runs, each time while a round trained). A round that
waits loses nothing but a little time.

The kernel's niceness says exactly this. A thread at niceness 10 gets about a tenth of the CPU
share of a thread at 0 while both want the CPU, and the whole CPU when nothing else does, so an
idle trainer box trains as fast as before. On Linux niceness belongs to a thread, and threads
(torch's intra-op pool included) inherit it from the thread that starts them, so each daemon
lowers only the worker thread that runs its background job, at the worker's start.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

MAX_NICENESS = 19


def lower_priority(niceness: int) -> int | None:
    """Make the calling thread at least ``niceness`` nice (0..19); return the niceness in force
    (None where the platform would not say).

    Never raises: a platform without per-thread priorities, or a sandbox that forbids the call,
    leaves the thread as it was (logged once per call), because running a round at normal
    priority is better than not running it. Raising niceness needs no privilege; it cannot be
    undone without one, which is why it is applied to worker threads and not to a daemon's loop.
    """
    if not 0 <= niceness <= MAX_NICENESS:
        raise ValueError(f"niceness must be in [0, {MAX_NICENESS}], got {niceness!r}")
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < niceness:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
        return os.getpriority(os.PRIO_PROCESS, tid)
    except (AttributeError, OSError) as exc:  # no setpriority here, or not allowed
        log.warning("could not lower this thread's CPU priority; it competes with live work as is",
                    extra={"kv": {"thread": threading.current_thread().name, "niceness": niceness,
                                  "error": exc}})
        return None


def thread_niceness() -> int:
    """The calling thread's niceness (for tests and logs)."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
