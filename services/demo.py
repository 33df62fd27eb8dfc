"""``tastr-stream demo``: the whole system on the embedded synthetic world, on this machine.

Renders (or reuses) a small synthetic world, replays its cameras live against one clock through
one ingest process each, runs the associator, prints live cross-camera links, and ends with a
report scored against the world's ground truth. Ctrl-C stops every process cleanly.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
import tomllib
from pathlib import Path

log = logging.getLogger("tastr_stream.demo")
DEMO_POSE_MODEL = ".cache/models/yolo11n-pose-640x384.onnx"
DEMO_POSE_MODEL_INT8 = ".cache/models/yolo11n-pose-640x384-int8.onnx"    # tools/quantize_pose_model.py
DETECTORS = ["auto", "yolo-pose-int8", "yolo-pose", "hog", "oracle"]


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the whole network on a small synthetic world and report")
    p.add_argument("--out", default="runs/demo", help="run folder (world cache, store, logs)")
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--people", type=int, default=16)
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--resolution", default="640x360")
    p.add_argument("--fps", type=int, default=6,
                   help="world frame rate; low by default so 2 cores can detect every camera live")
    p.add_argument("--path-range", default="20,60",
                   help="walkway lengths MIN,MAX in metres; short so people cross cameras within the demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", type=float, default=1.0, help="replay speed (1 = real time)")
    p.add_argument("--train-wait-s", type=float, default=180.0,
                   help="after the cameras end, wait this long at most for a training round in flight and "
                        "the associator's switch to its version (0: stop at once)")
    p.add_argument("--settle-s", type=float, default=120.0,
                   help="after the cameras end, wait this long at most for links still waiting until every rival "
                        "could have arrived (the associator's event clock follows the wall clock once cameras stop)")
    p.add_argument("--detector", choices=DETECTORS, default="auto",
                   help="auto: YOLO11n-pose in int8 when setup made it, else the float export, else OpenCV HOG")
    p.set_defaults(func=run)


def pick_detector(choice: str, repo_root: Path) -> dict:
    """The [ingest.detect] table for ``choice``. ``auto`` takes the int8 pose model when setup made
    it (1.6x the float model's speed on a CPU, the same tracking quality: RESULTS.md), which leaves
    2 cores more room for 4 live cameras, the associator and a training round."""
    models = {"yolo-pose-int8": repo_root / DEMO_POSE_MODEL_INT8, "yolo-pose": repo_root / DEMO_POSE_MODEL}
    if choice == "auto":
        choice = next((name for name, path in models.items() if path.exists()), "hog")
        if choice == "hog":
            log.warning("pose model not found; using OpenCV HOG (run tools/setup_pose_model.sh for YOLO11n-pose)",
                        extra={"kv": {"looked_for": models["yolo-pose"]}})
    if choice in models:
        return {"backend": "yolo-pose", "model_path": str(models[choice]), "input_width": 640, "input_height": 384}
    return {"backend": choice, "input_width": 640, "input_height": 384}


def demo_config(world_dir: Path, run_dir: Path, detect: dict, fps: int, endpoints: dict) -> dict:
    from tastr_stream.config.model import DEFAULT_BACKBONE, DEFAULT_EMB_DIM

    network = tomllib.loads((world_dir / "network.toml").read_text())["network"]
    for cam in network["cameras"]:
        cam["source"] = str((world_dir / cam["source"]).resolve()) if cam.get("source") else ""
    return {
        "network": network,
        "endpoints": endpoints,
        # The shipped default model (untrained v0 until the demo's rounds publish new versions).
        "model": {"backbone": DEFAULT_BACKBONE, "emb_dim": DEFAULT_EMB_DIM},
        # Detection on every frame of the low-rate demo video, backing off to 2 Hz when a box
        # this size falls behind (4 cameras, the associator and a training round on 2 cores),
        # before any frame is dropped.
        # A decode queue of 4 s of video (small frames, kept undecoded to BGR until read) rides
        # out a few seconds of CPU starvation on a shared box without dropping anything.
        "ingest": {"detect": {**detect, "rate_hz": 0.0, "min_rate_hz": 2.0},
                   "decode": {"queue_frames": max(8, 4 * fps)},
                   "tracklet": {"crop_every_n_frames": max(1, round(fps / 10)), "min_frames": 3},
                   "track": {"min_hits": 2, "max_misses": max(3, fps)},
                   "embed": {"batch_size": 32}},
        "associator": {"store_dir": str(run_dir / "store"), "window": {"window_s": 3600.0},
                       "train_after_new_pairs": 10},
        # Rounds sized for a short demo on a few CPU cores: small batches, a short gap T (people
        # re-enter a view within minutes here). The head recipe's round is one descriptor pass over
        # the window's crops (on the trainer's one thread), so 12 crops per tracklet keep it to
        # about a minute; the batch budget applies to the end-to-end recipe only.
        "trainer": {"p": 4, "k": 4, "tsccc_gap_s": 5.0, "epochs_per_round": 1, "max_batches_per_round": 10,
                    "max_images_per_tracklet": 12, "checkpoint_dir": str(run_dir / "checkpoints")},
    }


def run(args: argparse.Namespace) -> int:
    from tastr_stream.config import load_config
    from tastr_stream.config.toml_writer import write_toml
    from tastr_stream.datasets.synthetic import SyntheticWorld
    from tastr_stream.errors import ConfigError
    from tastr_stream.eval.report import network_report
    from tastr_stream.sim import ensure_world

    from .live_view import LiveView
    from .network_runner import NetworkRunner, ingest_summaries, loopback_endpoints, swapped_versions

    try:
        w, h = (int(v) for v in args.resolution.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--resolution must look like 640x360, got {args.resolution!r}") from None
    try:
        path_range = tuple(float(v) for v in args.path_range.split(","))
        assert len(path_range) == 2
    except (ValueError, AssertionError):
        raise ConfigError(f"--path-range must look like 20,60, got {args.path_range!r}") from None
    repo_root = Path(__file__).resolve().parents[1]
    run_dir = Path(args.out).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"[demo] world: {args.cameras} cameras, {args.people} people, {args.minutes} min, {w}x{h} @ {args.fps} fps")
    world_dir = ensure_world(run_dir / "world", cameras=args.cameras, people=args.people, minutes=args.minutes,
                             resolution=(w, h), fps=args.fps, seed=args.seed, path_range_m=path_range,
                             progress=True)
    for stale in ("store", "spool", "checkpoints", "logs"):
        shutil.rmtree(run_dir / stale, ignore_errors=True)
    detect = pick_detector(args.detector, repo_root)
    config_path = write_toml(run_dir / "network.toml",
                             demo_config(world_dir, run_dir, detect, args.fps, loopback_endpoints()))
    cfg = load_config(config_path)
    world = SyntheticWorld.open(world_dir)
    runner = NetworkRunner(config_path, run_dir, cfg.network.camera_ids, world_dir=world_dir, speed=args.speed)
    model = f" ({Path(detect['model_path']).name})" if detect.get("model_path") else ""
    print(f"[demo] detector: {detect['backend']}{model}; starting associator, trainer and {len(cfg.network.camera_ids)} "
          f"ingest processes")
    info = runner.start()
    print(f"[demo] web page    http://127.0.0.1:{info['http_port']}/   (camera graph, identities, search)")
    print(f"[demo] lookup API  http://127.0.0.1:{info['http_port']}/api/recent   metrics "
          f"http://127.0.0.1:{info['metrics_port']}/metrics   logs {run_dir / 'logs'}")
    from tastr_stream.config import load_token

    view = LiveView(cfg.endpoints.lookup, token=load_token(cfg.security))
    interrupted = False
    try:
        while runner.ingest_running():
            time.sleep(2.0)
            view.tick(len(runner.ingest_running()))
            if runner.failed():
                bad = ", ".join(f"{p.name} (exit {p.popen.returncode}, log {p.log_path})" for p in runner.failed())
                print(f"[demo] a process failed: {bad}")
                break
        view.tick(0)
        if not runner.failed():
            print(f"[demo] cameras done; letting a training round in flight finish (at most {args.train_wait_s:.0f} s)")
            if not runner.wait_for_training(args.train_wait_s, tick=lambda: view.tick(0)):
                print("[demo] a training round was still running; stopping it")
            print(f"[demo] letting the associator decide the links still waiting for their context "
                  f"(at most {args.settle_s:.0f} s)")
            if not runner.wait_for_links(args.settle_s, tick=lambda: view.tick(0)):
                print("[demo] some links were still waiting; the report shows what was decided")
    except KeyboardInterrupt:
        interrupted = True
        print("\n[demo] interrupted: stopping every process")
    finally:
        view.close()
        runner.stop()
    report = network_report(run_dir / "store", world)
    print("\n[demo] report" + (" (partial: interrupted)" if interrupted else ""))
    for line in report.lines():
        print("  " + line)
    for cam, f in ingest_summaries(run_dir).items():
        print(f"  ingest {cam:<18} {f.get('frames', '?')} frames, {f.get('frames_dropped', '?')} dropped, "
              f"detection on {f.get('frames_detected', '?')} ({f.get('detect_rate_hz', '?')} Hz, "
              f"{f.get('detect_backoffs', '?')} back-offs)")
    versions = swapped_versions(run_dir)
    print("  model versions swapped in  " + (", ".join(f"v{v}" for v in versions) if versions
                                              else "none (no training round finished during the run)"))
    if not interrupted:
        from tastr_stream.eval.model_versions import score_versions

        for s in score_versions(world_dir, cfg.trainer.checkpoint_dir, [0, *versions], cfg.model.backbone,
                                cfg.model.emb_dim, cfg.model.weights_path):
            print(f"  model v{s.version:<19} rank-1 {s.rank1:.3f}  mAP {s.mAP:.3f}  "
                  f"(each visit queries the other cameras' visits, ground-truth crops, {s.queries} queries)")
    print(f"\n[demo] the store stays in {run_dir / 'store'}; config {config_path}")
    print(f"[demo] next time, while it runs: tastr-stream lookup --config {config_path} recent")
    print(f"[demo]                           tastr-stream status --run {run_dir}")
    return 130 if interrupted else (1 if runner.failed() else 0)
