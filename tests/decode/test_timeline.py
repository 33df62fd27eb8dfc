"""pts -> time mapping with explicit pts and an injected clock (no real time involved)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tastr_stream.decode import FileTimeline, LiveTimeline
from tastr_stream.errors import StreamError

TB = Fraction(1, 90_000)


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_file_timeline_is_exact_from_the_stream_origin():
    tl = FileTimeline(epoch_offset_s=5.0, origin_pts=126_000, rate_fps=30.0)  # MPEG-TS 1.4 s start
    assert tl.map(126_000, TB) == (0, 5.0)
    assert tl.map(129_000, TB) == (1, 5.0 + 1 / 30)
    assert tl.map(135_000, TB) == (3, 5.1)   # a missing frame keeps its number gap
    assert tl.map(135_000, TB) is None       # time must advance
    assert tl.map(132_000, TB) is None


def test_live_timeline_keeps_time_increasing_across_a_reconnect():
    clock = FakeClock()
    tl = LiveTimeline(epoch_offset_s=10.0, rate_fps=30.0, clock=clock)
    tl.new_segment()
    out = []
    for k in range(3):                       # sender's pts start at an arbitrary value
        clock.now_s += 1 / 30
        out.append(tl.map(900_000 + k * 3000, TB))
    assert out == [(0, 10.0), (1, 10.0 + 1 / 30), (2, 10.0 + 2 / 30)]
    clock.now_s += 2.5                       # 2.5 s outage, then pts restart near 0
    tl.new_segment()
    idx, t = tl.map(3000, TB)
    assert t == pytest.approx(10.0 + 2 / 30 + 2.5)
    assert idx == round((t - 10.0) * 30)
    clock.now_s += 1 / 30
    assert tl.map(6000, TB)[1] == pytest.approx(t + 1 / 30)


def test_live_timeline_pts_going_back_without_reconnect_starts_a_segment():
    clock = FakeClock()
    tl = LiveTimeline(0.0, 25.0, clock)
    tl.map(8_589_930_000, TB)                # just before the 33-bit wrap
    clock.now_s += 0.04
    idx, t = tl.map(100, TB)                 # wrapped
    assert t == pytest.approx(0.04) and idx == 1


def test_live_timeline_without_pts_or_rate_still_advances():
    clock = FakeClock()
    tl = LiveTimeline(0.0, None, clock)
    a = tl.map(None, None)
    b = tl.map(None, None)
    c = tl.map(50, TB)
    assert a[1] < b[1] < c[1] and a[0] < b[0] < c[0]


def test_implausible_rate_is_rejected():
    with pytest.raises(StreamError, match="5000"):
        FileTimeline(0.0, 0, 5000.0)
