"""``tastr-stream ingest``: the edge daemon of one camera, or of several cameras on one box.

decode (thread per camera) -> detect/track/build (main thread) -> embed (thread) -> disk spool ->
sender (thread per camera) -> associator. Weight announcements are polled between frames and
loaded off the hot path by the :class:`WeightSwapper`.

With several ``--camera`` flags the cameras share one pose detector that runs their due frames in
batches (``pipeline.multi_ingest``) and one Re-ID extractor; each camera keeps its own decode
worker, pipeline (schedule, tracker, tracklet ids), spool and sender, and its own metrics
registry on its own port (camera i of the network on ``metrics_port_base + i`` as before, or
``--metrics-port + k`` for the k-th flag), so dashboards and scrape configs do not change.
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
    p = sub.add_parser("ingest", help="run the edge daemon of one camera, or of several sharing one detector "
                                      "(decode, detect, track, embed, publish)")
    p.add_argument("--config", required=True, help="TOML config file")
    p.add_argument("--camera", required=True, action="append",
                   help="camera id from the config's network; repeat for several cameras sharing one detector")
    p.add_argument("--source", help="file path or rtsp/tcp/udp URL (overrides the camera's configured source; one camera only)")
    p.add_argument("--epoch", type=float, help="replay a file against this shared unix epoch (seconds)")
    p.add_argument("--epoch-file", help="replay a file against the unix epoch a launcher writes to this file once "
                                        "every camera is ready (models loaded, detector warm): no camera then "
                                        "starts late and floods its queue")
    p.add_argument("--epoch-wait", type=float, default=300.0, help="longest wait for --epoch-file, seconds")
    p.add_argument("--speed", type=float, help="replay speed factor (overrides ingest.decode.replay_speed)")
    p.add_argument("--world", help="synthetic world dir (needed by the oracle detector)")
    p.add_argument("--metrics-host", help="override the config's metrics_host (e.g. 0.0.0.0 in a container)")
    p.add_argument("--metrics-port", type=int,
                   help="Prometheus port (default from config; 0 = random); the k-th --camera gets port + k")
    p.add_argument("--spool-dir", help="override ingest.spool.dir (a per-camera subfolder is used)")
    p.add_argument("--from-start", action="store_true",
                   help="a file source: discard the position saved in the spool folder and read the file from "
                        "frame 0 (by default a restart continues where the file stopped; see pipeline.resume)")
    p.add_argument("--drain-timeout", type=float, default=30.0,
                   help="at end of a file, seconds to wait for the associator to acknowledge everything")
    p.set_defaults(func=run)


def _wait_for_epoch(path: str, timeout_s: float, stop, cams: list[str]) -> float | None:
    """The shared epoch a launcher writes once every camera process is ready; None if stopped."""
    from tastr_stream.errors import ConfigError

    log.info("ready; waiting for the epoch", extra={"kv": {"cameras": cams, "epoch_file": path}})
    deadline = time.monotonic() + timeout_s
    while not stop.is_set():
        try:
            text = open(path).read().strip()
        except FileNotFoundError:
            text = ""
        if text:
            try:
                epoch = float(text)
            except ValueError:
                raise ConfigError(f"--epoch-file {path}: not a unix time: {text[:40]!r}") from None
            if not epoch > 0:
                raise ConfigError(f"--epoch-file {path}: not a unix time: {epoch!r}")
            return epoch
        if time.monotonic() > deadline:
            raise ConfigError(f"--epoch-file {path}: no epoch written within {timeout_s:g} s")
        stop.wait(0.05)
    return None


class _Camera:
    """What one camera owns in the daemon: metrics, sender, source, decode worker, pipeline."""

    def __init__(self, args, cfg, cam: str, k: int, world, background, detector, decode_cfg, curve=None) -> None:
        from prometheus_client import CollectorRegistry
        from tastr_stream.decode import DecodeWorker, FileSource, is_network_url, open_source
        from tastr_stream.pipeline.ingest import IngestPipeline
        from tastr_stream.pipeline.resume import SkipBefore, open_ledger
        from tastr_stream.serve.metrics import IngestMetrics, serve_metrics
        from tastr_stream.wire import encode
        from tastr_stream.wire.channels import ReliableSender
        from tastr_stream.wire.spool import DiskSpool

        icfg = cfg.ingest
        self.cam = cam
        self.source_url = _source_url(args, cfg, world, cam)
        self.metrics = IngestMetrics(registry := CollectorRegistry(), cam)
        index = cfg.network.camera_ids.index(cam)
        if args.metrics_port is not None:
            port = args.metrics_port + k if args.metrics_port else 0
        else:
            port = icfg.metrics_port_base + index if icfg.metrics_port_base else 0
        self.server = serve_metrics(registry, port, args.metrics_host or icfg.metrics_host)
        spool_dir = f"{args.spool_dir or icfg.spool.dir}/{cam}"
        live = is_network_url(self.source_url)
        if decode_cfg.hwaccel != "none" and not live and args.epoch is None:
            # open_source passes decode.hwaccel to network sources only (replayed files decode in software)
            self.source = FileSource(self.source_url, cam, threads=decode_cfg.threads, hwaccel=decode_cfg.hwaccel)
        else:
            self.source = open_source(self.source_url, cam, decode_cfg, epoch_wall_s=args.epoch)
        spool = DiskSpool(spool_dir, icfg.spool.max_bytes)
        # A file resumes where its saved position says it stopped (or refuses to start); live streams do not.
        self.ledger = None if live else open_ledger(spool_dir, cam, self.source_url, from_start=args.from_start)
        self.sender = ReliableSender(cfg.endpoints.tracklets, spool, curve=curve).start()
        self.pipeline = IngestPipeline(cam, icfg, detector, background,
                                       lambda t: self.sender.submit(t.tracklet_id, encode(t)), self.metrics,
                                       ledger=self.ledger, crops_per_tracklet=cfg.model.crops_per_tracklet)
        self.source.stats.on_decode = self.metrics.decode_seconds.observe
        frames = self.source
        if self.ledger is not None:
            frames = self.skip = SkipBefore(self.source, self.ledger.start.resume_frame, self.ledger.start.finished)
            if self.ledger.start.finished:
                log.info("file already read to its end; only the spool is delivered (--from-start reads it again)",
                         extra={"kv": {"camera": cam, "source": self.source_url, "spooled": len(spool)}})
        # A file read as fast as possible must not lose frames to a slow detector: back-pressure.
        self.worker = DecodeWorker(frames, decode_cfg.queue_frames, drop_oldest=live or args.epoch is not None)
        self.export = _Exporter(self.metrics, self.worker, background, self.sender, self.pipeline)
        self._frames_at_last = 0

    @property
    def size(self) -> tuple[int, int] | None:
        w, h = getattr(self.source, "width", 0), getattr(self.source, "height", 0)
        return (w, h) if w and h else None

    def export_fps(self, elapsed_s: float) -> None:
        self.export()
        self.metrics.fps.set((self.pipeline.frames - self._frames_at_last) / elapsed_s)
        self._frames_at_last = self.pipeline.frames

    def finished(self) -> dict:
        p = self.pipeline
        resume = {} if self.ledger is None else {"resumed_at_frame": self.ledger.start.resume_frame,
                                                 "frames_skipped": self.skip.skipped}
        return {"camera": self.cam, "frames": p.frames, "tracklets": p.published, "unacked": self.sender.queue_depth,
                **resume,
                "frames_detected": p.detected_frames, "detect_rate_hz": round(p.detection_rate_hz, 2),
                "detect_backoffs": p.schedule.backoffs, **self.worker.stats.as_dict()}


def _source_url(args, cfg, world, cam: str) -> str:
    from tastr_stream.decode import is_network_url
    from tastr_stream.errors import ConfigError

    source_url = args.source or (str(world.video_path(cam)) if world else "")
    if not source_url:
        source_url = cfg.network.camera(cam).source
        # A relative file path in a config file is relative to that file, not to the cwd.
        if source_url and not is_network_url(source_url) and not os.path.isabs(source_url):
            source_url = os.path.join(os.path.dirname(os.path.abspath(args.config)), source_url)
    if not source_url:
        raise ConfigError(f"{args.config}: camera {cam!r} has no source; pass --source or --world")
    return source_url


def run(args: argparse.Namespace) -> int:
    if args.epoch_file and args.epoch is None:
        # A placeholder until the launcher writes the shared epoch (set before any frame is read).
        args.epoch = time.time() + 86_400.0
    # Imports here, so `tastr-stream --help` and other commands start fast.
    from tastr_stream.config import load_config
    from tastr_stream.errors import ConfigError

    cfg = load_config(args.config)
    cams = list(args.camera)
    for cam in cams:
        if cam not in cfg.network.camera_ids:
            raise ConfigError(f"{args.config}: camera {cam!r} is not in network.cameras {cfg.network.camera_ids}")
    if len(set(cams)) != len(cams):
        raise ConfigError(f"--camera: each camera once, got {cams}")
    if args.source and len(cams) > 1:
        raise ConfigError(f"--source {args.source!r} names one camera's source; with {len(cams)} cameras "
                          f"each reads its configured source (or --world)")
    icfg = cfg.ingest
    decode_cfg = icfg.decode if args.speed is None else icfg.decode.model_copy(update={"replay_speed": args.speed})
    world = None
    if args.world:
        from tastr_stream.datasets.synthetic import SyntheticWorld

        world = SyntheticWorld.open(args.world)
    # torch and onnxruntime (seconds of start-up) only once the settings above are known good.
    from tastr_stream.detect import make_detector
    from tastr_stream.detect.batch import OneCamera
    from tastr_stream.detect.factory import make_batch_detector
    from tastr_stream.models.checkpoint import initial_model
    from tastr_stream.models.lifecycle import ModelLifecycle, Rejections
    from tastr_stream.pipeline.multi_ingest import Lane, MultiIngest
    from tastr_stream.tracklet.extractor import BackgroundExtractor, Extractor
    from tastr_stream.tracklet.hotswap import WeightSwapper
    from tastr_stream.wire.announce import AnnouncementSubscriber
    from tastr_stream.wire.checkpoints import CheckpointResolver
    from tastr_stream.wire.curve import curve_client

    if len(cams) == 1:
        # One process per camera shares the box's cores with the others: one detector thread each.
        shared = None
        detectors = {cams[0]: make_detector(icfg.detect, world=world, camera_id=cams[0], intra_op_threads=1)}
    else:
        shared = make_batch_detector(icfg.detect, cams, world=world)
        detectors = {cam: OneCamera(shared, cam) for cam in cams}
    model, version = initial_model(cfg.model.backbone, cfg.model.emb_dim, cfg.model.weights_path)
    extractor = Extractor(lambda: model, device=icfg.embed.device, batch_size=icfg.embed.batch_size,
                          precision=icfg.embed.precision, version=version)
    cameras: list[_Camera] = []

    def on_swap(old: int, new: int) -> None:
        for c in cameras:
            c.metrics.model_version.set(new)
            c.metrics.model_swaps.inc()
        log.info("model swapped", extra={"kv": {"cameras": cams, "from": old, "to": new}})

    background = BackgroundExtractor(extractor, on_swap=on_swap).start()
    # Announced paths are the trainer's; this box may not see them, so missing files are fetched.
    # security.curve on: every socket to the central box speaks CURVE with this box's client keys.
    curve = curve_client(cfg.security.curve)
    resolver = CheckpointResolver(cfg.endpoints.checkpoints, icfg.embed.checkpoint_cache_dir,
                                  timeout_s=icfg.embed.checkpoint_fetch_timeout_s, curve=curve)
    def on_reject(reason: str) -> None:
        for c in cameras:
            c.metrics.model_rejects(reason)

    lifecycle = ModelLifecycle(cfg.model.backbone, cfg.model.emb_dim, resolve=resolver.resolve,
                               rejections=Rejections("ingest", on_reject))
    swapper = WeightSwapper(background, lifecycle=lifecycle).start()
    subscriber = AnnouncementSubscriber(cfg.endpoints.weights, curve=curve)
    stop = stop_on_signals()
    try:
        for k, cam in enumerate(cams):
            cameras.append(_Camera(args, cfg, cam, k, world, background, detectors[cam], decode_cfg, curve))
            cameras[-1].metrics.model_version.set(version)
        multi = None
        if shared is None:
            c = cameras[0]
            if c.size:
                c.pipeline.warm_up(*c.size)
        else:
            multi = MultiIngest([Lane(c.pipeline, c.worker) for c in cameras], shared, stop=stop)
            multi.warm_up({c.cam: c.size for c in cameras if c.size})
        if args.epoch_file:
            epoch = _wait_for_epoch(args.epoch_file, args.epoch_wait, stop, cams)
            if epoch is None:
                return 130
            for c in cameras:
                c.source.epoch_wall_s = epoch
        for c in cameras:
            c.worker.start()
            log.info("ingest started", extra={"kv": {"camera": c.cam, "source": c.source_url,
                                                     "metrics_port": c.server.port, "model_version": version,
                                                     "tracklets": cfg.endpoints.tracklets, "cameras": len(cams)}})
        last_stats = time.monotonic()
        while not stop.is_set():
            if multi is None:
                c = cameras[0]
                frame = c.worker.get(timeout_s=0.2)
                if frame is None:
                    if c.worker.done:
                        break
                else:
                    # A live source (camera or replay clock) tells the detection schedule how full the
                    # decode queue is, so detection backs off before the queue drops frames.
                    c.pipeline.process(frame, c.worker.qsize() / c.worker.capacity if c.worker.drop_oldest else None)
            else:
                if multi.done:
                    break
                multi.step()
            for ann in subscriber.poll(0):
                if ann.version > background.newest_version:
                    swapper.announce(ann)
            now = time.monotonic()
            if now - last_stats >= 1.0:
                for c in cameras:
                    c.export_fps(now - last_stats)
                last_stats = now
        for c in cameras:
            c.pipeline.finish()
            if c.ledger is not None:
                c.ledger.close(end_of_file=c.worker.done and not stop.is_set())
        for c in cameras:
            c.sender.stop(drain_timeout_s=0 if stop.is_set() else args.drain_timeout, abort=stop)
            c.export()
            log.info("ingest finished", extra={"kv": c.finished()})
        if multi is not None:
            log.info("shared detector", extra={"kv": {"cameras": cams, **multi.stats()}})
    finally:
        for c in cameras:
            c.worker.stop()
            c.sender.stop()   # at once; a no-op after the drain above
        swapper.stop()
        background.stop(drain=False)
        subscriber.close()
        for c in cameras:
            c.server.close()
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
