"""The ingest daemon exports the counters its threads keep.

Guards against (issue 13): ``embed_failures`` counted by the pipeline and never exported, so a
dashboard could not see tracklets lost to a failing model or undecodable crops.
"""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import CollectorRegistry

from services.ingest import _Exporter
from tastr_stream.serve.metrics import IngestMetrics


def test_embed_failures_are_exported_by_difference():
    registry = CollectorRegistry()
    stats = SimpleNamespace(frames_decoded=0, frames_dropped=0, corrupt_packets=0, reconnects=0)
    worker = SimpleNamespace(stats=stats, qsize=lambda: 0)
    sender = SimpleNamespace(stats=SimpleNamespace(acked=0), spool=SimpleNamespace(dropped=0), queue_depth=0)
    background = SimpleNamespace(stats=lambda: {"queued_jobs": 0})
    pipeline = SimpleNamespace(embed_failures=0)
    export = _Exporter(IngestMetrics(registry, "cam1"), worker, background, sender, pipeline)
    pipeline.embed_failures = 3
    export()
    pipeline.embed_failures = 5
    export()
    assert registry.get_sample_value("tastr_ingest_embed_failures_total", {"camera": "cam1"}) == 5
