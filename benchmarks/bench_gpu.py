"""Benchmark: how many 4K 30 fps cameras one GPU sustains in real time, and where the time goes.

Each stage of a camera's ingest is priced on this machine with the code ingest runs, then
scaled to one camera-second:

* ``decode``   every frame of an H.264 clip at ``--width`` x ``--height`` (``decode.hwaccel``: NVDEC
               when a CUDA device exists, else software), per frame, x ``fps``;
* ``to BGR``   the lazy BGR conversion, paid only on detected frames, x ``rate_hz``;
* ``detect``   the shared batched pose detector (downscale, letterbox, one run per ``--batch``
               cameras, decode, NMS) on CUDA when onnxruntime offers it, per frame, x ``rate_hz``;
* ``embed``    the Re-ID extractor (``--backbone``, bf16 on CUDA) on 256x128 crops, per crop,
               x ``--people`` x ``rate_hz`` (a crop is cut only from a detection).

Cameras sustained = 1000 ms / (ms per camera-second summed over the stages): the conservative
figure, with every stage on one timeline. NVDEC, the GPU's compute and the CPU's conversion run
on different engines, so a pipelined ingest can reach up to the smallest per-stage limit, also
shown. Tracking costs well under a millisecond per frame and is left out.

Without CUDA the same code runs on CPU and the header says so: the CPU figures answer "how many
cameras does this box sustain", not the GPU question. The test runs it at tiny sizes.

    .venv/bin/python benchmarks/bench_gpu.py [--width 3840 --height 2160] [--fps 30] [--rate-hz 5]
        [--frames 30] [--batch 8] [--people 5] [--backbone mobilenetv2]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from tastr_stream.config.ingest import DetectConfig
from tastr_stream.decode import FileSource
from tastr_stream.detect.factory import make_batch_detector
from tastr_stream.detect.providers import CUDA, available_providers
from tastr_stream.models.checkpoint import initial_model
from tastr_stream.tracklet.extractor import Extractor

REPO = Path(__file__).resolve().parents[1]


def write_clip(path: Path, width: int, height: int, fps: int, frames: int) -> Path:
    """A seeded H.264 clip with moving content (an encoder gets no shortcut from a still scene)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            img = np.repeat(np.repeat(np.roll(base, i, axis=1), 8, 0), 8, 1)[:height, :width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def time_decode(clip: Path, hwaccel: str) -> tuple[float, float, str, list]:
    """(ms per decoded frame, ms per BGR conversion, decoder used, the converted images)."""
    src = FileSource(clip, "bench", hwaccel=hwaccel)
    t0 = time.perf_counter()
    frames = list(src.frames())
    decode_ms = (time.perf_counter() - t0) * 1000 / len(frames)
    t0 = time.perf_counter()
    images = [f.image for f in frames]
    convert_ms = (time.perf_counter() - t0) * 1000 / len(frames)
    return decode_ms, convert_ms, src.hwaccel, images


def time_detect(images: list, batch: int, device: str, model: str, width: int, height: int) -> tuple[float, list[str]]:
    """ms per frame through the shared detector, ``batch`` frames per run."""
    iw, ih = (1280, 736) if width >= 1280 else (640, 384)
    path = Path(model) if model else REPO / f".cache/models/yolo11n-pose{'' if iw == 1280 else '-640x384'}.onnx"
    cfg = DetectConfig(model_path=str(path), input_width=iw, input_height=ih, device=device, max_batch=batch)
    det = make_batch_detector(cfg, [f"cam{i}" for i in range(batch)])
    chunk = (images * batch)[:batch]
    det.detect_batch(chunk)   # warm-up: the first run of a batch size plans and allocates
    runs = max(1, len(images) // batch)
    t0 = time.perf_counter()
    for r in range(runs):
        det.detect_batch((images[r * batch:] + images)[:batch])
    return (time.perf_counter() - t0) * 1000 / (runs * batch), det.inner.providers


def time_embed(backbone: str, crops: int, device: str) -> tuple[float, str]:
    """ms per 256x128 crop through the extractor's batched path (bf16 on CUDA)."""
    model, version = initial_model(backbone, 512 if backbone != "tiny" else 16)
    ex = Extractor(lambda: model, device=device, batch_size=32, precision="bf16", version=version)
    images = np.random.default_rng(1).integers(0, 256, (crops, 256, 128, 3), dtype=np.uint8)
    ex.embed(images[:min(crops, 32)])   # warm-up
    t0 = time.perf_counter()
    ex.embed(images)
    if ex.device.type == "cuda":
        import torch

        torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1000 / crops, f"{ex.device.type} {ex.precision}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=3840)
    ap.add_argument("--height", type=int, default=2160)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--rate-hz", type=float, default=5.0, help="detections per camera-second")
    ap.add_argument("--frames", type=int, default=30, help="frames decoded (and detected) to price the stages")
    ap.add_argument("--batch", type=int, default=8, help="cameras per detector run")
    ap.add_argument("--people", type=float, default=5.0, help="people in view per camera (crops per detection)")
    ap.add_argument("--backbone", default="mobilenetv2")
    ap.add_argument("--crops", type=int, default=128, help="crops embedded to price the extractor")
    ap.add_argument("--model", default="", help="pose model (default: the cached export for the size)")
    args = ap.parse_args(argv)

    import torch

    cuda = torch.cuda.is_available()
    ort_cuda = CUDA in available_providers()
    where = (f"GPU: {torch.cuda.get_device_name(0)}" if cuda else
             "NO CUDA: CPU fallback, the same code on CPU (these are CPU figures, not GPU ones)")
    print(f"# GPU ingest capacity — {datetime.date.today()} — {where} — {platform.machine()}, {os.cpu_count()} cores, "
          f"onnxruntime CUDA: {'yes' if ort_cuda else 'no'}")
    print(f"command: `{' '.join(shlex.quote(a) for a in ['python', *sys.argv])}`")
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        clip = write_clip(Path(tmp) / "clip.mp4", args.width, args.height, args.fps, args.frames)
        decode_ms, convert_ms, decoder, images = time_decode(clip, "auto")
    detect_ms, providers = time_detect(images, args.batch, "auto", args.model, args.width, args.height)
    embed_ms, embed_on = time_embed(args.backbone, args.crops, "auto")
    crops_per_s = args.people * args.rate_hz
    stages = [
        ("decode", f"{decoder} ({'NVDEC' if decoder == 'cuda' else 'software'})", decode_ms, args.fps),
        ("to BGR", "CPU, detected frames only", convert_ms, args.rate_hz),
        ("detect", f"{providers[0].replace('ExecutionProvider', '')}, batch {args.batch}", detect_ms, args.rate_hz),
        ("embed", f"{args.backbone} {embed_on}", embed_ms, crops_per_s),
    ]
    total = sum(ms * n for _, _, ms, n in stages)
    print(f"camera: {args.width}x{args.height} at {args.fps} fps, detection at {args.rate_hz:g} Hz, "
          f"{args.people:g} people in view ({crops_per_s:g} crops/s)\n")
    print("| stage | runs on | ms per unit | units per camera-second | ms per camera-second | share | cameras if alone |")
    print("|---|---|---|---|---|---|---|")
    for name, on, ms, n in stages:
        cost = ms * n
        print(f"| {name} | {on} | {ms:.2f} | {n:g} | {cost:.1f} | {100 * cost / total:.0f}% | "
              f"{1000 / cost if cost else float('inf'):.1f} |")
    print(f"| **all** | | | | {total:.1f} | 100% | **{1000 / total:.1f}** |")
    limit = min(1000 / (ms * n) for _, _, ms, n in stages if ms * n > 0)
    print(f"\ncameras sustained in real time: {1000 / total:.1f} with every stage on one timeline; "
          f"up to {limit:.1f} if decode, conversion and GPU work overlap perfectly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
