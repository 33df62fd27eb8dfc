"""Decode a recorded file as fast as possible (offline runs, benchmarks, and the replay clock)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator

from ..errors import StreamError
from .av_reader import (BgrConverter, configure_decoder, decoded_frames, open_decoding,
                        stream_origin_pts, stream_rate_fps, time_base_of)
from .frame import DecodeStats, Frame
from .timeline import FileTimeline

log = logging.getLogger(__name__)


class FileSource:
    """Frames of one video file with exact pts times (see ``timeline.FileTimeline``).

    The file is opened here, not lazily, so that a missing or unreadable file fails at start-up
    with ``StreamError`` naming it. ``frames()`` may be iterated once. ``hwaccel`` is
    ``decode.hwaccel`` (see ``av_reader.open_decoding``); ``self.hwaccel`` says what was used.
    """

    def __init__(self, path: str | os.PathLike, camera_id: str, *, threads: int = 0,
                 epoch_offset_s: float = 0.0, stats: DecodeStats | None = None, hwaccel: str = "none") -> None:
        self.path = os.fspath(path)
        self.camera_id = str(camera_id)
        self.stats = stats if stats is not None else DecodeStats()
        if not os.path.isfile(self.path):
            raise StreamError(f"camera {self.camera_id!r}: video file not found: {self.path!r}")
        if threads < 0:
            raise StreamError(f"threads must be >= 0, got {threads!r}")
        self._container, self.hwaccel = open_decoding(self.path, hwaccel)
        self._stream = self._container.streams.video[0]
        configure_decoder(self._stream, threads)
        self.width = int(self._stream.codec_context.width)
        self.height = int(self._stream.codec_context.height)
        if self.width <= 0 or self.height <= 0:
            self._container.close()
            raise StreamError(f"video file {self.path!r}: invalid size {self.width}x{self.height}")
        self.rate_fps = stream_rate_fps(self._stream)
        self._timeline = FileTimeline(epoch_offset_s, stream_origin_pts(self._stream), self.rate_fps)
        self._to_bgr = BgrConverter()
        self._used = False

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        if self._used:
            raise StreamError(f"FileSource({self.path!r}).frames() can be iterated only once")
        self._used = True
        try:
            for av_frame in decoded_frames(self._container, self._stream, self.stats, self.path):
                if stop is not None and stop.is_set():
                    return
                mapped = self._timeline.map(av_frame.pts, time_base_of(av_frame, self._stream))
                if mapped is None:
                    self.stats.corrupt_packets += 1
                    log.warning("skipping frame whose time does not advance",
                                extra={"kv": {"source": self.path, "pts": av_frame.pts}})
                    continue
                index, t_s = mapped
                self.stats.frames_decoded += 1
                yield Frame(self.camera_id, index, t_s, self._to_bgr.later(av_frame), av_frame.width, av_frame.height)
        finally:
            self.close()

    def close(self) -> None:
        self._container.close()
