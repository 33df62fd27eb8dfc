"""Corrupt input: damaged packets are skipped and counted; everything after them still decodes.

Guards against a daemon dying (or emitting garbage pictures) on one bad packet from a camera.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from tastr_stream.decode import FileSource

from .conftest import N_FRAMES
from .media import inject_garbage_ts, overwrite_garbage


def _decode(path):
    src = FileSource(path, "cam1", threads=2)
    return list(src.frames()), src.stats


def _check_rest_decoded(frames, stats, min_frames):
    assert stats.corrupt_packets >= 1
    assert min_frames <= len(frames) < N_FRAMES
    t = [f.t_s for f in frames]
    assert all(b > a for a, b in zip(t, t[1:]))
    # Frames from after the damage (second half, last GOP) are there, with exact times.
    assert frames[-1].index == N_FRAMES - 1
    assert any(f.index > N_FRAMES // 2 + 10 for f in frames)


def test_garbage_ts_packets_injected_mid_stream(ts_clip, tmp_path):
    frames, stats = _decode(inject_garbage_ts(ts_clip, tmp_path / "inj.ts", seed=1))
    _check_rest_decoded(frames, stats, min_frames=N_FRAMES - 12)


def test_garbage_bytes_overwritten_mid_stream(ts_clip, tmp_path):
    frames, stats = _decode(overwrite_garbage(ts_clip, tmp_path / "ovw.ts", seed=2))
    _check_rest_decoded(frames, stats, min_frames=N_FRAMES - 20)
    assert len(frames) < N_FRAMES


def test_undecodable_packet_in_mp4_is_skipped(mp4_clip, tmp_path):
    """A packet whose payload is random bytes makes the decoder raise InvalidDataError."""
    bad = tmp_path / "bad.mp4"
    rng = np.random.default_rng(3)
    with av.open(str(mp4_clip)) as inp, av.open(str(bad), "w") as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        for i, pkt in enumerate(p for p in inp.demux(s_in) if p.dts is not None):
            if i == 25:
                junk = av.Packet(rng.integers(0, 256, pkt.size, dtype=np.uint8).tobytes())
                junk.pts, junk.dts, junk.time_base = pkt.pts, pkt.dts, pkt.time_base or Fraction(1, 15360)
                pkt = junk
            pkt.stream = s_out
            out.mux(pkt)
    frames, stats = _decode(bad)
    assert stats.corrupt_packets >= 1
    assert 25 not in [f.index for f in frames]
    assert frames[-1].index == N_FRAMES - 1
