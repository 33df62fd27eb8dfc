"""Memory over a long live replay: RSS slope of the ingest and the associator daemons.

Runs the real daemons (associator + one ingest per chosen camera, no trainer) on the fixed
quality world's 10-minute videos, replayed on the live clock as cameras would deliver them,
and samples each process's resident set size (``/proc/PID/status`` VmRSS) every few seconds.
The slope is a least-squares fit over the second half of the run (after models are loaded and
queues have filled), in MB per minute; a process whose memory is flat within noise has a slope
near 0. Linux only.

    .venv/bin/python benchmarks/bench_memory.py [--cameras cam1] [--speed 1] [--every-s 5]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.demo import demo_config, pick_detector  # noqa: E402
from services.network_runner import NetworkRunner, loopback_endpoints  # noqa: E402
from tastr_stream.config.toml_writer import write_toml  # noqa: E402
from tastr_stream.datasets.synthetic import SyntheticWorld  # noqa: E402
from tastr_stream.train.sources import render_world_spec  # noqa: E402


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope over the second half of ``(seconds, MB)`` samples, MB per minute."""
    half = samples[len(samples) // 2:]
    if len(half) < 3:
        return float("nan")
    t, m = np.array(half).T
    return float(np.polyfit(t / 60.0, m, 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(ROOT / "configs/world_quality.toml"))
    ap.add_argument("--cameras", nargs="+", default=["cam1"])
    ap.add_argument("--speed", type=float, default=1.0, help="replay speed (1 = as the cameras delivered it)")
    ap.add_argument("--every-s", type=float, default=5.0)
    ap.add_argument("--ingest-env", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override the ingest's environment (e.g. its malloc settings)")
    args = ap.parse_args()
    import services.network_runner as network_runner
    network_runner.INGEST_ENV.update(kv.split("=", 1) for kv in args.ingest_env)
    world_dir = render_world_spec(args.spec)
    world = SyntheticWorld.open(world_dir)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    cfg = write_toml(run_dir / "network.toml", demo_config(world_dir, run_dir, pick_detector("auto", ROOT), world.fps,
                                                           loopback_endpoints()))
    runner = NetworkRunner(cfg, run_dir, args.cameras, world_dir=world_dir, speed=args.speed, trainer=False)
    runner.start()
    samples: dict[str, list[tuple[float, float]]] = {p.name: [] for p in runner.procs}
    t0 = time.monotonic()
    try:
        while runner.ingest_running():
            now = time.monotonic() - t0
            for p in runner.procs:
                mb = rss_mb(p.popen.pid)
                if mb is not None and p.popen.poll() is None:
                    samples[p.name].append((now, mb))
            if runner.failed():
                raise SystemExit(f"a daemon failed; logs in {run_dir / 'logs'}")
            time.sleep(args.every_s)
    finally:
        runner.stop()
    print(f"# memory over a live replay — {datetime.date.today()} — {platform.machine()} — command: "
          f".venv/bin/python benchmarks/bench_memory.py {shlex.join(sys.argv[1:])}")
    print(f"world {Path(args.spec).name}: {world.duration_s / 60:.0f} min per camera at {world.fps} fps, "
          f"cameras {', '.join(args.cameras)}, replay speed {args.speed:g}; RSS sampled every {args.every_s:g} s; "
          f"ingest environment {network_runner.INGEST_ENV}")
    print("| daemon | samples | RSS at start MB | at mid-run MB | at end MB | peak MB | slope, second half (MB/min) |")
    print("|---|---|---|---|---|---|---|")
    for name, s in samples.items():
        if not s:
            continue
        mb = [m for _, m in s]
        print(f"| {name} | {len(s)} | {mb[0]:.0f} | {mb[len(mb) // 2]:.0f} | {mb[-1]:.0f} | {max(mb):.0f} "
              f"| {slope_mb_per_min(s):+.2f} |")


if __name__ == "__main__":
    main()
