"""Whole ingest on 4K: frames/s end to end against bare decode of the same file, and where the time goes.

Renders (or reuses) a short 3840x2160 synthetic clip with people and re-encodes it the way a 4K
camera streams (H.264 at ``--bitrate`` Mbit/s, so the decoder works as hard as on a real camera;
the renderer's own file is smooth and decodes several times faster than any camera's). Then it
runs one camera's pipeline in this process exactly as the ingest daemon does: decode worker ->
detection on the schedule (``--rate-hz`` of stream time, on a copy downscaled to the detector's
input) -> tracking on every frame (prediction between detections) -> crops cut from the full 4K
frame where a fresh detection exists -> background Re-ID embedding.

The reference, measured in the same run on the same file and decoder threads, is PyAV's bare
decode loop (``for f in container.decode(stream)``: decode only, no conversion). Runs alternate
reference and pipeline ``--repeats`` times; the worst ratio is reported.

    .venv/bin/python benchmarks/bench_ingest.py [--seconds 4] [--rate-hz 5] [--input 640x384]
        [--bitrate 16] [--repeats 3] [--detector yolo-pose] [--int8] [--backbone mobilenetv2] [--crops-per-tracklet 60]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import av
from prometheus_client import CollectorRegistry

from tastr_stream.config.ingest import DetectConfig, IngestConfig
from tastr_stream.config.model import ModelConfig
from tastr_stream.decode import DecodeWorker, FileSource
from tastr_stream.detect import make_detector
from tastr_stream.models.checkpoint import initial_model
from tastr_stream.pipeline.ingest import IngestPipeline
from tastr_stream.serve.metrics import IngestMetrics
from tastr_stream.sim import ensure_world
from tastr_stream.tracklet.extractor import BackgroundExtractor, Extractor

ROOT = Path(__file__).resolve().parents[1]
POSE_MODELS = {(640, 384): ".cache/models/yolo11n-pose-640x384.onnx", (1280, 736): ".cache/models/yolo11n-pose.onnx"}


def camera_like(src: Path, out: Path, bitrate_mbps: float) -> Path:
    """``src`` re-encoded as a 4K camera streams it: x264 veryfast at a fixed bit rate, 1 s GOP."""
    if out.exists():
        return out
    tmp = out.with_suffix(".part.mp4")
    with av.open(str(src)) as cin, av.open(str(tmp), "w") as cout:
        sin = cin.streams.video[0]
        rate = sin.average_rate
        sout = cout.add_stream("libx264", rate=rate)
        sout.width, sout.height, sout.pix_fmt = sin.codec_context.width, sin.codec_context.height, "yuv420p"
        sout.bit_rate = int(bitrate_mbps * 1e6)
        sout.codec_context.gop_size = int(round(float(rate)))
        kbps = str(int(bitrate_mbps * 1000))
        sout.codec_context.options = {"preset": "veryfast", "maxrate": kbps + "k", "bufsize": str(2 * int(kbps)) + "k",
                                      "nal-hrd": "cbr", "x264-params": f"bitrate={kbps}:vbv-maxrate={kbps}:vbv-bufsize={kbps}"}
        for frame in cin.decode(sin):
            frame.pict_type = av.video.frame.PictureType.NONE
            for packet in sout.encode(frame):
                cout.mux(packet)
        for packet in sout.encode():
            cout.mux(packet)
    tmp.rename(out)
    return out


def bare_decode(path: Path, threads: int) -> tuple[int, float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_type = "AUTO"
        s.codec_context.thread_count = threads
        t0, n = time.perf_counter(), 0
        for _ in c.decode(s):
            n += 1
    return n, time.perf_counter() - t0


def run_pipeline(video: Path, cfg: IngestConfig, detector, model, version: int, threads: int,
                 crops_per_tracklet: int) -> dict:
    background = BackgroundExtractor(Extractor(lambda: model, batch_size=cfg.embed.batch_size, version=version)).start()
    published = []
    registry = CollectorRegistry()
    pipe = IngestPipeline("cam1", cfg, detector, background, published.append, metrics=IngestMetrics(registry, "cam1"),
                          crops_per_tracklet=crops_per_tracklet)
    worker = DecodeWorker(FileSource(video, "cam1", threads=threads), 8, drop_oldest=False).start()
    wait_s, converted, frames = 0.0, 0, 0
    t_start = time.perf_counter()
    try:
        while True:
            t0 = time.perf_counter()
            frame = worker.get(timeout_s=30.0)
            if frame is None:
                break
            wait_s += time.perf_counter() - t0
            pipe.process(frame)                 # the daemon's own per-frame path, timed by its metrics
            converted += frame.converted
            frames += 1
        t_drain = time.perf_counter()
        pipe.finish()
        drain_s = time.perf_counter() - t_drain
    finally:
        worker.stop()
        background.stop()
    total = time.perf_counter() - t_start

    def stage(label: str) -> float:
        return registry.get_sample_value("tastr_ingest_stage_seconds_sum", {"camera": "cam1", "stage": label}) or 0.0

    return {"frames": frames, "seconds": total, "tracklets": len(published), "detected": pipe.detected_frames,
            "rate_hz": pipe.detection_rate_hz, "converted": converted,
            "stages": {"waiting for decode": wait_s, "detect (incl. the downscaled copy)": stage("detect"),
                       "track + build (incl. crops from the 4K planes)": stage("track"), "embed drain at end": drain_s}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rate-hz", type=float, default=5.0, help="detections per second of stream time (0 = every frame)")
    ap.add_argument("--input", default="640x384", choices=["640x384", "1280x736"], help="detector input")
    ap.add_argument("--bitrate", type=float, default=16.0, help="Mbit/s of the camera-like re-encode (0 = renderer's file)")
    ap.add_argument("--threads", type=int, default=0, help="decoder threads (0 = FFmpeg auto, as ingest)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--detector", default="yolo-pose", choices=["yolo-pose", "hog"])
    ap.add_argument("--int8", action="store_true", help="the int8 pose model (640x384 only; tools/quantize_pose_model.py)")
    ap.add_argument("--backbone", default="mobilenetv2")
    ap.add_argument("--crops-per-tracklet", type=int, default=ModelConfig().crops_per_tracklet,
                    help="crops a tracklet's embedding averages ([model] crops_per_tracklet; 60 = every kept crop)")
    args = ap.parse_args()
    world = ensure_world(ROOT / ".cache/bench/world4k", cameras=2, people=8, distractors=0, minutes=args.seconds / 60,
                         resolution=(3840, 2160), seed=2, path_range_m=(12.0, 30.0), progress=False)
    video = world / "videos" / "cam1.mp4"
    if args.bitrate > 0:
        video = camera_like(video, world / f"cam1-camera-{args.bitrate:g}mbps.mp4", args.bitrate)
    iw, ih = (int(v) for v in args.input.split("x"))
    model_path = POSE_MODELS[(iw, ih)]
    if args.int8:
        if (iw, ih) != (640, 384):
            raise SystemExit("--int8: only the 640x384 pose model has an int8 copy")
        model_path = model_path.replace(".onnx", "-int8.onnx")
    detect = DetectConfig(backend=args.detector, model_path=model_path, input_width=iw, input_height=ih,
                          rate_hz=args.rate_hz, min_rate_hz=min(1.0, args.rate_hz) if args.rate_hz else 1.0)
    cfg = IngestConfig(detect=detect)
    detector = make_detector(cfg.detect, root=ROOT, intra_op_threads=1)   # as the ingest daemon runs it
    model, version = initial_model(args.backbone, ModelConfig().emb_dim)

    runs = []
    for _ in range(args.repeats):
        n_ref, s_ref = bare_decode(video, args.threads)
        res = run_pipeline(video, cfg, detector, model, version, args.threads, args.crops_per_tracklet)
        runs.append((n_ref / s_ref, res))
    print(f"# ingest 4K benchmark — {datetime.date.today()} — {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} cores — command: .venv/bin/python benchmarks/bench_ingest.py {shlex.join(sys.argv[1:])}")
    size_mb = video.stat().st_size / 1e6
    print(f"file: {video.name}, 3840x2160, {runs[0][1]['frames']} frames, {size_mb:.1f} MB "
          f"({8 * size_mb / args.seconds:.1f} Mbit/s); detector {args.detector} {args.input}, 1 thread; "
          f"detection at {args.rate_hz:g} Hz of stream time; embeddings of at most {args.crops_per_tracklet} crops")
    print("| run | bare decode fps | end-to-end fps | ratio | detection Hz (stream) | frames converted to BGR | tracklets |")
    print("|---|---|---|---|---|---|---|")
    for i, (ref_fps, r) in enumerate(runs, 1):
        fps = r["frames"] / r["seconds"]
        print(f"| {i} | {ref_fps:.1f} | {fps:.1f} | {fps / ref_fps:.3f} | {r['rate_hz']:.2f} | "
              f"{r['converted']}/{r['frames']} | {r['tracklets']} |")
    worst_ref, worst = min(runs, key=lambda x: (x[1]["frames"] / x[1]["seconds"]) / x[0])
    print(f"worst ratio {worst['frames'] / worst['seconds'] / worst_ref:.3f}; where its time went:")
    print("| stage (main thread unless noted) | seconds | ms/frame | share of wall |")
    print("|---|---|---|---|")
    for name, s in worst["stages"].items():
        print(f"| {name} | {s:.2f} | {1000 * s / max(worst['frames'], 1):.1f} | {s / worst['seconds']:.1%} |")


if __name__ == "__main__":
    main()
