"""Memory of the Re-ID embedder when every batch has another size: one pass per batch vs fixed chunks.

A live extractor meets batches of every size from 1 to ``embed.batch_size`` (a tracklet's crops,
packed with its neighbours'). On CPU, oneDNN plans and keeps convolution primitives per input
shape, so one forward pass per batch made the ingest grow until every size had been seen (issue
13). This runs ``--calls`` batches of seeded random sizes 1..``--batch`` through the model on a
worker thread (as the ``BackgroundExtractor`` does), each mode in its own fresh process, and
prints the process's RSS after warm-up, mid-way and at the end:

- ``one-pass``: ``inference.embed_batch`` on the whole batch (the extractor before the fix);
- ``fixed``: ``Extractor.forward``, chunks of ``batch``, then powers of two below it.

    .venv/bin/python benchmarks/bench_embed_memory.py [--backbone mobilenetv2+partcolour] [--calls 200]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def measure(mode: str, backbone: str, calls: int, batch: int) -> list[float]:
    """RSS (MB) after each tenth of ``calls`` random-size batches in ``mode``."""
    from tastr_stream.models import inference
    from tastr_stream.models.checkpoint import initial_model
    from tastr_stream.tracklet.extractor import Extractor

    model, version = initial_model(backbone, 16 if backbone.startswith("tiny") else 512)
    ex = Extractor(lambda: model, device="cpu", batch_size=batch, version=version)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch, 256, 128, 3), dtype=np.uint8)
    sizes = rng.integers(1, batch + 1, calls)
    samples: list[float] = []

    def run() -> None:
        for i, n in enumerate(sizes):
            if mode == "one-pass":
                inference.embed_batch(ex.active[0], images[:n], ex.device, ex.precision, ex.channels_last)
            else:
                ex.forward(ex.active[0], images[:n])
            if (i + 1) % max(1, calls // 10) == 0:
                samples.append(rss_mb())

    worker = threading.Thread(target=run, name="reid-extractor")
    worker.start()
    worker.join()
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="mobilenetv2+partcolour")
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--mode", choices=["one-pass", "fixed"], help="measure one mode in this process (internal)")
    args = ap.parse_args()
    if args.mode:
        print(" ".join(f"{mb:.0f}" for mb in measure(args.mode, args.backbone, args.calls, args.batch)))
        return
    print(f"# embedder RSS over batches of random size — {datetime.date.today()} — {platform.machine()} — "
          f"command: .venv/bin/python benchmarks/bench_embed_memory.py {' '.join(sys.argv[1:])}")
    print(f"{args.backbone}, CPU, {args.calls} batches of seeded random size 1..{args.batch} on a worker thread")
    print("| mode | RSS after 1/10 MB | at 1/2 MB | at end MB |")
    print("|---|---|---|---|")
    for mode in ("one-pass", "fixed"):
        out = subprocess.run([sys.executable, __file__, "--mode", mode, "--backbone", args.backbone,
                              "--calls", str(args.calls), "--batch", str(args.batch)],
                             check=True, capture_output=True, text=True).stdout.split()
        mb = [float(v) for v in out]
        print(f"| {mode} | {mb[0]:.0f} | {mb[len(mb) // 2 - 1]:.0f} | {mb[-1]:.0f} |")


if __name__ == "__main__":
    main()
