"""Detection schedule under a burst: frames dropped with and without the shed (not a test).

A paced source delivers frames on the wall clock into a real ``DecodeWorker`` (drop-oldest, as a
live camera), and a consumer runs the real ``DetectionSchedule`` with the queue's fill, as ingest
does. The detector is a stand-in that holds the consumer for a set time (a sleep: the figure is
about the policy, not about this machine's CPU): ``--detect-ms`` normally, ``--burst-factor``
times longer during ``--burst-s`` seconds, which is what a training round starting beside the
cameras or four cameras detecting at once does to one ingest. The reference, measured in the
same run, is the same schedule with the shed switched off (the back-off alone, as before the
ninth session). Defaults mirror one camera of the demo at 2x speed: 6 fps stream time played at
12 frames a second, a 24-frame queue, detection on every frame backing off to 2 Hz.

    .venv/bin/python benchmarks/bench_shed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tastr_stream.decode import DecodeWorker  # noqa: E402
from tastr_stream.decode.frame import DecodeStats, Frame  # noqa: E402
from tastr_stream.detect import schedule as schedule_module  # noqa: E402
from tastr_stream.detect.schedule import DetectionSchedule  # noqa: E402

PREDICT_S = 0.001     # a frame without detection: the tracker's prediction


class PacedSource:
    """``frames`` frames of stream time ``i / fps``, delivered at ``speed`` x real time on the wall clock."""

    def __init__(self, frames: int, fps: float, speed: float) -> None:
        self.camera_id, self.stats = "cam1", DecodeStats()
        self.n, self.fps, self.speed = frames, fps, speed
        self._image = np.zeros((2, 2, 3), np.uint8)

    def frames(self, stop: threading.Event):
        t0 = time.monotonic()
        for i in range(self.n):
            wait = t0 + i / (self.fps * self.speed) - time.monotonic()
            if wait > 0 and stop.wait(wait):
                return
            self.stats.frames_decoded += 1
            yield Frame(self.camera_id, i, i / self.fps, self._image, 2, 2)

    def close(self) -> None:
        pass


def run_once(args, shed: bool) -> dict:
    saved = schedule_module.SHED_FILL
    schedule_module.SHED_FILL = saved if shed else float("inf")
    try:
        schedule = DetectionSchedule(args.rate_hz, args.min_rate_hz)
        worker = DecodeWorker(PacedSource(args.frames, args.fps, args.speed), args.queue_frames).start()
        t0 = time.monotonic()
        burst = (args.burst_at_s, args.burst_at_s + args.burst_s)
        try:
            for frame in worker:
                schedule.note_backlog(worker.qsize() / worker.capacity)
                if schedule.due(frame.t_s):
                    slow = burst[0] <= time.monotonic() - t0 < burst[1]
                    time.sleep(args.detect_ms / 1000 * (args.burst_factor if slow else 1.0))
                else:
                    time.sleep(PREDICT_S)
        finally:
            worker.stop()
        return {"dropped": worker.stats.frames_dropped, "detections": schedule.detections,
                "postponed": schedule.postponed, "backoffs": schedule.backoffs}
    finally:
        schedule_module.SHED_FILL = saved


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--frames", type=int, default=180, help="stream frames per run")
    p.add_argument("--fps", type=float, default=6.0, help="the stream's own frame rate")
    p.add_argument("--speed", type=float, default=2.0, help="playback speed on the wall clock")
    p.add_argument("--queue-frames", type=int, default=24)
    p.add_argument("--rate-hz", type=float, default=0.0, help="0 = every frame")
    p.add_argument("--min-rate-hz", type=float, default=2.0)
    p.add_argument("--detect-ms", type=float, default=40.0)
    p.add_argument("--burst-factor", type=float, default=6.0)
    p.add_argument("--burst-at-s", type=float, default=4.0)
    p.add_argument("--burst-s", type=float, default=4.0)
    args = p.parse_args()
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, python "
          f"{platform.python_version()}; {vars(args)}")
    for run in range(1, args.repeats + 1):
        for shed in (False, True):
            r = run_once(args, shed)
            label = "back-off + shed " if shed else "back-off only   "
            print(f"run {run} {label} frames {args.frames}  dropped {r['dropped']}  detections {r['detections']}  "
                  f"postponed {r['postponed']}  back-offs {r['backoffs']}", flush=True)


if __name__ == "__main__":
    main()
