"""Benchmark: N cameras through one batched pose detector vs N separate detectors, same run.

*separate*: what N ingest processes do today: N onnxruntime sessions of the batch-1 model, one
intra-op thread each, each camera's thread detecting its own frames (threads stand in for the
processes; onnxruntime releases the GIL). *batched*: one session of the model with a free batch
axis (``...-batch.onnx``) with as many intra-op threads as the separate sessions use together
(min(N, cores)), one ``detect_batch`` per round with one frame per camera.
Both detect the same frames (real pedestrian video, vtest.avi, resized to ``--size``); the table
gives frames/s, the ratio batched/separate and the resident memory the sessions added.

On a CPU a batch buys little time (the network is compute-bound either way); it saves N-1
copies of the model and its arena, and on a GPU it is what fills the device. Figures from the
loaded 2-core dev box are indicative only.

    .venv/bin/python benchmarks/bench_batch_detect.py [--cameras 1 2 4] [--rounds 6] [--size 1280x720]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from tastr_stream.config.ingest import DetectConfig
from tastr_stream.detect import make_detector
from tastr_stream.detect.factory import batch_model_path, make_batch_detector

REPO = Path(__file__).resolve().parents[1]
VTEST = next((p for p in (Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi"),
                          REPO / ".cache/opencv-doc/usr/share/doc/opencv-doc/examples/data/vtest.avi") if p.is_file()), None)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def load_frames(n: int, size_wh: tuple[int, int]) -> list[np.ndarray]:
    if VTEST is None:
        rng = np.random.default_rng(0)
        return [rng.integers(0, 255, (size_wh[1], size_wh[0], 3), dtype=np.uint8) for _ in range(n)]
    cap, frames = cv2.VideoCapture(str(VTEST)), []
    for k in range(n):
        cap.set(cv2.CAP_PROP_POS_FRAMES, k * 790 // n)
        ok, frame = cap.read()
        frames.append(cv2.resize(frame, size_wh, interpolation=cv2.INTER_LINEAR) if ok else frames[-1])
    cap.release()
    return frames


def separate(cfg: DetectConfig, streams: list[list[np.ndarray]]) -> tuple[float, float, int]:
    """(frames/s, MB added by the sessions, detections): one session and thread per camera."""
    before = rss_mb()
    dets = [make_detector(cfg, intra_op_threads=1) for _ in streams]
    for d, s in zip(dets, streams):
        d.detect(s[0])   # warm-up
    added = rss_mb() - before
    found = [0] * len(streams)

    def camera(i: int) -> None:
        found[i] = sum(len(dets[i].detect(f, frame_index=k)) for k, f in enumerate(streams[i]))

    threads = [threading.Thread(target=camera, args=(i,)) for i in range(len(streams))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return sum(map(len, streams)) / elapsed, added, sum(found)


def batched(cfg: DetectConfig, streams: list[list[np.ndarray]]) -> tuple[float, float, int]:
    """(frames/s, MB added by the session, detections): one session, one batch per round."""
    cams = [f"cam{i + 1}" for i in range(len(streams))]
    before = rss_mb()
    det = make_batch_detector(cfg, cams, intra_op_threads=min(len(streams), os.cpu_count() or 1))
    det.detect_batch([s[0] for s in streams], camera_ids=cams)   # warm-up at this batch size
    added = rss_mb() - before
    t0 = time.perf_counter()
    found = 0
    for k in range(len(streams[0])):
        found += sum(map(len, det.detect_batch([s[k] for s in streams], camera_ids=cams)))
    elapsed = time.perf_counter() - t0
    return sum(map(len, streams)) / elapsed, added, found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--rounds", type=int, default=6, help="frames per camera")
    ap.add_argument("--size", default="1280x720", help="camera frame size WxH")
    ap.add_argument("--model", default=str(REPO / ".cache/models/yolo11n-pose.onnx"))
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    cfg = DetectConfig(model_path=args.model, device="cpu", max_batch=max(args.cameras))
    if not Path(args.model).is_file() or not batch_model_path(cfg).is_file():
        print(f"pose models missing ({args.model}, {batch_model_path(cfg)}): run ./run setup-pose", file=sys.stderr)
        return 2
    frames = load_frames(args.rounds * max(args.cameras), (w, h))
    make_detector(cfg, intra_op_threads=1).detect(frames[0])   # loads onnxruntime's libraries before any RSS is read
    print(f"# batched pose detection — {datetime.date.today()} — {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} cores, CPU (onnxruntime) — indicative only on a loaded dev box")
    print(f"command: `{' '.join(shlex.quote(a) for a in [sys.executable.split('/')[-1], *sys.argv])}`")
    print(f"frames: {'vtest.avi' if VTEST else 'seeded noise'} at {w}x{h}, {args.rounds} per camera\n")
    print("| cameras | separate frames/s | batched frames/s | ratio batched/separate | separate MB | batched MB | detections (sep / batch) |")
    print("|---|---|---|---|---|---|---|")
    for n in args.cameras:
        streams = [frames[i * args.rounds:(i + 1) * args.rounds] for i in range(n)]
        b_fps, b_mb, b_found = batched(cfg, streams)
        s_fps, s_mb, s_found = separate(cfg, streams)
        print(f"| {n} | {s_fps:.2f} | {b_fps:.2f} | {b_fps / s_fps:.2f} | {s_mb:.0f} | {b_mb:.0f} | {s_found} / {b_found} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
