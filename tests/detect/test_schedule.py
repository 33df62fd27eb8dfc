"""Detection on a schedule: which frames the detector runs on, and the back-off under load."""

from __future__ import annotations

import pytest

from tastr_stream.detect.schedule import DetectionSchedule
from tastr_stream.errors import ConfigError


def due_frames(schedule: DetectionSchedule, n: int, fps: float = 30.0, fill=None) -> list[int]:
    out = []
    for i in range(n):
        if fill is not None:
            schedule.note_backlog(fill(i))
        if schedule.due(i / fps):
            out.append(i)
    return out


def test_rate_counts_in_stream_time():
    assert due_frames(DetectionSchedule(5.0), 30) == [0, 6, 12, 18, 24]
    assert due_frames(DetectionSchedule(10.0), 12) == [0, 3, 6, 9]
    # Faster than the stream: every frame; 0 means every frame.
    assert due_frames(DetectionSchedule(50.0), 5) == [0, 1, 2, 3, 4]
    assert due_frames(DetectionSchedule(0.0), 5) == [0, 1, 2, 3, 4]


def test_same_frames_on_every_run_whatever_the_wall_clock():
    a, b = DetectionSchedule(5.0), DetectionSchedule(5.0)
    assert due_frames(a, 300) == due_frames(b, 300)
    assert a.detections == 50 and a.frames == 300 and a.backoffs == 0


def test_backs_off_under_load_to_the_floor_then_recovers():
    s = DetectionSchedule(10.0, min_rate_hz=2.0)
    busy = due_frames(s, 120, fill=lambda i: 0.75)          # queue three quarters full, 4 s
    assert s.backoffs > 0
    assert s.current_rate_hz == pytest.approx(2.0)          # at the floor, never below
    gaps = [b - a for a, b in zip(busy, busy[1:])]
    assert gaps == sorted(gaps) and gaps[0] < 6 and gaps[-1] == 15   # slowing down to 2 Hz
    due_frames(s, 600, fill=lambda i: 0.0)                   # the queue drained: back to the rate
    assert s.current_rate_hz == pytest.approx(10.0)
    assert s.slowdown == 1.0


def test_every_frame_schedule_backs_off_from_the_stream_rate():
    s = DetectionSchedule(0.0, min_rate_hz=5.0)
    frames = due_frames(s, 90, fill=lambda i: 1.0)
    assert s.backoffs > 0 and frames[-1] - frames[-2] == 6   # 30 fps stream, floor 5 Hz


def test_half_full_is_not_idle_and_not_busy_below_half():
    s = DetectionSchedule(10.0, min_rate_hz=1.0)
    due_frames(s, 60, fill=lambda i: 0.25)
    assert s.backoffs == 0 and s.slowdown == 1.0


@pytest.mark.parametrize("rate, floor", [(-1.0, 1.0), (5.0, 0.0), (2.0, 5.0)])
def test_bad_settings_are_config_errors(rate, floor):
    with pytest.raises(ConfigError, match="rate_hz"):
        DetectionSchedule(rate, floor)
