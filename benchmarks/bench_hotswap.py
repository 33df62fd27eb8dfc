"""Live weight hot-swap: what a swap costs the embedding stream (not a test).

A producer thread feeds the BackgroundExtractor one tracklet's crops (``--job-crops``) every
``--period-ms``, the way an ingest process does, while a WeightSwapper receives announcements of
freshly written checkpoints. For each swap it reports:

- ``announce_to_first_new_ms``: from the announcement to the first finished job embedded by the
  new version (checkpoint read + sha256 + model build happen on the swapper's thread);
- ``max_gap_during_swap_ms`` vs ``max_gap_baseline_ms``: the longest wait between two finished
  jobs in the second around the swap, against the same measure with no swap in flight: the
  stall a swap adds to the hot path (target: none beyond the baseline's jitter);
- ``dropped_jobs``: jobs the producer could not queue within one period (target 0): what would
  become dropped frames upstream.

    .venv/bin/python benchmarks/bench_hotswap.py [--backbone mobilenetv2] [--swaps 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import queue
import tempfile
import threading
import time

import numpy as np
import torch

from tastr_stream.models import build_reid_model
from tastr_stream.models.checkpoint import publish_checkpoint
from tastr_stream.tracklet.extractor import BackgroundExtractor, Extractor
from tastr_stream.tracklet.hotswap import WeightSwapper


class Producer:
    """Submits one job per period and records when each finished and with which version."""

    def __init__(self, bg: BackgroundExtractor, crops: np.ndarray, period_s: float):
        self.bg, self.crops, self.period_s = bg, crops, period_s
        self.done: list[tuple[float, int]] = []        # (finish time, model version)
        self.dropped = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="producer", daemon=True)

    def start(self) -> Producer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _finished(self, fut) -> None:
        with self._lock:
            self.done.append((time.perf_counter(), fut.result().model_version))

    def _run(self) -> None:
        next_t = time.perf_counter()
        while not self._stop.is_set():
            try:
                self.bg.submit(self.crops, timeout_s=self.period_s).add_done_callback(self._finished)
            except queue.Full:
                self.dropped += 1
            next_t += self.period_s
            time.sleep(max(0.0, next_t - time.perf_counter()))

    def finished(self) -> list[tuple[float, int]]:
        with self._lock:
            return sorted(self.done)


def max_gap_ms(done: list[tuple[float, int]], t0: float, t1: float) -> float:
    times = [t for t, _ in done if t0 <= t <= t1]
    return 1e3 * max(np.diff(times), default=float("nan")) if len(times) > 1 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="mobilenetv2", choices=["mobilenetv2", "resnet50", "efficientnet-lite0", "tiny"])
    ap.add_argument("--emb-dim", type=int, default=512)
    ap.add_argument("--job-crops", type=int, default=8)
    ap.add_argument("--period-ms", type=float, default=0.0, help="default: twice one job's measured time")
    ap.add_argument("--swaps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    crops = np.random.default_rng(0).integers(0, 256, (args.job_crops, 256, 128, 3), dtype=np.uint8)
    ex = Extractor(lambda: build_reid_model(args.backbone, args.emb_dim, seed=0), device="cpu", batch_size=32)
    for _ in range(2):
        ex.embed(crops)                                       # warm-up
    t = time.perf_counter()
    for _ in range(3):
        ex.embed(crops)
    job_s = (time.perf_counter() - t) / 3
    period_s = args.period_ms / 1e3 if args.period_ms > 0 else 2 * job_s
    results = []
    with tempfile.TemporaryDirectory() as ckpt_dir, BackgroundExtractor(ex) as bg:
        swapper = WeightSwapper(bg, expect_backbone=args.backbone, expect_emb_dim=args.emb_dim).start()
        prod = Producer(bg, crops, period_s).start()
        try:
            for version in range(1, args.swaps + 1):
                ann = publish_checkpoint(build_reid_model(args.backbone, args.emb_dim, seed=version), ckpt_dir, version)
                time.sleep(max(1.0, 10 * period_s))               # baseline stretch before the swap
                t_ann = time.perf_counter()
                swapper.announce(ann)
                if not bg.wait_for_version(version, 120):
                    raise SystemExit(f"version {version} never served")
                deadline = time.perf_counter() + 60
                while time.perf_counter() < deadline:
                    first_new = next((t for t, v in prod.finished() if v >= version and t >= t_ann), None)
                    if first_new is not None:
                        break
                    time.sleep(0.005)
                time.sleep(max(1.0, 10 * period_s))
                done = prod.finished()
                results.append({
                    "version": version,
                    "announce_to_first_new_ms": round(1e3 * (first_new - t_ann), 1),
                    "max_gap_during_swap_ms": round(max_gap_ms(done, t_ann, first_new + 1.0), 1),
                    "max_gap_baseline_ms": round(max_gap_ms(done, t_ann - 1.0 - 10 * period_s, t_ann), 1),
                })
                print(json.dumps(results[-1]), flush=True)
        finally:
            prod.stop()
            swapper.stop()
    print(json.dumps({"machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                      "date": dt.date.today().isoformat(), "backbone": args.backbone, "job_crops": args.job_crops,
                      "job_ms": round(1e3 * job_s, 1), "period_ms": round(1e3 * period_s, 1),
                      "dropped_jobs": prod.dropped, "swaps": results}, indent=1))


if __name__ == "__main__":
    main()
