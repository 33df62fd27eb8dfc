"""Batched embedding rate of the BackgroundExtractor vs the bare model forward.

For each backbone, on the same crops in the same run:

- ``bare``: ``model(x)`` on a thread, on input tensors prepared beforehand (normalised, on the
  device): the ceiling.
- ``bg``: the BackgroundExtractor fed decoded uint8 crops in jobs of ``--job-crops``
  (default 16, so two jobs share each batch of 32); includes uint8->float normalisation,
  the host<->device copies, batching and result delivery. ``ratio = bg / bare`` (target >= 0.9).
- ``bg+jpeg``: the same fed JPEG bytes, so JPEG decoding runs on the extractor thread too.
- ``decode``: JPEG decode + resize + normalise alone, in crops/s (the preprocessing column).

Rounds alternate bare and bg so that load from other processes hits both alike; the median
round of each is reported. Run: ``python benchmarks/bench_extractor.py [--backbones ...]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import threading
import time

import cv2
import numpy as np
import torch

from tastr_stream.models import build_reid_model, decode_crops, to_input
from tastr_stream.models.inference import forward_tensor, synchronize
from tastr_stream.tracklet.extractor import BackgroundExtractor, Extractor


def _crops(n: int, seed: int) -> tuple[np.ndarray, list[bytes]]:
    """Smooth random person-sized images (JPEG-friendly, unlike white noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(n, 16, 8, 3), dtype=np.uint8)
    images = np.stack([cv2.resize(s, (128, 256), interpolation=cv2.INTER_CUBIC) for s in small])
    jpegs = [cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
             for im in images]
    return images, jpegs


def _time_bare(ex: Extractor, inputs: list[torch.Tensor]) -> float:
    """Bare forward, run on its own thread like the extractor's worker: on this 2-core VM under
    load, the same forward ran 3-6x slower on the main thread than on a second thread."""
    model, _ = ex.active
    elapsed: list[float] = []

    def run() -> None:
        synchronize(ex.device)
        t0 = time.perf_counter()
        for x in inputs:
            out = forward_tensor(model, x, ex.precision)
        out.float().cpu()
        synchronize(ex.device)
        elapsed.append(time.perf_counter() - t0)

    th = threading.Thread(target=run)
    th.start()
    th.join()
    return elapsed[0]


def _time_bg(ex: Extractor, jobs: list) -> float:
    bg = BackgroundExtractor(ex, max_queued_jobs=len(jobs))
    futs = [bg.submit(j, job_id=i) for i, j in enumerate(jobs)]   # queue filled before the clock starts
    t0 = time.perf_counter()
    bg.start()                                                      # the worker is a thread, like bare
    for f in futs:
        f.result(600)
    elapsed = time.perf_counter() - t0
    bg.stop()
    return elapsed


def bench(backbone: str, args: argparse.Namespace) -> dict[str, float]:
    ex = Extractor(lambda: build_reid_model(backbone, args.emb_dim, seed=0), device=args.device,
                   batch_size=args.batch_size, precision=args.precision)
    n = args.batches * args.batch_size
    images, jpegs = _crops(n, seed=1)
    inputs = [to_input(images[i:i + args.batch_size], ex.device, ex.channels_last)
              for i in range(0, n, args.batch_size)]
    k = args.job_crops
    jobs_u8 = [images[i:i + k] for i in range(0, n, k)]
    jobs_jpeg = [jpegs[i:i + k] for i in range(0, n, k)]
    _time_bare(ex, inputs[:1])                                       # warm-up (allocator, cuDNN, oneDNN)
    _time_bg(ex, jobs_u8[: max(1, args.batch_size // k)])
    bare, bg, bgj, dec = [], [], [], []
    for _ in range(args.rounds):
        bare.append(n / _time_bare(ex, inputs))
        bg.append(n / _time_bg(ex, jobs_u8))
        bgj.append(n / _time_bg(ex, jobs_jpeg))
        t0 = time.perf_counter()
        for i in range(0, n, args.batch_size):
            to_input(decode_crops(jpegs[i:i + args.batch_size]).images, ex.device, ex.channels_last)
        synchronize(ex.device)
        dec.append(n / (time.perf_counter() - t0))
    med = statistics.median
    return {"bare": med(bare), "bg": med(bg), "bg_jpeg": med(bgj), "decode": med(dec),
            "ratio": med(bg) / med(bare), "ratio_jpeg": med(bgj) / med(bare),
            "device": str(ex.device), "precision": ex.precision}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbones", nargs="+", default=["mobilenetv2", "resnet50"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=6, help="batches per round")
    p.add_argument("--job-crops", type=int, default=16, help="crops per submitted job")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--emb-dim", type=int, default=512)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"# date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}")
    print(f"# machine: {platform.node()} {platform.machine()} cpus={os.cpu_count()} "
          f"torch_threads={torch.get_num_threads()} gpu={gpu} torch={torch.__version__}")
    print(f"# command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"# {args.batches} batches x {args.batch_size} crops of 256x128 per round, "
          f"jobs of {args.job_crops} crops, median of {args.rounds} rounds")
    print(f"{'backbone':<14}{'device':<8}{'prec':<6}{'bare fps':>10}{'bg fps':>10}{'ratio':>7}"
          f"{'bg+jpeg fps':>13}{'ratio':>7}{'decode fps':>12}")
    for backbone in args.backbones:
        r = bench(backbone, args)
        print(f"{backbone:<14}{r['device']:<8}{r['precision']:<6}{r['bare']:>10.1f}{r['bg']:>10.1f}"
              f"{r['ratio']:>7.3f}{r['bg_jpeg']:>13.1f}{r['ratio_jpeg']:>7.3f}{r['decode']:>12.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
