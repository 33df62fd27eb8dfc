"""A live network camera (rtsp://, tcp://, udp://, ...) that never gives up.

On end of stream, error or stall (no frame for ``stall_timeout_s``) the connection is closed
and re-opened after an exponential back-off (``reconnect_initial_s`` doubling up to
``reconnect_max_s``), forever until stopped. Each attempt after the first is counted in
``stats.reconnects`` and each failure is logged once, with the attempt count and the next
delay. The back-off resets once a connection has delivered frames again.

Time: see ``timeline.LiveTimeline``. The first frame is at ``epoch_offset_s``; a daemon
joining a live network passes ``time.time() - shared_epoch_wall_s`` so that its cameras share
one time line; pts restarts (reconnect, sender restart, 33-bit wrap) keep time increasing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import av.error

from ..config.ingest import DecodeConfig
from ..errors import StreamError
from .av_reader import (BgrConverter, configure_decoder, decoded_frames, open_decoding, stream_rate_fps,
                        time_base_of)
from .frame import DecodeStats, Frame
from .timeline import LiveTimeline

log = logging.getLogger(__name__)

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "tcp", "udp", "rtp", "srt", "http", "https"})


class _Abandon(Exception):
    """Raised inside the decode loop to drop the current connection (stall or stop)."""


class Backoff:
    """Delays ``initial_s, 2*initial_s, 4*initial_s, ...`` capped at ``max_s``."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        if not (0 < initial_s <= max_s):
            raise StreamError(f"back-off needs 0 < initial_s <= max_s, got {initial_s!r}, {max_s!r}")
        self.initial_s, self.max_s = float(initial_s), float(max_s)
        self._next_s = self.initial_s

    def next_delay_s(self) -> float:
        delay = self._next_s
        self._next_s = min(self._next_s * 2.0, self.max_s)
        return delay

    def reset(self) -> None:
        self._next_s = self.initial_s


def is_network_url(url: str) -> bool:
    return urlsplit(str(url)).scheme.lower() in NETWORK_SCHEMES


class NetworkSource:
    """Frames from a live stream, reconnecting with back-off (see the module docstring)."""

    def __init__(self, url: str, camera_id: str, *, threads: int = 0, epoch_offset_s: float = 0.0,
                 reconnect_initial_s: float = 0.5, reconnect_max_s: float = 10.0,
                 stall_timeout_s: float = 5.0, open_timeout_s: float | None = None,
                 options: dict[str, str] | None = None, stats: DecodeStats | None = None,
                 clock: Callable[[], float] = time.monotonic, hwaccel: str = "none") -> None:
        if not is_network_url(url):
            raise StreamError(f"camera {camera_id!r}: not a network URL (scheme must be one of "
                              f"{sorted(NETWORK_SCHEMES)}): {url!r}")
        if threads < 0 or not stall_timeout_s > 0:
            raise StreamError(f"invalid threads={threads!r} or stall_timeout_s={stall_timeout_s!r}")
        self.url, self.camera_id = str(url), str(camera_id)
        self.stats = stats if stats is not None else DecodeStats()
        self.threads = int(threads)
        self.stall_timeout_s = float(stall_timeout_s)
        self.open_timeout_s = float(open_timeout_s) if open_timeout_s else max(2 * self.stall_timeout_s, 5.0)
        self._backoff = Backoff(reconnect_initial_s, reconnect_max_s)
        self._options = self._default_options() | dict(options or {})
        self._clock = clock
        self._timeline = LiveTimeline(epoch_offset_s, None, clock)
        self._to_bgr = BgrConverter()
        self.width = self.height = 0
        # decode.hwaccel; "auto" becomes "none" after the first connection that finds no hardware
        # decoder, so reconnects neither retry nor log it again.
        self.hwaccel = hwaccel

    @classmethod
    def from_config(cls, url: str, camera_id: str, config: DecodeConfig, **kwargs) -> NetworkSource:
        return cls(url, camera_id, threads=config.threads, reconnect_initial_s=config.reconnect_initial_s,
                   reconnect_max_s=config.reconnect_max_s, stall_timeout_s=config.stall_timeout_s,
                   hwaccel=config.hwaccel, **kwargs)

    def _default_options(self) -> dict[str, str]:
        """Socket-level timeouts as a second line of defence behind PyAV's read timeout."""
        us = str(int(self.stall_timeout_s * 1e6))
        scheme = urlsplit(self.url).scheme.lower()
        if scheme in ("rtsp", "rtsps"):
            return {"rtsp_transport": "tcp", "timeout": us}  # 4K over RTP/UDP loses packets
        if scheme == "udp":
            return {"overrun_nonfatal": "1", "fifo_size": "1000000", "timeout": us}
        return {"rw_timeout": us}

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        stop = stop if stop is not None else threading.Event()
        attempt = 0
        while not stop.is_set():
            if attempt > 0:
                self.stats.reconnects += 1
            attempt += 1
            delivered = 0
            try:
                for frame in self._session(stop):
                    delivered += 1
                    yield frame
                reason = "end of stream"
            except (StreamError, _Abandon) as exc:
                reason = str(exc)
            except (av.error.FFmpegError, OSError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if stop.is_set():
                return
            if delivered:
                self._backoff.reset()
            delay_s = self._backoff.next_delay_s()
            log.warning("stream lost; reconnecting", extra={"kv": {
                "camera": self.camera_id, "url": self.url, "attempt": attempt, "frames": delivered,
                "retry_in_s": delay_s, "reason": reason}})
            if stop.wait(delay_s):
                return

    def _session(self, stop: threading.Event) -> Iterator[Frame]:
        """One connection: open, decode until it ends, fails, stalls or ``stop`` is set."""
        container, used = open_decoding(self.url, self.hwaccel, options=self._options,
                                        timeout_s=(self.open_timeout_s, self.stall_timeout_s))
        if self.hwaccel == "auto" and used == "none":
            self.hwaccel = "none"
        try:
            stream = container.streams.video[0]
            configure_decoder(stream, self.threads)
            self._timeline.set_rate(stream_rate_fps(stream))
            self._timeline.new_segment()
            last_frame_s = self._clock()

            def check() -> None:
                if stop.is_set():
                    raise _Abandon("stopped")
                idle_s = self._clock() - last_frame_s
                if idle_s > self.stall_timeout_s:
                    raise _Abandon(f"stalled: no frame for {idle_s:.1f} s")

            for av_frame in decoded_frames(container, stream, self.stats, self.url, check):
                index, t_s = self._timeline.map(av_frame.pts, time_base_of(av_frame, stream))
                self.width, self.height = av_frame.width, av_frame.height
                self.stats.frames_decoded += 1
                yield Frame(self.camera_id, index, t_s, self._to_bgr.later(av_frame), self.width, self.height)
                last_frame_s = self._clock()  # after the yield: a blocked consumer is not a stall
        finally:
            container.close()

    def close(self) -> None:
        """Nothing held between connections; ``frames()`` closes each one itself."""
