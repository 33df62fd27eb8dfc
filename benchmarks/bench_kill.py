"""SIGKILL each daemon mid-stream a few times and count what survived (issue 13, not a test).

Runs the fault suite's kill scenarios (``tests/services/kills.py``, real daemons on loopback)
``--runs`` times each and prints one row per daemon, summed over the runs:

- ``associator``: a stream of synthetic tracklets (another seed each run) sent by a reliable
  sender; the associator is killed once a quarter is acknowledged, with the rest of the first half
  in flight or queued and the second half sent while it is down, then restarted;
- ``ingest``: an ingest reading one camera's file of a rendered world (oracle detector), killed
  once its saved position passed 30/50/70 % of the file (by run), restarted on the same file: it
  resumes at the saved frame;
- ``ingest --from-start``: the same kill, restarted with ``--from-start``, which is how every
  restart behaved before the position was kept (the "before" row).

Columns: ``acknowledged`` tracklets acknowledged by the associator (for an ingest: committed to
its spool before the kill, or stored); ``stored`` rows in the store at the end; ``lost``
acknowledged but not stored; ``duplicated`` stored rows repeating a sent tracklet (associator) or
a person-visit already stored, whatever its id (ingest: same ground-truth person, same camera,
overlapping times); ``at kill`` acknowledged/committed before the kill; ``never spooled`` (ingest)
tracklets its saved position counted that the kill caught between the position's write-ahead and
the spool write: lost by design, never published twice (``pipeline.resume``). The kill is
triggered by watching the position file, which puts it next to a commit more often than chance.

    .venv/bin/python benchmarks/bench_kill.py [--runs 3] [--world-dir runs/bench_kill/world]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tastr_stream.sim import ensure_world  # noqa: E402
from tests.services.kills import KillFigures, kill_associator, kill_ingest  # noqa: E402

# Larger than the tests' small world: ~15-30 tracklets per camera.
WORLD = dict(cameras=3, people=24, distractors=2, minutes=1.0, resolution=(640, 360), seed=7,
             path_range_m=(12.0, 30.0))
FRACTIONS = (0.3, 0.5, 0.7)


def table(rows: dict[str, list[KillFigures]]) -> str:
    out = ["| daemon killed | runs | acknowledged | stored | lost | duplicated | at kill | never spooled |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, figs in rows.items():
        total = {k: sum(getattr(f, k) for f in figs)
                 for k in ("acknowledged", "stored", "lost", "duplicated", "at_kill", "unspooled")}
        out.append(f"| {name} | {len(figs)} | {total['acknowledged']} | {total['stored']} | {total['lost']} | "
                   f"{total['duplicated']} | {total['at_kill']} | {total['unspooled']} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="kills per daemon")
    ap.add_argument("--world-dir", default=str(ROOT / "runs" / "bench_kill" / "world"),
                    help="rendered world (rendered here once, reused after)")
    ap.add_argument("--before-runs", type=int, default=1, help="kills of an ingest restarted with --from-start")
    args = ap.parse_args()
    world = ensure_world(Path(args.world_dir), **WORLD, workers=2, progress=False)
    cams = sorted(p.stem for p in (world / "videos").glob("*.mp4"))
    rows: dict[str, list[KillFigures]] = {"associator": [], "ingest": [], "ingest --from-start": []}
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as tmp:
        for i in range(args.runs):
            rows["associator"].append(kill_associator(Path(tmp) / f"assoc-{i}", seed=3 + i))
            rows["ingest"].append(kill_ingest(Path(tmp) / f"ingest-{i}", world, cams[i % len(cams)],
                                              at_fraction=FRACTIONS[i % len(FRACTIONS)]))
            print(f"run {i}: {rows['associator'][-1]}\n       {rows['ingest'][-1]}", flush=True)
        for i in range(args.before_runs):
            rows["ingest --from-start"].append(kill_ingest(Path(tmp) / f"before-{i}", world, cams[i % len(cams)],
                                                           at_fraction=0.5, from_start=True))
            print(f"before {i}: {rows['ingest --from-start'][-1]}", flush=True)
    print(f"\n# kills mid-stream — {datetime.date.today()} — {platform.machine()}, {os.cpu_count()} cores — "
          f"command: .venv/bin/python benchmarks/bench_kill.py {shlex.join(sys.argv[1:])}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
