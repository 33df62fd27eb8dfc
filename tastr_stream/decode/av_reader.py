"""The one PyAV decode loop every source shares: open, configure threads, demux, decode,
skip corrupt data, convert to BGR.

Corrupt data is skipped and counted in ``stats.corrupt_packets`` in three places, because
FFmpeg reports it in three ways: a packet the demuxer flags corrupt (e.g. an MPEG-TS
continuity error), a packet whose decode raises ``InvalidDataError``, and a frame the decoder
flags corrupt (concealed picture, e.g. decoding started mid-GOP on a live stream). A frame
built from damaged data would feed false detections to the tracker; a gap in time does not.

Hardware decode (``decode.hwaccel``): :func:`open_decoding` opens the source with PyAV's hwaccel
API (NVDEC through FFmpeg's CUDA device). Decoded pictures are downloaded to system memory
(``is_hw_owned=False``), so downstream sees the same lazy BGR frames as from software decoding;
a codec NVDEC cannot decode falls back to software inside FFmpeg. Where no CUDA device can be
created (no GPU, no driver, an FFmpeg without CUDA), ``"auto"`` decodes in software with one log
line and ``"cuda"`` is a one-line ConfigError naming the field.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction

import av
import av.error
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import ConfigError, StreamError
from .frame import DecodeStats

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_DEMUX_ERRORS = 50


def open_input(url: str, *, options: dict[str, str] | None = None,
               timeout_s: float | tuple[float, float] | None = None) -> av.container.InputContainer:
    """Open ``url`` (a path or a URL) for reading; any failure becomes ``StreamError`` naming it."""
    try:
        container = av.open(url, mode="r", options=dict(options or {}), timeout=timeout_s)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise StreamError(f"cannot open video source {url!r}: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise StreamError(f"video source {url!r} has no video stream")
    return container


HWACCELS = ("none", "auto", "cuda")


def hwaccel_device_types() -> list[str]:
    """Hardware device types the loaded FFmpeg was built with (not proof that a device exists)."""
    from av.codec.hwaccel import hwdevices_available

    return list(hwdevices_available())


def open_decoding(url: str, hwaccel: str = "none", *, options: dict[str, str] | None = None,
                  timeout_s: float | tuple[float, float] | None = None
                  ) -> tuple[av.container.InputContainer, str]:
    """``open_input`` with hardware decode as ``decode.hwaccel`` asks: (container, "cuda" | "none").

    A failed hardware open is retried in software: if that fails too, the source itself is the
    problem (StreamError naming it); if it works, the hardware was (see the module doc).
    """
    if hwaccel not in HWACCELS:
        raise ConfigError(f"decode.hwaccel={hwaccel!r}: expected one of {HWACCELS}")
    if hwaccel == "none":
        return open_input(url, options=options, timeout_s=timeout_s), "none"
    if "cuda" not in hwaccel_device_types():
        reason = f"this FFmpeg has no CUDA device type (it has {hwaccel_device_types()})"
    else:
        from av.codec.hwaccel import HWAccel

        try:
            container = av.open(url, mode="r", options=dict(options or {}), timeout=timeout_s,
                                hwaccel=HWAccel("cuda", allow_software_fallback=True))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        else:
            if container.streams.video:
                return container, "cuda"
            container.close()
            raise StreamError(f"video source {url!r} has no video stream")
    container = open_input(url, options=options, timeout_s=timeout_s)
    if hwaccel == "cuda":
        container.close()
        raise ConfigError(f"decode.hwaccel='cuda': no CUDA decoder for {url!r} ({reason}); "
                          f"set decode.hwaccel = 'auto' or 'none'")
    log.info("no hardware decoder; decoding in software", extra={"kv": {"source": url, "reason": reason}})
    return container, "none"


def configure_decoder(stream: av.video.stream.VideoStream, threads: int) -> None:
    """Frame+slice threading; ``threads == 0`` lets FFmpeg pick one per core."""
    ctx = stream.codec_context
    ctx.thread_type = "AUTO"
    ctx.thread_count = int(threads)


def stream_rate_fps(stream: av.video.stream.VideoStream) -> float | None:
    """Nominal frame rate, or None when the container does not say."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def stream_origin_pts(stream: av.video.stream.VideoStream) -> int | None:
    return stream.start_time


def decoded_frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                   stats: DecodeStats, url: str,
                   on_packet: Callable[[], None] | None = None) -> Iterator[av.VideoFrame]:
    """Yield decoded frames, skipping and counting corrupt data; ends at EOF.

    Demuxer errors other than ``InvalidDataError`` (I/O errors, timeouts) propagate: for a
    network source they mean "reconnect". An ``InvalidDataError`` from the demuxer is counted
    and demuxing resumes from the current position (bounded, so a hopeless file still ends).
    ``on_packet`` runs before each packet is decoded; it may raise to abandon the stream (the
    network source's stall check).
    """
    ctx = stream.codec_context
    demux_errors = 0
    while True:
        try:
            for packet in container.demux(stream):
                demux_errors = 0
                if on_packet is not None:
                    on_packet()
                if packet.is_corrupt:
                    _count(stats, url, "packet flagged corrupt by the demuxer", packet.pts)
                    continue
                t0 = time.perf_counter()
                try:
                    frames = ctx.decode(packet)
                except av.error.InvalidDataError as exc:
                    _count(stats, url, f"undecodable packet: {exc}", packet.pts)
                    continue
                if stats.on_decode is not None:
                    stats.on_decode(time.perf_counter() - t0)
                for frame in frames:
                    if frame.is_corrupt:
                        _count(stats, url, "frame flagged corrupt by the decoder", frame.pts)
                        continue
                    yield frame
            return
        except av.error.InvalidDataError as exc:
            demux_errors += 1
            _count(stats, url, f"demuxer error: {exc}", None)
            if demux_errors >= MAX_CONSECUTIVE_DEMUX_ERRORS:
                raise StreamError(f"video source {url!r}: {demux_errors} consecutive demuxer errors, "
                                  f"last: {exc}") from exc


def _count(stats: DecodeStats, url: str, why: str, pts: int | None) -> None:
    """Count every skip; log the 1st, 2nd, 4th, 8th... so a broken stream cannot flood the log."""
    stats.corrupt_packets += 1
    n = stats.corrupt_packets
    level = logging.WARNING if n & (n - 1) == 0 else logging.DEBUG
    log.log(level, "skipping corrupt data", extra={"kv": {
        "source": url, "why": why, "pts": pts, "corrupt_total": n}})


class BgrConverter:
    """Decoded picture -> HxWx3 uint8 BGR array (fresh memory, safe to keep).

    One per source: it keeps FFmpeg's swscale context between frames. ``frame.to_ndarray(
    format="bgr24")`` builds a new context for every frame, which at 3840x2160 roughly doubles
    the conversion time (measured in benchmarks/bench_decode.py). Output is bit-identical.
    Conversions run on whichever thread first reads a frame's image (see ``Frame``), so the
    shared context is used under a lock.
    """

    def __init__(self) -> None:
        self._reformatter = VideoReformatter()
        self._small: VideoReformatter | None = None
        self._lock = threading.Lock()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        with self._lock:
            return self._reformatter.reformat(frame, format="bgr24").to_ndarray()

    def later(self, frame: av.VideoFrame) -> LazyPicture:
        """``frame`` not yet converted: the ``image`` of a lazy ``Frame``."""
        return LazyPicture(frame, self)

    def resized(self, frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
        """BGR at ``width`` x ``height``, scaled by swscale straight from the decoded planes
        (area averaging): a 4K frame to 640x360 costs a quarter of a full conversion + resize."""
        with self._lock:
            if self._small is None:
                self._small = VideoReformatter()
            return self._small.reformat(frame, format="bgr24", width=int(width), height=int(height),
                                        interpolation="AREA").to_ndarray()


class LazyPicture:
    """A decoded picture that converts only what a consumer asks for: the whole frame
    (``__call__``), a downscaled copy for the detector (``resized``) or a full-resolution
    rectangle for a Re-ID crop (``region``, converted from the planar YUV of that rectangle
    only, so crops of a 4K frame never pay for the other 95 % of its pixels)."""

    __slots__ = ("frame", "converter")

    def __init__(self, frame: av.VideoFrame, converter: BgrConverter) -> None:
        self.frame, self.converter = frame, converter

    def __call__(self) -> np.ndarray:
        return self.converter(self.frame)

    def resized(self, width: int, height: int) -> np.ndarray:
        return self.converter.resized(self.frame, width, height)

    def region(self, x1: int, y1: int, x2: int, y2: int) -> np.ndarray | None:
        """BGR pixels [y1:y2, x1:x2] of a yuv420p picture; None for other pixel formats (the
        caller converts the whole frame then). Edges are widened to even coordinates (chroma is
        sampled per 2x2 block), then the exact rectangle is cut."""
        f = self.frame
        if f.format.name != "yuv420p":
            return None
        w, h = f.width, f.height
        ex1, ey1 = x1 & ~1, y1 & ~1
        ex2, ey2 = min(w, (x2 + 1) & ~1), min(h, (y2 + 1) & ~1)
        if ex2 - ex1 < 2 or ey2 - ey1 < 2 or (ex2 - ex1) % 2 or (ey2 - ey1) % 2:
            return None
        y = _plane(f, 0, h)[ey1:ey2, ex1:ex2]
        u = _plane(f, 1, h // 2)[ey1 // 2:ey2 // 2, ex1 // 2:ex2 // 2]
        v = _plane(f, 2, h // 2)[ey1 // 2:ey2 // 2, ex1 // 2:ex2 // 2]
        i420 = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape((ey2 - ey1) * 3 // 2, ex2 - ex1)
        bgr = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
        return bgr[y1 - ey1:y2 - ey1, x1 - ex1:x2 - ex1]


def _plane(frame: av.VideoFrame, index: int, rows: int) -> np.ndarray:
    """One plane of ``frame`` as a (rows, line_size) uint8 view (no copy)."""
    plane = frame.planes[index]
    return np.frombuffer(plane, np.uint8).reshape(rows, plane.line_size)


def time_base_of(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> Fraction | None:
    return frame.time_base or stream.time_base
