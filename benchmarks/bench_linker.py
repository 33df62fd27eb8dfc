"""Cost of the user-facing linker's decisions on a busy site, against the associator's 1 s tick.

The associator re-decides the links users see over the recent region of its window once a
second (``AssociatorCore.finalize``), so a decision must take well under that tick. A seeded
world (``tests/associate/world.py``) of ``--people`` people over an hour, 512-d features, boxes
so fragments re-link by position too, arrives in order of tracklet end; the linker adds each
and decides every ``--every`` arrivals. Reported: mean and worst decision time, and the worst as
a share of the tick (the reference in the same run is the tick itself: a share >= 1 stalls it).

    .venv/bin/python benchmarks/bench_linker.py [--people 3000] [--every 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tastr_stream.associate.live_linker import LiveLinker  # noqa: E402
from tastr_stream.associate.transfer import TransferModel  # noqa: E402
from tastr_stream.config.associator import Trust  # noqa: E402
from tests.associate.world import TRANSFER_S, make_world  # noqa: E402

TICK_S = 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=3000)
    ap.add_argument("--every", type=int, default=20)
    args = ap.parse_args()
    world = sorted(make_world(seed=1, n_ids=args.people, emb_dim=512, span_s=3600.0), key=lambda m: m.t_end_s)
    xs = np.random.default_rng(0).uniform(0, 600, len(world))
    world = [dataclasses.replace(m, first_box_xyxy=(x, 100.0, x + 40, 200.0), last_box_xyxy=(x, 100.0, x + 40, 200.0))
             for m, x in zip(world, xs)]
    linker = LiveLinker(TransferModel(TRANSFER_S, 0.7, Trust().learned_prior), Trust())
    adds, ticks = [], []
    for i, m in enumerate(world):
        t0 = time.perf_counter()
        linker.add(m)
        adds.append(time.perf_counter() - t0)
        if i % args.every == 0:
            t0 = time.perf_counter()
            linker.update(m.t_end_s)
            ticks.append(time.perf_counter() - t0)
    span_h = (world[-1].t_end_s - world[0].t_start_s) / 3600.0
    print(f"# bench_linker — {datetime.date.today()} — {platform.machine()} — command: "
          f".venv/bin/python benchmarks/bench_linker.py --people {args.people} --every {args.every}")
    print(f"{len(world)} tracklets over {span_h:.2f} h ({len(world) / span_h:.0f}/h), {len(ticks)} decisions")
    print(f"add: mean {1000 * np.mean(adds):.2f} ms; decision: mean {1000 * np.mean(ticks):.0f} ms, "
          f"p99 {1000 * np.percentile(ticks, 99):.0f} ms, worst {1000 * max(ticks):.0f} ms = "
          f"{max(ticks) / TICK_S:.2f} of the {TICK_S:.0f} s tick")


if __name__ == "__main__":
    main()
