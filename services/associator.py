"""``tastr-stream associator``: the central daemon.

Receives tracklets (ROUTER), stores and associates each (``AssociatorCore``), acknowledges after
the store committed, serves lookups over ZeroMQ and HTTP, follows model announcements by
re-embedding its window, and exposes Prometheus metrics.

Threads: the loop owns the core. HTTP lookups run on the HTTP server's threads; store reads are
safe there, but ranking candidates and the transfer times read the window, so those take
``window_lock``, which the loop holds while it changes the window (intake, finalize, a switch).
"""

from __future__ import annotations

import argparse
import logging
import threading
import time

from typing import TYPE_CHECKING

from .lifecycle import stop_on_signals

if TYPE_CHECKING:
    from tastr_stream.pipeline.associator import AssociatorCore
    from tastr_stream.serve.metrics import AssociatorMetrics
    from tastr_stream.store import Store
    from tastr_stream.wire.channels import TrackletReceiver
    from tastr_stream.wire.requests import TrainRequestSender

log = logging.getLogger("tastr_stream.associator")
RETENTION_PERIOD_S = 60.0      # wall seconds between retention passes (age and size, summaries too)


def register(sub) -> None:
    p = sub.add_parser("associator", help="run the central associator (store, association, lookup API)")
    p.add_argument("--config", required=True, help="TOML config file")
    p.add_argument("--store-dir", help="override associator.store_dir")
    p.add_argument("--metrics-host", help="override the config's metrics_host (e.g. 0.0.0.0 in a container)")
    p.add_argument("--metrics-port", type=int, help="override associator.metrics_port (0 = random)")
    p.add_argument("--http-port", type=int, help="override endpoints.http_port (0 = random)")
    p.add_argument("--ready-file", help="write the bound ports here as JSON once serving (for supervisors/tests)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imports here, so `tastr-stream --help` and other commands start fast.
    from prometheus_client import CollectorRegistry
    from tastr_stream.config import load_config, load_token
    from tastr_stream.serve.http_api import HttpApi
    from tastr_stream.serve.lookup import LookupService
    from tastr_stream.serve.metrics import AssociatorMetrics, serve_metrics
    from tastr_stream.serve.web import load_pages, network_view, transfer_now
    from tastr_stream.store import Store
    from tastr_stream.wire.announce import AnnouncementSubscriber
    from tastr_stream.wire.channels import TrackletReceiver
    from tastr_stream.wire.curve import curve_client, curve_server
    from tastr_stream.wire.requests import TrainRequestSender
    from tastr_stream.wire.rpc import RpcServer, Unauthorized

    cfg = load_config(args.config)
    acfg = cfg.associator
    token = load_token(cfg.security)             # before anything opens: a bad token file is one line
    curve_in = curve_server(cfg.security.curve)  # tracklet intake (edge boxes connect)
    curve_out = curve_client(cfg.security.curve)  # weights and train requests (the trainer binds)
    store = Store.open(args.store_dir or acfg.store_dir, acfg.retention)
    registry = CollectorRegistry()
    metrics = AssociatorMetrics(registry)
    server = serve_metrics(registry, acfg.metrics_port if args.metrics_port is None else args.metrics_port,
                           args.metrics_host or acfg.metrics_host)
    # torch (seconds of start-up) only now, so a bad setting above is refused at once. Still before
    # the ready file: imported later, it stalled the loop at the first model swap (RESULTS.md).
    from tastr_stream.pipeline.associator import AssociatorCore
    from tastr_stream.pipeline.model_switch import ModelSwitch
    from tastr_stream.pipeline.reembed import CropEmbedder

    embed = cfg.ingest.embed
    embedder = CropEmbedder(cfg.model.backbone, cfg.model.emb_dim, cfg.model.weights_path, device=embed.device)
    # Before any training round the window holds the extractors' starting model: version 0, or
    # the version of the checkpoint the config points every extractor at.
    initial_version = embedder.version if cfg.model.weights_path else 0
    core = AssociatorCore(cfg, store, embed_crops=embedder, metrics=metrics, initial_version=initial_version)
    restored = core.restore()
    metrics.model_version.set(core.model_version)
    window_lock = threading.Lock()

    def candidates(tracklet_id: str, k: int) -> dict:
        with window_lock:
            return core.candidates(tracklet_id, k)

    def transfer_view() -> dict:
        with window_lock:
            return transfer_now(core.transfer.pairs())

    def forget(identity_id: int) -> dict:
        # From the loop (ZeroMQ lookups) or an HTTP thread: the window changes, so under its lock.
        with window_lock:
            return core.forget(identity_id)

    lookup = LookupService(store, embed_image=lambda data: embedder.embed_image(data),
                           current_version=lambda: core.model_version,
                           observe=lambda kind, s: metrics.lookup_latency.labels(kind=kind).observe(s),
                           candidates=candidates, forget=forget, blur_heads=cfg.ingest.tracklet.blur_heads)
    receiver = TrackletReceiver(cfg.endpoints.tracklets, curve=curve_in)
    rpc = RpcServer(cfg.endpoints.lookup, token=token)
    http = HttpApi(lookup, lambda tid: _thumbnail(store, tid), cfg.endpoints.http_host,
                   cfg.endpoints.http_port if args.http_port is None else args.http_port,
                   pages=load_pages(), network=network_view(cfg.network, acfg.association.str_prior),
                   transfer_view=transfer_view, token=token,
                   on_unauthorized=lambda: metrics.lookups_unauthorized.labels(front="http").inc()).start()
    subscriber = AnnouncementSubscriber(cfg.endpoints.weights, curve=curve_out)
    train_requests = TrainRequestSender(cfg.endpoints.train_requests, curve=curve_out)
    lifecycle = _model_lifecycle(cfg, metrics)
    switch = ModelSwitch(core, lambda ann: _load_announced(ann, lifecycle, cfg), lifecycle.rejections,
                         niceness=cfg.associator.background_niceness)
    stop = stop_on_signals()
    if args.ready_file:
        import json
        import os

        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"metrics_port": server.port, "http_port": http.port, "tracklets": receiver.endpoint,
                       "lookup": rpc.endpoint, "restored": restored}, f)
        os.replace(tmp, args.ready_file)
    log.info("associator started", extra={"kv": {"tracklets": receiver.endpoint, "lookup": rpc.endpoint,
                                                 "http": f"http://{cfg.endpoints.http_host}:{http.port}",
                                                 "metrics_port": server.port, "restored": restored,
                                                 "lookup_token": token is not None, "curve": curve_in is not None}})
    last_tick = 0.0
    last_retention = time.monotonic()
    try:
        while not stop.is_set():
            for item in receiver.receive(timeout_ms=50):
                with window_lock:
                    _intake(core, receiver, item, metrics)
            for req in rpc.receive(0):
                if isinstance(req.error, Unauthorized):
                    metrics.lookups_unauthorized.labels(front="zmq").inc()
                rpc.reply(req, lookup.handle(req.body) if req.error is None
                          else {"ok": False, "error": str(req.error)})
            for ann in subscriber.poll(0):
                if switch.offer(ann):
                    log.info("new model announced; re-embedding the window in the background",
                             extra={"kv": {"version": ann.version, "tracklets": len(core.window_ids())}})
            with window_lock:
                done = switch.poll()
            if done is not None:
                log.info("window re-embedded with new model",
                         extra={"kv": {"version": done.version, "tracklets": done.tracklets,
                                       "seconds": round(done.seconds, 2), "niceness": switch.worker_niceness}})
            now = time.monotonic()
            if now - last_tick >= 1.0:
                last_tick = now
                with window_lock:
                    core.finalize()
                st = store.stats()
                metrics.store_bytes.set(st.total_bytes)
                metrics.store_tracklets.set(st.tracklets)
                for status, n in st.links.items():
                    metrics.links.labels(status=status).set(n)
                _request_round(core, train_requests, metrics, now)
            if now - last_retention >= RETENTION_PERIOD_S:
                last_retention = now
                _enforce_retention(core, store)
    finally:
        switch.close()
        train_requests.close()
        http.close()
        rpc.close()
        receiver.close()
        subscriber.close()
        server.close()
        store.close()
        if curve_in is not None:
            curve_in.close()
    log.info("associator stopped")
    return 0


def _intake(core: AssociatorCore, receiver: TrackletReceiver, item, metrics: AssociatorMetrics) -> None:
    from tastr_stream.pipeline.associator import RejectedTracklet

    if item.error is not None:
        metrics.messages_rejected.labels(reason="malformed").inc()
        log.warning("malformed message dropped", extra={"kv": {"msg_id": item.msg_id[:64], "error": item.error}})
        receiver.ack(item, ok=False, reason=str(item.error))
        return
    if item.msg_type != "tracklet":
        metrics.messages_rejected.labels(reason="unexpected_type").inc()
        receiver.ack(item, ok=False, reason=f"unexpected message type {item.msg_type}")
        return
    from tastr_stream.errors import TastrError

    try:
        core.receive(item.record)
    except RejectedTracklet as e:
        metrics.messages_rejected.labels(reason=e.reason).inc()
        log.warning("tracklet rejected", extra={"kv": {"reason": e.reason, "error": e}})
        receiver.ack(item, ok=False, reason=f"{e.reason}: {e}")
        return
    except (TastrError, ValueError) as e:
        # Not the tracklet's fault as far as we know (a store write failed, association raised):
        # no acknowledgement, so the sender keeps it and resends later; the daemon goes on.
        metrics.messages_rejected.labels(reason="internal_error").inc()
        log.error("tracklet not taken; the sender will resend it",
                  extra={"kv": {"msg_id": item.msg_id[:64], "error": f"{type(e).__name__}: {e}"}})
        return
    receiver.ack(item, ok=True)


def _enforce_retention(core: AssociatorCore, store: Store) -> None:
    """One retention pass in event time; the live window is protected from size eviction."""
    from tastr_stream.errors import TastrError

    if not core.newest_event_s > -float("inf"):
        return
    try:
        store.enforce_retention(core.event_now_s(),
                                keep_from_s=core.newest_event_s - core.config.associator.window.window_s)
    except TastrError as e:
        log.error("retention pass failed; retried at the next period", extra={"kv": {"error": e}})


def _request_round(core: AssociatorCore, sender: TrainRequestSender, metrics: AssociatorMetrics,
                   now_s: float) -> None:
    """Ask the trainer for a round when the policy says so (new accepted pairs, or a period)."""
    from tastr_stream.wire.requests import TrainRequest

    reason = core.train_request_due(now_s)
    if reason is None:
        return
    n = sender.sent + sender.dropped
    if sender.send(TrainRequest(round=n, reason=reason, model_version=max(core.model_version, -1))):
        metrics.train_requests.inc()
        log.info("train round requested", extra={"kv": {"round": n, "reason": reason,
                                                        "model_version": core.model_version}})
    else:
        log.warning("train request not queued: the trainer is not running or not keeping up",
                    extra={"kv": {"reason": reason, "dropped": sender.dropped}})
    # Reset either way: a request is "there is new evidence", and the next one says it again.
    core.policy.requested(now_s)


def _model_lifecycle(cfg, metrics: AssociatorMetrics):
    """The checkpoint lifecycle ingest uses too: announced files this box lacks are fetched from the
    trainer; refusals are logged once and counted by reason."""
    from tastr_stream.models.lifecycle import ModelLifecycle, Rejections
    from tastr_stream.wire.checkpoints import CheckpointResolver
    from tastr_stream.wire.curve import curve_client

    embed = cfg.ingest.embed
    resolver = CheckpointResolver(cfg.endpoints.checkpoints, embed.checkpoint_cache_dir,
                                  timeout_s=embed.checkpoint_fetch_timeout_s, curve=curve_client(cfg.security.curve))
    return ModelLifecycle(cfg.model.backbone, cfg.model.emb_dim, resolve=resolver.resolve,
                          rejections=Rejections("associator", metrics.model_rejects))


def _load_announced(ann, lifecycle, cfg):
    """On the switch's worker thread: the announced checkpoint, verified by the shared lifecycle, as a
    crop embedder; CheckpointRejected refuses it."""
    from tastr_stream.pipeline.reembed import CropEmbedder

    return CropEmbedder.from_model(lifecycle.load(ann).model, ann.version, device=cfg.ingest.embed.device)


def _thumbnail(store: Store, tracklet_id: str) -> bytes | None:
    from tastr_stream.errors import TastrError

    try:
        crops = store.crops(tracklet_id)
    except TastrError:
        return None
    return crops[0] if crops else None
