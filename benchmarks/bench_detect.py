"""Benchmark: person detection cost per frame on CPU, per backend and stage.

Frames are real pedestrian video (Debian's opencv-doc ``vtest.avi``) when present, else a
seeded synthetic scene; each frame is also upscaled to 3840x2160 to price the ingest path
(4K frame -> downscale -> detect -> map back). Rows:

* ``yolo-pose infer``      onnxruntime run alone on a prepared 1280x736 blob (the model's cost)
* ``yolo-pose 1280x736``   our full detector on a 1280x720 frame (letterbox, infer, decode, NMS)
* ``yolo-pose 4K``         the same behind ``DownscaledDetector`` on a 3840x2160 frame
* ``hog 4K``               OpenCV HOG behind ``DownscaledDetector`` on a 3840x2160 frame

Prints a markdown table (best of ``--repeats`` means of ``--frames`` frames) with machine,
date and command.

    .venv/bin/python benchmarks/bench_detect.py [--frames 10] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from tastr_stream.config.ingest import DetectConfig
from tastr_stream.detect import make_detector

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def load_frames(n: int, size_wh: tuple[int, int]) -> tuple[list[np.ndarray], str]:
    """``n`` frames resized to ``size_wh``: vtest.avi spread over the clip, or a seeded scene."""
    frames: list[np.ndarray] = []
    if VTEST.is_file():
        cap = cv2.VideoCapture(str(VTEST))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 795
        for k in range(n):
            cap.set(cv2.CAP_PROP_POS_FRAMES, k * total // n)
            ok, frame = cap.read()
            if ok:
                frames.append(cv2.resize(frame, size_wh, interpolation=cv2.INTER_LINEAR))
        cap.release()
        if len(frames) == n:
            return frames, "vtest.avi"
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (size_wh[1], size_wh[0], 3), dtype=np.uint8) for _ in range(n)]
    return frames, "seeded noise"


def time_per_frame_ms(fn, frames: list[np.ndarray], repeats: int) -> tuple[float, float]:
    """(best mean ms/frame, detections per frame of the last run)."""
    fn(frames[0])   # warm-up: first onnxruntime run allocates
    best, count = float("inf"), 0
    for _ in range(repeats):
        count = 0
        t0 = time.perf_counter()
        for f in frames:
            count += len(fn(f))
        best = min(best, (time.perf_counter() - t0) / len(frames) * 1000)
    return best, count / len(frames)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    ap.add_argument("--model", default=".cache/models/yolo11n-pose.onnx")
    ap.add_argument("--skip-hog", action="store_true")
    args = ap.parse_args(argv)

    frames_720, source = load_frames(args.frames, (1280, 720))
    frames_4k = [cv2.resize(f, (3840, 2160), interpolation=cv2.INTER_LINEAR) for f in frames_720]
    rows: list[tuple[str, float, float]] = []

    if Path(args.model).is_file():
        det = make_detector(DetectConfig(model_path=args.model), intra_op_threads=args.threads)
        yolo = det.inner
        blob, _ = yolo.preprocess(frames_720[0])
        ms, _ = time_per_frame_ms(lambda f: yolo.infer(blob)[0, 0], frames_720, args.repeats)
        rows.append(("yolo-pose infer", ms, float("nan")))
        rows.append(("yolo-pose 1280x736", *time_per_frame_ms(yolo.detect, frames_720, args.repeats)))
        rows.append(("yolo-pose 4K", *time_per_frame_ms(det.detect, frames_4k, args.repeats)))
    else:
        sys.stderr.write(f"[bench] {args.model} absent (tools/setup_pose_model.sh): yolo-pose skipped\n")
    if not args.skip_hog:
        hog = make_detector(DetectConfig(backend="hog"))
        rows.append(("hog 4K", *time_per_frame_ms(hog.detect, frames_4k, 1)))

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cpus; "
          f"{dt.datetime.now().isoformat(timespec='seconds')}; frames: {source}, {args.frames}; "
          f"onnxruntime threads: {args.threads}")
    print(f"command: {shlex.join([sys.executable, *sys.argv])}\n")
    print("| stage | ms/frame | people/frame |")
    print("| --- | ---: | ---: |")
    for name, ms, people in rows:
        shown = "" if np.isnan(people) else f"{people:.1f}"
        print(f"| {name} | {ms:.1f} | {shown} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
