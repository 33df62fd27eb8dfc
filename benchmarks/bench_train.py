"""Benchmark: training images/s of ``train_epochs`` vs a bare forward+backward+step loop.

Both variants train the same backbone, at the same input size, on the SAME P x K batches
(the TSCCC sampler's batches over a seeded toy tracklet set, listed once up front):

* ``bare``     images already decoded, augmented and on the device before the clock starts;
               the loop is only forward, batch-hard triplet loss, backward, Adam step (and,
               on CUDA, the same bf16 autocast + channels-last as ours);
* ``ours``     ``train_epochs``: image fetch on a worker thread, augmentation on the device,
               label upload, loss stats, progress bookkeeping (bar disabled), per epoch.

``ours / bare`` is the overhead of everything that is not the model's own work (target
>= 0.85). Runs are interleaved ``--repeats`` times and the best of each kept. Prints a markdown
table with machine, date and command.

    .venv/bin/python benchmarks/bench_train.py [--backbone tiny] [--hw 64x32] [--p 8 --k 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import shlex
import sys
import time

import torch

from tastr_stream.config.trainer import TrainerConfig
from tastr_stream.models import build_reid_model, resolve_device
from tastr_stream.train.augment import TrainAugment
from tastr_stream.train.data import fetch_images
from tastr_stream.train.samplers import TSCCC
from tastr_stream.train.toyset import ToyWorldSpec, make_toy_world
from tastr_stream.train.trainer import make_optimizer, train_epochs, train_step


class FixedBatches:
    """A sampler that replays a fixed list of batches (so both variants see the same ones)."""

    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


def bare(model, batches, tracklets, cfg, device) -> float:
    fast = device.type == "cuda"
    aug = TrainAugment(seed=0)
    xs = [aug(fetch_images(tracklets, b.items, cfg.image_height, cfg.image_width), device, channels_last=fast)
          for b in batches]
    ys = [torch.as_tensor(b.labels, device=device) for b in batches]
    model.to(device=device, memory_format=torch.channels_last if fast else torch.contiguous_format).train()
    opt = make_optimizer(model, cfg.lr)
    if fast:
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for x, y in zip(xs, ys):
        train_step(model, opt, x, y, cfg.margin, device)
    if fast:
        torch.cuda.synchronize(device)
    return sum(len(b.items) for b in batches) / (time.perf_counter() - t0)


def ours(model, batches, tracklets, cfg, device) -> float:
    stats = train_epochs(model, FixedBatches(batches), tracklets, cfg, device, epochs=1, progress=False)
    return stats.images_per_s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="tiny")
    ap.add_argument("--hw", default="64x32", help="input HxW")
    ap.add_argument("--p", type=int, default=8)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.hw.lower().split("x"))
    device = resolve_device(args.device)
    cfg = TrainerConfig(backbone=args.backbone, emb_dim=128, p=args.p, k=args.k, image_height=h, image_width=w,
                        tsccc_gap_s=30.0)
    data = make_toy_world(ToyWorldSpec(walkers=80, distractors=10, image_hw=(h, w), images_per_tracklet=12))
    sampler = TSCCC(data.train, cfg.p, cfg.k, cfg.tsccc_gap_s, seed=0)
    batches = []
    while len(batches) < args.batches:
        batches += list(sampler)
    batches = batches[:args.batches]
    model = build_reid_model(args.backbone, cfg.emb_dim, seed=0, pretrained=False)
    ours(model, batches[:3], data.train, cfg, device)          # warm-up (allocator, cuDNN autotune)
    bare(model, batches[:3], data.train, cfg, device)
    runs = {"bare": [], "ours": []}
    for _ in range(args.repeats):
        runs["bare"].append(bare(model, batches, data.train, cfg, device))
        runs["ours"].append(ours(model, batches, data.train, cfg, device))
    best = {k: max(v) for k, v in runs.items()}
    print(f"# bench_train: {dt.datetime.now().isoformat(timespec='seconds')}, {platform.node()}, "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}, device {device}, "
          f"{torch.get_num_threads()} CPU threads")
    print(f"# command: {shlex.join([sys.executable] + sys.argv)}")
    print(f"# {args.backbone} {h}x{w}, P={args.p} K={args.k}, {args.batches} batches, best of {args.repeats}\n")
    print("| variant | images/s (best) | all runs |")
    print("|---|---|---|")
    for k, v in runs.items():
        print(f"| {k} | {best[k]:.0f} | {', '.join(f'{x:.0f}' for x in v)} |")
    print(f"\nours / bare = {best['ours'] / best['bare']:.3f} (target >= 0.85)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
