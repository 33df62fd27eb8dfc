"""Prometheus metrics for each daemon, in a registry owned by that daemon (never the global one).

Every metric is created here, in one place, so the Grafana dashboard and the test that checks it
can list exactly what each daemon exports. Names follow Prometheus conventions: ``_total`` for
counters, ``_seconds`` / ``_bytes`` units, a ``camera`` label on per-camera series.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from ..errors import ConfigError

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class MetricsServer:
    registry: CollectorRegistry
    port: int
    _server: object = None

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Expose ``registry`` on http://host:port/metrics; port 0 picks a free one (returned).
    A port that cannot be bound is a ConfigError naming it (not a traceback)."""
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"metrics port {port} on {host}: {exc.strerror or exc} (set a free metrics_port, "
                          f"or 0 for any)") from exc
    return MetricsServer(registry, server.server_address[1], server)


def _model_rejects(registry: CollectorRegistry, daemon: str, camera: str):
    """Announced checkpoints refused, by reason (models.checkpoint.REJECT_REASONS): call with a reason."""
    counter = Counter("tastr_model_rejected_total", "Announced checkpoints refused (each version and file once), "
                      "by reason: missing, sha256, corrupt, version, architecture, emb_dim, load, reembed",
                      ["daemon", "camera", "reason"], registry=registry)
    return lambda reason: counter.labels(daemon=daemon, camera=camera, reason=reason).inc()


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry, camera_id: str):
        r, lab = registry, {"camera": camera_id}
        self.frames_decoded = Counter("tastr_ingest_frames_decoded_total", "Frames decoded", ["camera"], registry=r).labels(**lab)
        self.frames_dropped = Counter("tastr_ingest_frames_dropped_total", "Frames dropped by the bounded decode queue", ["camera"], registry=r).labels(**lab)
        self.corrupt_packets = Counter("tastr_ingest_corrupt_packets_total", "Corrupt packets skipped", ["camera"], registry=r).labels(**lab)
        self.reconnects = Counter("tastr_ingest_reconnects_total", "Stream reconnect attempts", ["camera"], registry=r).labels(**lab)
        self.detections = Counter("tastr_ingest_detections_total", "Person detections", ["camera"], registry=r).labels(**lab)
        self.tracklets_published = Counter("tastr_ingest_tracklets_published_total", "Tracklets handed to the sender", ["camera"], registry=r).labels(**lab)
        self.tracklets_acked = Counter("tastr_ingest_tracklets_acked_total", "Tracklets acknowledged by the associator", ["camera"], registry=r).labels(**lab)
        self.spool_dropped = Counter("tastr_ingest_spool_dropped_total", "Tracklets dropped because the spool was full", ["camera"], registry=r).labels(**lab)
        self.embed_failures = Counter("tastr_ingest_embed_failures_total", "Tracklets dropped because embedding or publishing failed (no decodable crop, model error)", ["camera"], registry=r).labels(**lab)
        stage = Histogram("tastr_ingest_stage_seconds", "Per-frame (per-batch for embed) stage latency",
                          ["camera", "stage"], buckets=_LATENCY_BUCKETS, registry=r)
        self.decode_seconds = stage.labels(stage="decode", **lab)
        self.detect_seconds = stage.labels(stage="detect", **lab)
        self.track_seconds = stage.labels(stage="track", **lab)
        self.embed_seconds = stage.labels(stage="embed", **lab)
        self.fps = Gauge("tastr_ingest_fps", "Frames processed per second (recent)", ["camera"], registry=r).labels(**lab)
        queue = Gauge("tastr_ingest_queue_depth", "Queue depths", ["camera", "queue"], registry=r)
        self.decode_queue = queue.labels(queue="decode", **lab)
        self.embed_queue = queue.labels(queue="embed", **lab)
        self.spool_queue = queue.labels(queue="spool", **lab)
        self.model_version = Gauge("tastr_model_version", "Model version in use", ["daemon", "camera"], registry=r).labels(daemon="ingest", **lab)
        self.model_swaps = Counter("tastr_model_swaps_total", "Model hot-swaps completed", ["daemon", "camera"], registry=r).labels(daemon="ingest", **lab)
        self.model_rejects = _model_rejects(r, "ingest", camera_id)
        self.open_tracks = Gauge("tastr_ingest_open_tracklets", "Tracklets being built", ["camera"], registry=r).labels(**lab)
        # Detection on a schedule: the rate aimed at now (lower than configured while backing off
        # under load), frames the detector ran on, and how often the schedule backed off.
        self.detect_rate = Gauge("tastr_ingest_detect_rate_hz", "Detection rate aimed at now, per second of stream time", ["camera"], registry=r).labels(**lab)
        self.frames_detected = Counter("tastr_ingest_frames_detected_total", "Frames the detector ran on", ["camera"], registry=r).labels(**lab)
        self.detect_backoffs = Counter("tastr_ingest_detect_backoffs_total", "Times the detection rate backed off because frames queued up", ["camera"], registry=r).labels(**lab)


class AssociatorMetrics:
    def __init__(self, registry: CollectorRegistry):
        r = registry
        self.tracklets_received = Counter("tastr_assoc_tracklets_received_total", "Tracklets received", ["camera"], registry=r)
        self.messages_rejected = Counter("tastr_assoc_messages_rejected_total", "Messages refused and acknowledged as rejected (malformed, unknown type, or a tracklet failing validation), by reason", ["reason"], registry=r)
        self.window_tracklets = Gauge("tastr_assoc_window_tracklets", "Tracklets in the rolling window", ["camera"], registry=r)
        self.candidate_pairs = Gauge("tastr_assoc_candidate_pairs", "1-reciprocal NN candidates", ["pair"], registry=r)
        self.accepted_pairs = Gauge("tastr_assoc_accepted_pairs", "Pairs accepted after k-means", ["pair"], registry=r)
        self.accepted_mean_distance = Gauge("tastr_assoc_accepted_mean_distance", "Mean feature distance of accepted pairs (precision proxy)", ["pair"], registry=r)
        self.latency = Histogram("tastr_assoc_decision_seconds", "Association latency per arriving tracklet", buckets=_LATENCY_BUCKETS, registry=r)
        self.identities = Gauge("tastr_assoc_identities", "Global identities", registry=r)
        self.links = Gauge("tastr_assoc_links", "Links by status", ["status"], registry=r)
        self.store_bytes = Gauge("tastr_store_bytes", "Store size on disk", registry=r)
        self.store_tracklets = Gauge("tastr_store_tracklets", "Tracklets in the store", registry=r)
        self.lookup_latency = Histogram("tastr_lookup_seconds", "Lookup latency", ["kind"], buckets=_LATENCY_BUCKETS, registry=r)
        self.model_version = Gauge("tastr_model_version", "Model version in use", ["daemon", "camera"], registry=r).labels(daemon="associator", camera="")
        self.model_swaps = Counter("tastr_model_swaps_total", "Model hot-swaps completed", ["daemon", "camera"], registry=r).labels(daemon="associator", camera="")
        self.model_rejects = _model_rejects(r, "associator", "")
        self.train_requests = Counter("tastr_assoc_train_requests_total", "Training rounds requested", registry=r)
        self.identity_links = Counter("tastr_assoc_identity_links_total", "Links shown to users, by event (shown, retracted, final)", ["event"], registry=r)
        self.links_waiting = Gauge("tastr_assoc_links_waiting", "Decided links waiting until every rival could have arrived", registry=r)
        self.transfer_mean = Gauge("tastr_assoc_transfer_mean_seconds", "Transfer time each camera pair uses now", ["pair", "source"], registry=r)
        self.quarantined = Counter("tastr_assoc_quarantined_total", "Stored tracklets set aside because the window cannot use them (where: restore, swap)", ["where"], registry=r)
        self.forgotten = Counter("tastr_assoc_forgotten_total", "Rows and files removed by forget requests, by kind", ["kind"], registry=r)
        self.lookups_unauthorized = Counter("tastr_assoc_lookups_unauthorized_total", "Lookups refused for a missing or wrong token, by front end (http, zmq)", ["front"], registry=r)


class TrainerMetrics:
    def __init__(self, registry: CollectorRegistry):
        r = registry
        self.rounds = Counter("tastr_trainer_rounds_total", "Training rounds completed", registry=r)
        self.images_per_second = Gauge("tastr_trainer_images_per_second", "Training throughput", registry=r)
        self.loss = Gauge("tastr_trainer_loss", "Last batch-hard triplet loss", registry=r)
        self.model_version = Gauge("tastr_model_version", "Model version in use", ["daemon", "camera"], registry=r).labels(daemon="trainer", camera="")
        self.checkpoints_rejected = Counter("tastr_trainer_checkpoints_rejected_total", "Checkpoints that failed verification", registry=r)
        self.round_in_progress = Gauge("tastr_trainer_round_in_progress", "1 while a training round runs", registry=r)
