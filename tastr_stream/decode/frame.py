"""What the decode stage hands downstream: one ``Frame`` per picture, plus plain counters.

A frame carries its time in synchronized epoch seconds derived from the stream's pts, never
from the wall clock at arrival, so that detections from several cameras line up in time even
when one camera's process is busy. The counters are plain ints written by one decode thread
and read by others (a stale read is harmless); the metrics layer exports them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import StreamError


@dataclass(frozen=True)
class Frame:
    """One decoded picture.

    ``index`` is the frame number from pts (``round(seconds since the stream's origin * fps)``),
    ``t_s`` the time in epoch seconds (``epoch_offset_s + seconds since origin``), ``image`` an
    HxWx3 uint8 BGR array as OpenCV expects, ``width``/``height`` the source's size.
    """

    camera_id: str
    index: int
    t_s: float
    image: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        img = self.image
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape != (self.height, self.width, 3):
            raise StreamError(
                f"camera {self.camera_id!r} frame {self.index}: expected uint8 "
                f"({self.height}, {self.width}, 3), got {img.dtype} {img.shape}")


@dataclass
class DecodeStats:
    """Counters of one source and its worker (monotonic, never reset)."""

    frames_decoded: int = 0     # frames handed out by the source
    frames_dropped: int = 0     # frames the worker's full queue evicted (oldest first)
    corrupt_packets: int = 0    # packets/frames skipped: flagged corrupt, undecodable, or pts going back
    reconnects: int = 0         # connection attempts after the first (network sources)
    frames_late: int = 0        # replay: frames released after their due wall time

    def as_dict(self) -> dict[str, int]:
        return {
            "frames_decoded": self.frames_decoded,
            "frames_dropped": self.frames_dropped,
            "corrupt_packets": self.corrupt_packets,
            "reconnects": self.reconnects,
            "frames_late": self.frames_late,
        }


class FrameSource(Protocol):
    """A producer of frames. ``frames(stop)`` runs on the decode thread until the source ends
    or ``stop`` is set; every blocking wait inside it is bounded so that ``stop`` is honoured."""

    camera_id: str
    stats: DecodeStats

    def frames(self, stop: threading.Event) -> Iterator[Frame]: ...

    def close(self) -> None: ...
