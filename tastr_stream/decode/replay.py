"""Replay a recorded file as a live camera, paced against a shared wall-clock epoch.

The frame with time ``t_s`` is released at wall time ``epoch_wall_s + t_s / speed``. Every
camera process started with the same ``epoch_wall_s`` (a unix time, e.g. chosen by the
launcher a few seconds in the future) therefore releases same-time frames together, with no
coordination between processes: a recorded multi-camera set becomes one synchronized live
network. A frame that is already late (slow decode, paused process) is released at once and
counted in ``stats.frames_late``; dropping is the consumer queue's job, not the clock's.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

from ..errors import StreamError
from .file_source import FileSource
from .frame import DecodeStats, Frame

LATE_TOLERANCE_S = 0.002


class ReplaySource:
    """A ``FileSource`` whose frames come out on the replay clock (see the module docstring).

    ``epoch_offset_s`` places this camera's first frame on the shared time line (a camera whose
    recording began 5 s after the others uses 5.0). ``clock`` returns unix seconds; it is
    injectable for tests, waits go through ``stop.wait`` so ``stop`` interrupts them at once.
    """

    def __init__(self, path: str | os.PathLike, camera_id: str, *, epoch_wall_s: float,
                 speed: float = 1.0, threads: int = 0, epoch_offset_s: float = 0.0,
                 stats: DecodeStats | None = None, clock: Callable[[], float] = time.time) -> None:
        if not speed > 0:
            raise StreamError(f"replay speed must be > 0, got {speed!r}")
        if not epoch_wall_s > 0:
            raise StreamError(f"replay epoch_wall_s must be a unix time > 0, got {epoch_wall_s!r}")
        self._file = FileSource(path, camera_id, threads=threads, epoch_offset_s=epoch_offset_s,
                                stats=stats)
        self.camera_id = self._file.camera_id
        self.stats = self._file.stats
        self.width, self.height, self.rate_fps = self._file.width, self._file.height, self._file.rate_fps
        self.epoch_wall_s = float(epoch_wall_s)
        self.speed = float(speed)
        self._clock = clock

    def due_wall_s(self, t_s: float) -> float:
        """Wall time at which the frame with time ``t_s`` is released."""
        return self.epoch_wall_s + t_s / self.speed

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        stop = stop if stop is not None else threading.Event()
        for frame in self._file.frames(stop):
            due_s = self.due_wall_s(frame.t_s)
            wait_s = due_s - self._clock()
            if wait_s < -LATE_TOLERANCE_S:
                self.stats.frames_late += 1
            while wait_s > 0:  # a loop: a timed wait may wake a little early
                if stop.wait(wait_s):
                    return
                wait_s = due_s - self._clock()
            yield frame

    def close(self) -> None:
        self._file.close()
