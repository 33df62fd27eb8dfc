"""What the decode stage hands downstream: one ``Frame`` per picture, plus plain counters.

A frame carries its time in synchronized epoch seconds derived from the stream's pts, never
from the wall clock at arrival, so that detections from several cameras line up in time even
when one camera's process is busy. The counters are plain ints written by one decode thread
and read by others (a stale read is harmless); the metrics layer exports them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from ..errors import StreamError


class Frame:
    """One decoded picture.

    ``index`` is the frame number from pts (``round(seconds since the stream's origin * fps)``),
    ``t_s`` the time in epoch seconds (``epoch_offset_s + seconds since origin``), ``image`` an
    HxWx3 uint8 BGR array as OpenCV expects, ``width``/``height`` the source's size.

    ``image`` may be given as a callable instead of an array: the picture is then converted to
    BGR only when a consumer first reads ``image``. Ingest detects on a schedule (a few times a
    second) and tracks in between without looking at the pixels, and a 3840x2160 BGR conversion
    costs as much as a third of decoding the frame, so frames nobody looks at are never
    converted. The converted array is validated on first use and cached.
    """

    __slots__ = ("camera_id", "index", "t_s", "width", "height", "_image", "_convert")

    def __init__(self, camera_id: str, index: int, t_s: float,
                 image: np.ndarray | Callable[[], np.ndarray], width: int, height: int) -> None:
        self.camera_id = camera_id
        self.index = index
        self.t_s = t_s
        self.width = width
        self.height = height
        if callable(image):
            self._image, self._convert = None, image
        else:
            self._image, self._convert = self._checked(image), None

    @property
    def converted(self) -> bool:
        """Whether the BGR array exists yet (tests and counters: a frame nobody read is not)."""
        return self._image is not None

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            self._image = self._checked(self._convert())
            self._convert = None  # releases the decoder's picture
        return self._image

    def resized(self, width: int, height: int) -> np.ndarray:
        """The frame in BGR at ``width`` x ``height`` (area averaging), e.g. the detector's copy.
        An unconverted decoded frame is scaled straight from its planes; the full-size BGR is
        not made for it."""
        if self._image is None and hasattr(self._convert, "resized"):
            small = self._convert.resized(width, height)
            if isinstance(small, np.ndarray) and small.shape == (height, width, 3) and small.dtype == np.uint8:
                return small
        return cv2.resize(self.image, (int(width), int(height)), interpolation=cv2.INTER_AREA)

    def region(self, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
        """Full-resolution BGR pixels [y1:y2, x1:x2] (clipped to the frame), e.g. a Re-ID crop.
        An unconverted decoded frame converts only that rectangle when it can."""
        x1, y1 = max(0, int(x1)), max(0, int(y1))
        x2, y2 = min(self.width, int(x2)), min(self.height, int(y2))
        if self._image is None and hasattr(self._convert, "region") and x2 > x1 and y2 > y1:
            part = self._convert.region(x1, y1, x2, y2)
            if isinstance(part, np.ndarray) and part.shape == (y2 - y1, x2 - x1, 3):
                return part
        return self.image[y1:y2, x1:x2]

    def _checked(self, img: np.ndarray) -> np.ndarray:
        if (not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3
                or img.shape != (self.height, self.width, 3)):
            got = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
            raise StreamError(
                f"camera {self.camera_id!r} frame {self.index}: expected uint8 "
                f"({self.height}, {self.width}, 3), got {got}")
        return img

    def __repr__(self) -> str:
        return (f"Frame(camera_id={self.camera_id!r}, index={self.index}, t_s={self.t_s:.3f}, "
                f"{self.width}x{self.height}, converted={self.converted})")


@dataclass
class DecodeStats:
    """Counters of one source and its worker (monotonic, never reset)."""

    frames_decoded: int = 0     # frames handed out by the source
    frames_dropped: int = 0     # frames the worker's full queue evicted (oldest first)
    corrupt_packets: int = 0    # packets/frames skipped: flagged corrupt, undecodable, or pts going back
    reconnects: int = 0         # connection attempts after the first (network sources)
    frames_late: int = 0        # replay: frames released after their due wall time
    # Called with the seconds each packet took to decode (the ingest daemon observes them in
    # its decode-stage histogram); runs on the decode thread.
    on_decode: Callable[[float], None] | None = field(default=None, repr=False, compare=False)

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
