"""When to run the detector: a rate in stream time, backing off when the box falls behind.

A 4K camera delivers 30 frames a second; a CPU pose network runs a few times a second. Like
Frigate, ingest decodes every frame but detects on a schedule, and the tracker's motion model
carries people over the frames in between. The schedule counts in *stream* time (the frames'
own timestamps), not wall time, so a file processed faster or slower than real time detects on
the same frames every run, and a live camera detects at the configured rate of its own clock.

Overload: when frames wait in the decode queue (the consumer is slower than the camera), the
detection period grows by ``BACKOFF`` at each detection, up to ``1 / min_rate_hz``; when the
queue is empty again it shrinks back by ``RECOVER``. A frame without detection costs the
tracker's prediction only (well under a millisecond), so the queue drains long before the
decode worker has to drop a frame. Both the current rate and the back-offs are counted for the
metrics.
"""

from __future__ import annotations

from ..errors import ConfigError

BACKOFF = 1.5          # period x this per detection while the queue is at least half full
RECOVER = 1.25         # period / this per detection while the queue is empty
BUSY_FILL = 0.5        # queue fill (0..1) that counts as falling behind


class DetectionSchedule:
    """``due(t_s)`` says whether to detect on the frame with time ``t_s`` (call once per frame,
    in order); ``note_backlog(fill)`` reports the decode queue's fill before each frame.

    ``rate_hz == 0`` means every frame (until overload: the back-off then starts from the
    stream's own frame interval).
    """

    def __init__(self, rate_hz: float = 0.0, min_rate_hz: float = 1.0) -> None:
        if rate_hz < 0 or not min_rate_hz > 0 or (rate_hz and min_rate_hz > rate_hz):
            raise ConfigError(f"detection schedule: need rate_hz >= 0 and 0 < min_rate_hz <= rate_hz, "
                              f"got rate_hz={rate_hz!r} min_rate_hz={min_rate_hz!r}")
        self.rate_hz = float(rate_hz)
        self.min_rate_hz = float(min_rate_hz)
        self.slowdown = 1.0              # current period / configured period (>= 1)
        self.backoffs = 0                # times the period grew under load
        self.detections = 0
        self.frames = 0
        self._last_detect_s: float | None = None
        self._last_frame_s: float | None = None
        self._frame_interval_s = 0.0     # the stream's own, from consecutive timestamps
        self._busy = False               # the queue was at least half full at the last frame
        self._idle = False               # the queue was empty at the last frame

    @property
    def base_period_s(self) -> float:
        return 1.0 / self.rate_hz if self.rate_hz else self._frame_interval_s

    @property
    def period_s(self) -> float:
        """The detection period in force now (0 = every frame)."""
        return min(self.base_period_s * self.slowdown, max(1.0 / self.min_rate_hz, self.base_period_s))

    @property
    def current_rate_hz(self) -> float:
        """Detections per second of stream time the schedule aims at now (0 if not yet known)."""
        period = self.period_s
        if period > 0:
            return 1.0 / period
        return 1.0 / self._frame_interval_s if self._frame_interval_s > 0 else 0.0

    def note_backlog(self, fill: float) -> None:
        """The decode queue's fill in [0, 1] (``qsize / capacity``) as this frame is taken."""
        self._busy = fill >= BUSY_FILL
        self._idle = fill <= 0.0

    def due(self, t_s: float) -> bool:
        self.frames += 1
        if self._last_frame_s is not None and t_s > self._last_frame_s:
            self._frame_interval_s = t_s - self._last_frame_s
        self._last_frame_s = t_s
        if self._last_detect_s is not None:
            # Half a frame of tolerance: 5 Hz on a 30 fps stream is every 6th frame, not every 7th.
            if t_s - self._last_detect_s < self.period_s - 0.5 * self._frame_interval_s:
                return False
        self._last_detect_s = t_s
        self.detections += 1
        self._adapt()
        return True

    def _adapt(self) -> None:
        ceiling = max(1.0, (1.0 / self.min_rate_hz) / self.base_period_s) if self.base_period_s > 0 else 1.0
        if self._busy:
            if self.slowdown < ceiling:
                self.slowdown = min(self.slowdown * BACKOFF, ceiling)
                self.backoffs += 1
        elif self._idle:
            self.slowdown = max(1.0, self.slowdown / RECOVER)
