"""``tastr-stream trainer``: runs a training round when the associator asks, announces new weights.

PULLs train requests (``endpoints.train_requests``), reads tracklets, crops and accepted links
from the store READ-ONLY (the associator is its single writer), trains one round on a worker
thread (``train.live``), writes ``reid-v<N>.ckpt`` atomically and PUBlishes
``{version, path, sha256}`` on ``endpoints.weights``, repeating the newest announcement every
couple of seconds so extractors and an associator that (re)connect late still get it. Boxes that
cannot see the announced path fetch the file by version from the checkpoint server it binds on
``endpoints.checkpoints`` (served in chunks from this main loop, only from the checkpoint folder).

Requests that arrive while a round runs coalesce into one next round: a request says "there is
new evidence", and one round reads all of it. The main thread owns every socket; the worker
thread only trains and writes files.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from typing import TYPE_CHECKING

from .lifecycle import stop_on_signals

if TYPE_CHECKING:
    from tastr_stream.config import AppConfig
    from tastr_stream.serve.metrics import TrainerMetrics
    from tastr_stream.store import Store
    from tastr_stream.train.live import LiveRoundResult, ServingModel

log = logging.getLogger("tastr_stream.trainer")
REPEAT_ANNOUNCEMENT_S = 2.0


def register(sub) -> None:
    p = sub.add_parser("trainer", help="run training rounds on request and announce new weights")
    p.add_argument("--config", required=True, help="TOML config file")
    p.add_argument("--store-dir", help="override associator.store_dir (the store is opened read-only)")
    p.add_argument("--checkpoint-dir", help="override trainer.checkpoint_dir")
    p.add_argument("--metrics-host", help="override the config's metrics_host (e.g. 0.0.0.0 in a container)")
    p.add_argument("--metrics-port", type=int, help="override trainer.metrics_port (0 = random)")
    p.add_argument("--ready-file", help="write the bound endpoints as JSON once serving (for supervisors/tests)")
    p.set_defaults(func=run)


class LiveTrainer:
    """The trainer's state between rounds: the serving model and the read-only store."""

    def __init__(self, cfg: AppConfig, store_dir: str, checkpoint_dir: str, metrics: TrainerMetrics):
        from tastr_stream.models import resolve_device
        from tastr_stream.models.checkpoint import sweep_partial_checkpoints
        from tastr_stream.train.live import serving_model

        self.cfg, self.store_dir, self.checkpoint_dir, self.metrics = cfg, store_dir, checkpoint_dir, metrics
        sweep_partial_checkpoints(checkpoint_dir)    # left by a trainer killed mid-write; never served
        self.device = resolve_device(cfg.trainer.device)
        model = cfg.model
        self.serving: ServingModel = serving_model(
            checkpoint_dir, model.backbone, model.emb_dim, model.weights_path,
            on_rejected=lambda path, exc: metrics.checkpoints_rejected.inc())
        self.store: Store | None = None

    def open_store(self) -> Store | None:
        from tastr_stream.errors import StoreError
        from tastr_stream.store import Store

        if self.store is None:
            try:
                self.store = Store.open(self.store_dir, read_only=True)
            except StoreError as exc:
                log.warning("store not readable yet; round skipped", extra={"kv": {"store": self.store_dir,
                                                                                   "error": exc}})
        return self.store

    def round(self, stop: threading.Event, requests: int) -> LiveRoundResult | None:
        """One round on the store as it is now; None when there was nothing to train on."""
        from tastr_stream.errors import SamplerError
        from tastr_stream.train.live import (cross_camera_pairs, next_version, run_live_round,
                                             tracklets_from_store)

        store = self.open_store()
        if store is None:
            return None
        tcfg, acfg = self.cfg.trainer, self.cfg.associator
        t0 = time.perf_counter()
        tracklets = tracklets_from_store(store, tcfg.max_images_per_tracklet, window_s=acfg.window.window_s,
                                         seed=tcfg.seed)
        pairs = cross_camera_pairs(store, tracklets) if self.serving.version > 0 else []
        version = next_version(self.serving.version, store, self.checkpoint_dir)
        try:
            result = run_live_round(self.serving, version, tracklets, pairs, tcfg, acfg.association, self.device,
                                    self.checkpoint_dir, stop=stop, extra_meta={"requests": requests})
        except SamplerError as exc:
            log.info("round skipped: not enough data yet", extra={"kv": {"tracklets": len(tracklets),
                                                                          "pairs": len(pairs), "reason": exc}})
            return None
        from tastr_stream.background import thread_niceness
        from tastr_stream.train.live import ServingModel

        self.serving = ServingModel(result.model, version, result.announcement)
        log.info("round done", extra={"kv": {"version": version, "kind": result.kind, "tracklets": len(tracklets),
                                             "pairs": len(pairs), "steps": result.stats.steps,
                                             "loss_last": round(result.stats.loss_last, 4),
                                             "seconds": round(time.perf_counter() - t0, 2),
                                             "niceness": thread_niceness(),
                                             "path": result.announcement.path}})
        return result

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def run(args: argparse.Namespace) -> int:
    # Heavy imports (torch, zmq) here, so `tastr-stream --help` and other commands start fast.
    from prometheus_client import CollectorRegistry
    from tastr_stream.background import lower_priority
    from tastr_stream.config import load_config
    from tastr_stream.serve.metrics import TrainerMetrics, serve_metrics
    from tastr_stream.wire.announce import AnnouncementPublisher
    from tastr_stream.wire.checkpoints import CheckpointServer
    from tastr_stream.wire.curve import curve_server
    from tastr_stream.wire.requests import TrainRequestReceiver

    cfg = load_config(args.config)
    curve = curve_server(cfg.security.curve)        # announcements, checkpoints, train requests
    registry = CollectorRegistry()
    metrics = TrainerMetrics(registry)
    server = serve_metrics(registry, cfg.trainer.metrics_port if args.metrics_port is None else args.metrics_port,
                           args.metrics_host or cfg.trainer.metrics_host)
    trainer = LiveTrainer(cfg, args.store_dir or cfg.associator.store_dir,
                          args.checkpoint_dir or cfg.trainer.checkpoint_dir, metrics)
    metrics.model_version.set(trainer.serving.version)
    requests = TrainRequestReceiver(cfg.endpoints.train_requests, curve=curve)
    publisher = AnnouncementPublisher(cfg.endpoints.weights, curve=curve)
    checkpoints = CheckpointServer(cfg.endpoints.checkpoints, trainer.checkpoint_dir, curve=curve)
    if trainer.serving.announcement is not None:
        publisher.publish(trainer.serving.announcement)    # a restarted trainer re-announces its newest
    stop = stop_on_signals()
    if args.ready_file:
        _write_ready(args.ready_file, {"metrics_port": server.port, "train_requests": requests.endpoint,
                                       "weights": publisher.endpoint, "checkpoints": checkpoints.endpoint,
                                       "model_version": trainer.serving.version})
    log.info("trainer started", extra={"kv": {"train_requests": requests.endpoint, "weights": publisher.endpoint,
                                              "checkpoints": checkpoints.endpoint,
                                              "metrics_port": server.port, "model_version": trainer.serving.version,
                                              "device": trainer.device, "curve": curve is not None}})
    # Rounds yield the CPU to ingest on a shared box (tastr_stream/background.py).
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="train-round", initializer=lower_priority,
                              initargs=(cfg.trainer.niceness,))
    running: Future | None = None
    pending = 0                      # requests not yet served by a round (coalesced)
    last_repeat = time.monotonic()
    try:
        while not stop.is_set():
            # While a box is downloading, turn the loop quickly so chunks flow; else wait on requests.
            served = checkpoints.serve(timeout_ms=0)
            for req in requests.poll(timeout_ms=2 if served else 100):
                pending += 1
                log.info("train request", extra={"kv": {"round": req.round, "reason": req.reason,
                                                        "model_version": req.model_version,
                                                        "queued_with": pending - 1, "busy": running is not None}})
            if running is not None and running.done():
                _finish(running, publisher, metrics)
                running = None
                last_repeat = time.monotonic()
            if running is None and pending:
                running = pool.submit(trainer.round, stop, pending)
                pending = 0
            metrics.round_in_progress.set(0 if running is None else 1)
            now = time.monotonic()
            if now - last_repeat >= REPEAT_ANNOUNCEMENT_S:
                publisher.publish()
                last_repeat = now
    finally:
        pool.shutdown(wait=True)     # a running round sees ``stop`` between batches and ends
        requests.close()
        publisher.close()
        checkpoints.close()
        trainer.close()
        server.close()
        if curve is not None:
            curve.close()
    log.info("trainer stopped")
    return 0


def _finish(done: Future, publisher, metrics: TrainerMetrics) -> None:
    from tastr_stream.errors import TastrError

    try:
        result = done.result()
    except TastrError as exc:
        log.error("round failed; the serving model is unchanged", extra={"kv": {"error": exc}})
        return
    if result is None:
        return
    publisher.publish(result.announcement)
    metrics.rounds.inc()
    metrics.model_version.set(result.announcement.version)
    metrics.loss.set(result.stats.loss_last)
    metrics.images_per_second.set(result.stats.images_per_s)
    log.info("weights announced", extra={"kv": {"version": result.announcement.version,
                                                "path": result.announcement.path,
                                                "sha256": result.announcement.sha256}})


def _write_ready(path: str, info: dict) -> None:
    import json
    import os

    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)
