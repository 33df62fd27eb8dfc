"""Decode stage: video file, live network stream or replay clock -> timed BGR frames.

``open_source`` picks the source from the URL and config; ``DecodeWorker`` runs it on a thread
into a bounded, drop-oldest queue.
"""

from __future__ import annotations

import os

from ..config.ingest import DecodeConfig
from .file_source import FileSource
from .frame import DecodeStats, Frame, FrameSource
from .network import Backoff, NetworkSource, is_network_url
from .replay import ReplaySource
from .timeline import FileTimeline, LiveTimeline
from .worker import DecodeWorker


def open_source(url: str | os.PathLike, camera_id: str, config: DecodeConfig, *,
                epoch_wall_s: float | None = None, epoch_offset_s: float = 0.0) -> FrameSource:
    """A network URL -> ``NetworkSource``; a file with ``epoch_wall_s`` -> ``ReplaySource`` at
    ``config.replay_speed``; a file without -> ``FileSource`` (as fast as possible)."""
    if is_network_url(str(url)):
        return NetworkSource.from_config(str(url), camera_id, config, epoch_offset_s=epoch_offset_s)
    if epoch_wall_s is not None:
        return ReplaySource(url, camera_id, epoch_wall_s=epoch_wall_s, speed=config.replay_speed,
                            threads=config.threads, epoch_offset_s=epoch_offset_s)
    return FileSource(url, camera_id, threads=config.threads, epoch_offset_s=epoch_offset_s)


__all__ = [
    "Backoff", "DecodeStats", "DecodeWorker", "FileSource", "FileTimeline", "Frame", "FrameSource",
    "LiveTimeline", "NetworkSource", "ReplaySource", "is_network_url", "open_source",
]
