"""Benchmark: our decode path vs PyAV's bare decode loop on one 3840x2160 H.264 clip.

Runs, on the same file and thread count, interleaved ``--repeats`` times (best run kept):

* ``bare``       PyAV's bare loop: ``for f in container.decode(stream)`` (decode only)
* ``bare+bgr``   the same plus ``f.to_ndarray(format="bgr24")`` (what any consumer needs)
* ``source``     our ``FileSource.frames()`` (decode, corrupt checks, pts->time, BGR, Frame)
* ``worker``     our ``FileSource`` behind ``DecodeWorker`` (thread + bounded queue, block mode)

Like is compared with like: ``worker / bare+bgr`` is the overhead of our code (target >= 0.9);
``worker / bare`` additionally prices the BGR conversion, which the pipeline cannot skip.
Prints a markdown table (one row per run) with machine, date and command.

Allocator note: each 4K BGR array is 24.9 MB. With glibc's default (dynamic) mmap threshold
such arrays are often fresh mmaps, and first-touch page faults cost ~9 ms of system time per
frame on the dev VM, in every variant alike; ``MALLOC_MMAP_THRESHOLD_=268435456
MALLOC_TRIM_THRESHOLD_=1073741824`` keeps them on the heap and removes that cost. The
allocator settings in effect are printed so runs are compared under the same ones.

    .venv/bin/python benchmarks/bench_decode.py [--seconds 3] [--threads 0] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tastr_stream.decode import DecodeWorker, FileSource

WIDTH, HEIGHT = 3840, 2160


def make_clip(path: Path, seconds: float, fps: int, preset: str, seed: int = 0) -> Path:
    """A camera-like 4K clip: textured static scene, moving blobs, sensor noise (seeded)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    scene = np.stack([(xx / WIDTH) * 160 + 40, (yy / HEIGHT) * 120 + 60,
                      60 + 40 * np.sin(xx / 37.0) * np.cos(yy / 53.0)], axis=-1)
    scene += rng.normal(0, 6, scene.shape).astype(np.float32)  # static texture
    scene = np.clip(scene, 0, 255).astype(np.uint8)
    tmp = path.with_suffix(".part" + path.suffix)
    out = av.open(str(tmp), "w")
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.codec_context.gop_size = fps
    stream.codec_context.options = {"preset": preset, "crf": "23"}
    n = int(round(seconds * fps))
    for i in range(n):
        img = scene.copy()
        for k in range(12):  # "people": blobs crossing the frame
            x = int((k * 311 + i * (8 + k)) % (WIDTH - 160))
            y = int(600 + (k * 97) % 1200)
            img[y:y + 360, x:x + 140] = (30 + 17 * k) % 256, (90 + 29 * k) % 256, (150 + 41 * k) % 256
        noise = rng.integers(-3, 4, (HEIGHT // 4, WIDTH // 4, 1), dtype=np.int16)
        img = np.clip(img.astype(np.int16) + np.repeat(np.repeat(noise, 4, 0), 4, 1), 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts, frame.time_base = i, Fraction(1, fps)
        out.mux(stream.encode(frame))
    out.mux(stream.encode())
    out.close()
    tmp.rename(path)
    return path


def run_bare(path: Path, threads: int, convert: bool) -> int:
    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        for frame in container.decode(stream):
            if convert:
                frame.to_ndarray(format="bgr24")
            n += 1
    return n


def run_source(path: Path, threads: int) -> int:
    return sum(1 for _ in FileSource(path, "bench", threads=threads).frames())


def run_worker(path: Path, threads: int, queue_frames: int) -> int:
    worker = DecodeWorker(FileSource(path, "bench", threads=threads), queue_frames, drop_oldest=False)
    with worker:
        n = sum(1 for _ in worker)
    if worker.stats.frames_dropped:
        raise RuntimeError(f"block-mode worker dropped {worker.stats.frames_dropped} frames")
    return n


def measure(fn) -> tuple[int, float, float]:
    """(frames, wall s, CPU s of this process, all threads)."""
    w0, c0 = time.perf_counter(), time.process_time()
    frames = fn()
    return frames, time.perf_counter() - w0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=".cache/bench")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--preset", default="veryfast", help="x264 preset used to make the clip")
    ap.add_argument("--threads", type=int, default=0, help="decoder threads, 0 = FFmpeg auto")
    ap.add_argument("--queue-frames", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    path = Path(args.cache_dir) / f"clip_{WIDTH}x{HEIGHT}_{args.seconds:g}s_{args.fps}fps_{args.preset}.mp4"
    t0 = time.perf_counter()
    make_clip(path, args.seconds, args.fps, args.preset)
    made_s = time.perf_counter() - t0
    size_mb = path.stat().st_size / 1e6
    mbps = size_mb * 8 / args.seconds

    runs = {"bare": lambda: run_bare(path, args.threads, False),
            "bare+bgr": lambda: run_bare(path, args.threads, True),
            "source": lambda: run_source(path, args.threads),
            "worker": lambda: run_worker(path, args.threads, args.queue_frames)}
    # Wall fps = best run (least disturbed by other load); CPU ms/frame = least CPU of this process
    # (all threads), which other processes on a shared machine barely move: report both.
    fps = {k: 0.0 for k in runs}
    cpu_ms = {k: float("inf") for k in runs}
    n = run_bare(path, args.threads, False)  # warm the page cache and the codec
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):  # interleaved so drifting machine load hits every variant alike
        for name, fn in runs.items():
            frames, wall_s, cpu_s = measure(fn)
            if frames != n:
                raise RuntimeError(f"{name}: decoded {frames} frames, bare decode gave {n}")
            fps[name] = max(fps[name], frames / wall_s)
            cpu_ms[name] = min(cpu_ms[name], 1e3 * cpu_s / frames)
    load_after = os.getloadavg()[0]

    machine = f"{platform.machine()} {os.cpu_count()} cpu ({platform.processor() or platform.node()})"
    cmd = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    print(f"clip: {path} ({n} frames, {size_mb:.1f} MB, {mbps:.1f} Mbit/s, made/cached in {made_s:.1f} s)")
    print(f"av {av.__version__}, libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}, "
          f"load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cpu, best of {args.repeats}")
    malloc_env = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    print(f"allocator env: {malloc_env or 'glibc defaults'}")
    print()
    print("| variant | wall fps | CPU ms/frame |")
    print("|---|---|---|")
    for name in runs:
        print(f"| {name} | {fps[name]:.1f} | {cpu_ms[name]:.1f} |")
    print()
    print("| date | machine | command | threads | frames | bare fps | bare+bgr fps | worker fps "
          "| worker/bare+bgr (wall, CPU) | worker/bare (wall, CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {dt.date.today().isoformat()} | {machine} | `{cmd}` | {args.threads} | {n} "
          f"| {fps['bare']:.1f} | {fps['bare+bgr']:.1f} | {fps['worker']:.1f} "
          f"| {fps['worker'] / fps['bare+bgr']:.3f}, {cpu_ms['bare+bgr'] / cpu_ms['worker']:.3f} "
          f"| {fps['worker'] / fps['bare']:.3f}, {cpu_ms['bare'] / cpu_ms['worker']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
