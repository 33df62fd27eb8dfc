"""Fixtures: small synthetic H.264 clips generated once per session (seeded, known pts)."""

from __future__ import annotations

import pytest

from .media import make_h264

N_FRAMES = 60
FPS = 30


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("decode_media")


@pytest.fixture(scope="session")
def mp4_clip(media_dir):
    """60 frames, 320x240, 30 fps, pts = i in time base 1/30 (frame i at exactly i/30 s)."""
    return make_h264(media_dir / "clip.mp4", n_frames=N_FRAMES, fps=FPS)


@pytest.fixture(scope="session")
def ts_clip(media_dir):
    """The same picture sequence as MPEG-TS (90 kHz pts)."""
    return make_h264(media_dir / "clip.ts", n_frames=N_FRAMES, fps=FPS, fmt="mpegts")
