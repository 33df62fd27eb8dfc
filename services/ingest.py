"""``tastr-stream ingest``: one camera's edge daemon.

decode (thread) -> detect/track/build (main thread) -> embed (thread) -> disk spool -> sender
(thread) -> associator. Weight announcements are polled between frames and loaded off the hot
path by the :class:`WeightSwapper`.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

from typing import TYPE_CHECKING

from .lifecycle import stop_on_signals

if TYPE_CHECKING:
    from tastr_stream.decode import DecodeWorker
    from tastr_stream.pipeline.ingest import IngestPipeline
    from tastr_stream.serve.metrics import IngestMetrics
    from tastr_stream.tracklet.extractor import BackgroundExtractor
    from tastr_stream.wire.channels import ReliableSender

log = logging.getLogger("tastr_stream.ingest")


def register(sub) -> None:
    p = sub.add_parser("ingest", help="run one camera's edge daemon (decode, detect, track, embed, publish)")
    p.add_argument("--config", required=True, help="TOML config file")
    p.add_argument("--camera", required=True, help="camera id from the config's network")
    p.add_argument("--source", help="file path or rtsp/tcp/udp URL (overrides the camera's configured source)")
    p.add_argument("--epoch", type=float, help="replay a file against this shared unix epoch (seconds)")
    p.add_argument("--speed", type=float, help="replay speed factor (overrides ingest.decode.replay_speed)")
    p.add_argument("--world", help="synthetic world dir (needed by the oracle detector)")
    p.add_argument("--metrics-host", help="override the config's metrics_host (e.g. 0.0.0.0 in a container)")
    p.add_argument("--metrics-port", type=int, help="Prometheus port (default from config; 0 = random)")
    p.add_argument("--spool-dir", help="override ingest.spool.dir (a per-camera subfolder is used)")
    p.add_argument("--drain-timeout", type=float, default=30.0,
                   help="at end of a file, seconds to wait for the associator to acknowledge everything")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Heavy imports (torch, zmq, onnxruntime) here, so `tastr-stream --help` and other commands start fast.
    from prometheus_client import CollectorRegistry
    from tastr_stream.config import load_config
    from tastr_stream.decode import DecodeWorker, is_network_url, open_source
    from tastr_stream.detect import make_detector
    from tastr_stream.errors import ConfigError
    from tastr_stream.pipeline.ingest import IngestPipeline
    from tastr_stream.models.checkpoint import initial_model
    from tastr_stream.serve.metrics import IngestMetrics, serve_metrics
    from tastr_stream.tracklet.extractor import BackgroundExtractor, Extractor
    from tastr_stream.tracklet.hotswap import WeightSwapper
    from tastr_stream.wire import encode
    from tastr_stream.wire.announce import AnnouncementSubscriber
    from tastr_stream.wire.checkpoints import CheckpointResolver
    from tastr_stream.wire.channels import ReliableSender
    from tastr_stream.wire.spool import DiskSpool

    cfg = load_config(args.config)
    if args.camera not in cfg.network.camera_ids:
        raise ConfigError(f"{args.config}: camera {args.camera!r} is not in network.cameras {cfg.network.camera_ids}")
    icfg = cfg.ingest
    decode_cfg = icfg.decode if args.speed is None else icfg.decode.model_copy(update={"replay_speed": args.speed})
    world = None
    if args.world:
        from tastr_stream.datasets.synthetic import SyntheticWorld

        world = SyntheticWorld.open(args.world)
    source_url = args.source or (str(world.video_path(args.camera)) if world else "")
    if not source_url:
        source_url = cfg.network.camera(args.camera).source
        # A relative file path in a config file is relative to that file, not to the cwd.
        if source_url and not is_network_url(source_url) and not os.path.isabs(source_url):
            source_url = os.path.join(os.path.dirname(os.path.abspath(args.config)), source_url)
    if not source_url:
        raise ConfigError(f"{args.config}: camera {args.camera!r} has no source; pass --source or --world")

    registry = CollectorRegistry()
    metrics = IngestMetrics(registry, args.camera)
    index = cfg.network.camera_ids.index(args.camera)
    port = args.metrics_port if args.metrics_port is not None else (
        icfg.metrics_port_base + index if icfg.metrics_port_base else 0)
    server = serve_metrics(registry, port,
                           args.metrics_host or icfg.metrics_host)

    detector = make_detector(icfg.detect, world=world, camera_id=args.camera, intra_op_threads=1)
    model, version = initial_model(icfg.embed.backbone, icfg.embed.emb_dim, icfg.embed.weights_path)
    extractor = Extractor(lambda: model, device=icfg.embed.device, batch_size=icfg.embed.batch_size, version=version)

    def on_swap(old: int, new: int) -> None:
        metrics.model_version.set(new)
        metrics.model_swaps.inc()
        log.info("model swapped", extra={"kv": {"camera": args.camera, "from": old, "to": new}})

    background = BackgroundExtractor(extractor, on_swap=on_swap).start()
    # Announced paths are the trainer's; this box may not see them, so missing files are fetched.
    resolver = CheckpointResolver(cfg.endpoints.checkpoints, icfg.embed.checkpoint_cache_dir,
                                  timeout_s=icfg.embed.checkpoint_fetch_timeout_s)
    swapper = WeightSwapper(background, expect_backbone=icfg.embed.backbone, expect_emb_dim=icfg.embed.emb_dim,
                            resolver=resolver).start()
    metrics.model_version.set(version)
    subscriber = AnnouncementSubscriber(cfg.endpoints.weights)

    spool_dir = f"{args.spool_dir or icfg.spool.dir}/{args.camera}"
    sender = ReliableSender(cfg.endpoints.tracklets, DiskSpool(spool_dir, icfg.spool.max_bytes)).start()
    pipeline = IngestPipeline(args.camera, icfg, detector, background,
                              lambda t: sender.submit(t.tracklet_id, encode(t)), metrics)

    live = is_network_url(source_url)
    source = open_source(source_url, args.camera, decode_cfg, epoch_wall_s=args.epoch)
    source.stats.on_decode = metrics.decode_seconds.observe
    if getattr(source, "width", 0) and getattr(source, "height", 0):
        pipeline.warm_up(source.width, source.height)
    # A file read as fast as possible must not lose frames to a slow detector: back-pressure.
    worker = DecodeWorker(source, decode_cfg.queue_frames, drop_oldest=live or args.epoch is not None).start()
    stop = stop_on_signals()
    export = _Exporter(metrics, worker, background, sender, pipeline)
    log.info("ingest started", extra={"kv": {"camera": args.camera, "source": source_url, "metrics_port": server.port,
                                             "model_version": version, "tracklets": cfg.endpoints.tracklets}})
    last_stats = time.monotonic()
    frames_at_last = 0
    try:
        while not stop.is_set():
            frame = worker.get(timeout_s=0.2)
            if frame is None:
                if worker.done:
                    break
            else:
                # A live source (camera or replay clock) tells the detection schedule how full the
                # decode queue is, so detection backs off before the queue drops frames.
                pipeline.process(frame, worker.qsize() / worker.capacity if worker.drop_oldest else None)
            for ann in subscriber.poll(0):
                if ann.version > background.newest_version:
                    swapper.announce(ann)
            now = time.monotonic()
            if now - last_stats >= 1.0:
                export()
                metrics.fps.set((pipeline.frames - frames_at_last) / (now - last_stats))
                frames_at_last, last_stats = pipeline.frames, now
        pipeline.finish()
        sender.stop(drain_timeout_s=0 if stop.is_set() else args.drain_timeout)
        export()
        log.info("ingest finished", extra={"kv": {"camera": args.camera, "frames": pipeline.frames,
                                                  "tracklets": pipeline.published, "unacked": sender.queue_depth,
                                                  "frames_detected": pipeline.detected_frames,
                                                  "detect_rate_hz": round(pipeline.detection_rate_hz, 2),
                                                  "detect_backoffs": pipeline.schedule.backoffs,
                                                  **worker.stats.as_dict()}})
    finally:
        worker.stop()
        swapper.stop()
        background.stop(drain=False)
        subscriber.close()
        server.close()
    return 0


class _Exporter:
    """Plain counters owned by other threads become Prometheus counters by difference."""

    def __init__(self, metrics: IngestMetrics, worker: DecodeWorker, background: BackgroundExtractor,
                 sender: ReliableSender, pipeline: IngestPipeline):
        self.metrics, self.worker, self.background, self.sender = metrics, worker, background, sender
        self.pipeline = pipeline
        self._last: dict[str, int] = {}

    def __call__(self) -> None:
        m, stats = self.metrics, self.worker.stats
        for name, counter, value in (
                ("decoded", m.frames_decoded, stats.frames_decoded), ("dropped", m.frames_dropped, stats.frames_dropped),
                ("corrupt", m.corrupt_packets, stats.corrupt_packets), ("reconnects", m.reconnects, stats.reconnects),
                ("acked", m.tracklets_acked, self.sender.stats.acked),
                ("spool_dropped", m.spool_dropped, self.sender.spool.dropped),
                ("embed_failures", m.embed_failures, self.pipeline.embed_failures)):
            delta = value - self._last.get(name, 0)
            if delta > 0:
                counter.inc(delta)
            self._last[name] = value
        m.decode_queue.set(self.worker.qsize())
        m.spool_queue.set(self.sender.queue_depth)
        m.embed_queue.set(self.background.stats()["queued_jobs"])
