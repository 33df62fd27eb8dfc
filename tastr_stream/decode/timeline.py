"""Map a stream's pts to frame index and epoch seconds.

Two policies, one class each:

* ``FileTimeline`` (files and replay): exact. ``t_s = epoch_offset_s + (pts - origin) * time_base``
  where ``origin`` is the stream's ``start_time`` (0 for MP4; MPEG-TS muxers often start at a
  non-zero pts, and a recording's first frame should be its t = 0). A frame whose time does not
  advance (duplicate or backwards pts) is rejected: downstream trackers need increasing time.
* ``LiveTimeline`` (network streams): the first frame of the first connection is at
  ``epoch_offset_s``; inside one connection time follows pts. A live stream's pts restart when
  the sender restarts, when we reconnect, or on an MPEG-TS 33-bit wrap, so each of those starts a
  new *segment* whose first frame is placed at ``last_t + max(frame period, wall-clock gap since
  the last frame)``. Time thus stays strictly increasing and an outage shows up as a gap of about
  its real length, which keeps cross-camera time differences (the STR prior) meaningful.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from fractions import Fraction

from ..errors import StreamError

log = logging.getLogger(__name__)


def _check_rate(rate_fps: float | None) -> float | None:
    if rate_fps is None or rate_fps <= 0:
        return None
    if not rate_fps < 1000:
        raise StreamError(f"implausible frame rate {rate_fps!r} fps")
    return float(rate_fps)


class FileTimeline:
    """Exact pts -> (index, t_s) for a recorded stream; see the module docstring."""

    def __init__(self, epoch_offset_s: float, origin_pts: int | None, rate_fps: float | None) -> None:
        self.epoch_offset_s = float(epoch_offset_s)
        self.origin_pts = origin_pts
        self.rate_fps = _check_rate(rate_fps)
        self._last_t_s: float | None = None
        self._count = 0

    def map(self, pts: int | None, time_base: Fraction | None) -> tuple[int, float] | None:
        """Return ``(index, t_s)``, or None when the frame must be skipped (time not advancing)."""
        if pts is None or time_base is None:
            # No pts at all: the only honest clock left is the nominal frame rate.
            rel_s = self._count / self.rate_fps if self.rate_fps else float(self._count)
        else:
            origin = self.origin_pts if self.origin_pts is not None else 0
            rel_s = float((pts - origin) * time_base)
        t_s = self.epoch_offset_s + rel_s
        if self._last_t_s is not None and t_s <= self._last_t_s:
            return None
        self._last_t_s = t_s
        index = round(rel_s * self.rate_fps) if self.rate_fps else self._count
        self._count += 1
        return index, t_s


class LiveTimeline:
    """Monotonic pts -> (index, t_s) across reconnects and pts restarts; see the module docstring.

    ``clock`` is a monotonic seconds clock (injectable so tests can feed explicit times).
    """

    def __init__(self, epoch_offset_s: float, rate_fps: float | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.epoch_offset_s = float(epoch_offset_s)
        self.rate_fps = _check_rate(rate_fps)
        self._clock = clock
        self._seg_origin_pts: int | None = None
        self._seg_base_t_s = self.epoch_offset_s
        self._seg_tb: Fraction | None = None
        self._last_t_s: float | None = None
        self._last_wall_s = 0.0
        self._last_index = -1
        self.segments = 0

    def set_rate(self, rate_fps: float | None) -> None:
        """A reconnect may reveal the rate (or a new one); it only affects index and gap floor."""
        rate = _check_rate(rate_fps)
        if rate is not None:
            self.rate_fps = rate

    def new_segment(self) -> None:
        """Call on every (re)connect: the next frame's pts are not comparable to the last one's."""
        self._seg_origin_pts = None

    def _period_s(self) -> float:
        return 1.0 / self.rate_fps if self.rate_fps else 1e-3

    def _start_segment(self, pts: int, time_base: Fraction, now_s: float) -> None:
        if self._last_t_s is None:
            base = self.epoch_offset_s
        else:
            base = self._last_t_s + max(self._period_s(), now_s - self._last_wall_s)
        self._seg_origin_pts, self._seg_tb, self._seg_base_t_s = pts, time_base, base
        self.segments += 1

    def map(self, pts: int | None, time_base: Fraction | None) -> tuple[int, float]:
        now_s = self._clock()
        if pts is None or time_base is None:
            # No pts: advance one nominal period so time stays monotonic.
            t_s = (self._last_t_s + self._period_s()) if self._last_t_s is not None else self.epoch_offset_s
        else:
            if self._seg_origin_pts is None or time_base != self._seg_tb:
                self._start_segment(pts, time_base, now_s)
            t_s = self._seg_base_t_s + float((pts - self._seg_origin_pts) * time_base)
            if self._last_t_s is not None and t_s <= self._last_t_s:
                log.info("pts went back; starting a new time segment",
                         extra={"kv": {"pts": pts, "t_s": round(t_s, 4), "last_t_s": round(self._last_t_s, 4)}})
                self._start_segment(pts, time_base, now_s)
                t_s = self._seg_base_t_s
        self._last_t_s, self._last_wall_s = t_s, now_s
        rel_s = t_s - self.epoch_offset_s
        index = round(rel_s * self.rate_fps) if self.rate_fps else self._last_index + 1
        index = max(index, self._last_index + 1)
        self._last_index = index
        return index, t_s
