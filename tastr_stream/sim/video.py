"""H.264 writer with the timing contract every reader relies on: pts = frame index, time base 1/fps.

The MP4 muxer would otherwise rescale the track to 1/15360; ``video_track_timescale`` keeps
1/fps so frame k decodes with ``pts == k`` and ``time == k / fps`` (all cameras share epoch 0).
B-frames are off so that a live replay can hand out each frame as soon as it is decoded.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..errors import StreamError


class H264Writer:
    def __init__(self, path: Path, size_wh: tuple[int, int], fps: int, *, crf: int = 23,
                 preset: str = "veryfast", threads: int = 1) -> None:
        w, h = size_wh
        if w % 2 or h % 2:
            raise StreamError(f"yuv420p needs even frame sizes, got {w}x{h}")
        self._fps = fps
        self._next = 0
        try:
            self._container = av.open(str(path), "w", options={"video_track_timescale": str(fps)})
        except (OSError, av.FFmpegError) as e:
            raise StreamError(f"cannot open {path} for writing: {e}") from None
        self._stream = self._container.add_stream("libx264", rate=fps)
        self._stream.width, self._stream.height, self._stream.pix_fmt = w, h, "yuv420p"
        self._stream.time_base = Fraction(1, fps)
        self._stream.codec_context.options = {"preset": preset, "crf": str(crf), "bf": "0"}
        self._stream.thread_count = max(1, threads)

    def write(self, bgr: np.ndarray) -> None:
        # OpenCV's I420 conversion is 3-4x faster than swscale's but full range (0-255); squeeze it
        # to the limited range (Y 16-235, UV 16-240) that decoders assume for untagged BT.601 video.
        yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
        h = bgr.shape[0]
        cv2.convertScaleAbs(yuv[:h], yuv[:h], 219.0 / 255.0, 16.0)
        cv2.convertScaleAbs(yuv[h:], yuv[h:], 224.0 / 255.0, 128.0 * (1.0 - 224.0 / 255.0))
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = self._next
        frame.time_base = Fraction(1, self._fps)
        self._next += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def abort(self) -> None:
        """Close without flushing: the file is incomplete and the caller discards it."""
        self._container.close()

    def __enter__(self) -> "H264Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
