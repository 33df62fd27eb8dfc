"""``tastr-stream replay``: play a recorded synchronized multi-camera dataset as a live network.

One ingest process per camera releases frames on one shared clock (``--speed`` times real time),
the associator runs as it would on real cameras, and on a synthetic world the run ends with the
same ground-truth report as the demo. Datasets: a synthetic world (``world.json``) or Campus-4K
(per-camera videos found by ``tastr_stream.datasets.campus4k.find_videos``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .demo import DETECTORS


def register(sub) -> None:
    p = sub.add_parser("replay", help="replay a recorded multi-camera dataset as a live network")
    p.add_argument("--dataset", required=True, help="synthetic world dir or Campus-4K root")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed (1 = real time)")
    p.add_argument("--cameras", nargs="+", help="only these camera ids (default: all)")
    p.add_argument("--out", default="runs/replay", help="run folder (store, spool, logs, generated config)")
    p.add_argument("--detector", choices=DETECTORS, default="auto")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shutil

    from tastr_stream.config import load_config
    from tastr_stream.config.toml_writer import write_toml
    from tastr_stream.errors import DatasetError

    from .demo import demo_config, pick_detector
    from .live_view import LiveView
    from .network_runner import NetworkRunner, loopback_endpoints

    dataset = Path(args.dataset).resolve()
    run_dir = Path(args.out).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("store", "spool", "checkpoints", "logs"):
        shutil.rmtree(run_dir / stale, ignore_errors=True)
    repo_root = Path(__file__).resolve().parents[1]
    world = None
    sources: dict[str, str] = {}
    if (dataset / "world.json").exists():
        from tastr_stream.datasets.synthetic import SyntheticWorld

        world = SyntheticWorld.open(dataset)
        detect = pick_detector(args.detector, repo_root)
        if world.resolution[0] > 640:  # full-size model for larger worlds
            detect = {k: v for k, v in detect.items() if k not in ("model_path", "input_width", "input_height")}
        data = demo_config(dataset, run_dir, detect, world.fps, loopback_endpoints())
    else:
        from tastr_stream.datasets.campus4k import campus4k_network, find_videos

        videos = find_videos(dataset)
        if not videos:
            raise DatasetError(f"{dataset}: neither a synthetic world (world.json) nor Campus-4K videos")
        net = campus4k_network().model_dump(exclude_none=True)
        sources = {cam: str(path) for cam, path in videos.items()}
        detect = pick_detector(args.detector, repo_root)
        detect = {k: v for k, v in detect.items() if k not in ("model_path", "input_width", "input_height")}
        data = {"network": net, "endpoints": loopback_endpoints(), "ingest": {"detect": detect},
                "associator": {"store_dir": str(run_dir / "store")}}
    config_path = write_toml(run_dir / "network.toml", data)
    cfg = load_config(config_path)
    cameras = args.cameras or [c for c in cfg.network.camera_ids if not sources or c in sources]
    unknown = sorted(set(cameras) - set(cfg.network.camera_ids))
    if unknown:
        raise DatasetError(f"--cameras {unknown} not in the dataset's cameras {cfg.network.camera_ids}")
    runner = NetworkRunner(config_path, run_dir, cameras, sources=sources,
                           world_dir=dataset if world is not None else None, speed=args.speed)
    info = runner.start()
    print(f"[replay] {len(cameras)} cameras at {args.speed}x; lookup API http://127.0.0.1:{info['http_port']}/api/recent"
          f"  metrics http://127.0.0.1:{info['metrics_port']}/metrics  logs {run_dir / 'logs'}")
    from tastr_stream.config import load_token

    view = LiveView(cfg.endpoints.lookup, token=load_token(cfg.security))
    interrupted = False
    try:
        while runner.ingest_running() and not runner.failed():
            time.sleep(2.0)
            view.tick(len(runner.ingest_running()))
        view.tick(0)
    except KeyboardInterrupt:
        interrupted = True
        print("\n[replay] interrupted: stopping every process")
    finally:
        view.close()
        runner.stop()
    for p in runner.failed():
        print(f"[replay] {p.name} exited with {p.popen.returncode}; see {p.log_path}")
    if world is not None:
        from tastr_stream.eval.report import network_report

        print("\n[replay] report")
        for line in network_report(run_dir / "store", world).lines():
            print("  " + line)
    return 130 if interrupted else (1 if runner.failed() else 0)
