"""Whole ingest on 4K: frames/s end to end and where the time goes per stage.

Renders (or reuses) a short 3840x2160 synthetic clip, then runs one camera's pipeline in this
process exactly as the ingest daemon does (decode worker -> detect on a downscaled copy -> track
-> tracklet builder cutting crops at full resolution -> background Re-ID embedding), timing each
stage. The reference in the same run is the bare decode loop on the same file, so the table says
what share of the decode-only rate the full pipeline keeps.

    .venv/bin/python benchmarks/bench_ingest.py [--seconds 4] [--detector yolo-pose] [--backbone mobilenetv2]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import av
from prometheus_client import CollectorRegistry

from tastr_stream.config.ingest import DetectConfig, IngestConfig
from tastr_stream.decode import DecodeWorker, FileSource
from tastr_stream.detect import make_detector
from tastr_stream.models.checkpoint import initial_model
from tastr_stream.pipeline.ingest import IngestPipeline
from tastr_stream.serve.metrics import IngestMetrics
from tastr_stream.sim import ensure_world
from tastr_stream.tracklet.extractor import BackgroundExtractor, Extractor

ROOT = Path(__file__).resolve().parents[1]


def bare_decode_fps(path: Path) -> float:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        t0, n = time.perf_counter(), 0
        for _ in c.decode(s):
            n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--detector", default="yolo-pose", choices=["yolo-pose", "hog"])
    ap.add_argument("--backbone", default="mobilenetv2")
    args = ap.parse_args()
    world = ensure_world(ROOT / ".cache/bench/world4k", cameras=2, people=8, distractors=0, minutes=args.seconds / 60,
                         resolution=(3840, 2160), seed=2, path_range_m=(12.0, 30.0), progress=False)
    video = world / "videos" / "cam1.mp4"
    cfg = IngestConfig(detect=DetectConfig(backend=args.detector))
    detector = make_detector(cfg.detect, root=ROOT)
    model, version = initial_model(args.backbone, cfg.embed.emb_dim)
    background = BackgroundExtractor(Extractor(lambda: model, batch_size=cfg.embed.batch_size, version=version)).start()
    published = []
    registry = CollectorRegistry()
    pipe = IngestPipeline("cam1", cfg, detector, background, published.append,
                          metrics=IngestMetrics(registry, "cam1"))

    ref_fps = bare_decode_fps(video)
    stage = {"decode (wait)": 0.0}
    worker = DecodeWorker(FileSource(video, "cam1"), 4, drop_oldest=False).start()
    t_start = time.perf_counter()
    frames = 0
    while True:
        t0 = time.perf_counter()
        frame = worker.get(timeout_s=5.0)
        if frame is None:
            break
        stage["decode (wait)"] += time.perf_counter() - t0
        pipe.process(frame)                    # the daemon's own per-frame path, timed by its metrics
        frames += 1
    t_embed0 = time.perf_counter()
    pipe.finish()
    stage["embed (drain at end)"] = time.perf_counter() - t_embed0
    total = time.perf_counter() - t_start
    for name, label in (("detect", "detect"), ("track+build", "track")):
        stage[name] = registry.get_sample_value("tastr_ingest_stage_seconds_sum", {"camera": "cam1", "stage": label})
    worker.stop()
    background.stop()
    fps = frames / total
    print(f"# ingest 4K benchmark — {datetime.date.today()} — {platform.machine()} {platform.processor() or ''}"
          f" — command: .venv/bin/python benchmarks/bench_ingest.py --seconds {args.seconds} --detector {args.detector}"
          f" --backbone {args.backbone}")
    print(f"frames {frames} (3840x2160), tracklets {len(published)}, end-to-end {fps:.2f} fps; "
          f"bare decode of the same file {ref_fps:.2f} fps; ratio {fps / ref_fps:.3f}")
    print("| stage | seconds | ms/frame | share |")
    print("|---|---|---|---|")
    for name, s in stage.items():
        print(f"| {name} | {s:.2f} | {1000 * s / max(frames, 1):.1f} | {s / total:.1%} |")


if __name__ == "__main__":
    main()
