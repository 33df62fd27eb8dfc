"""``tastr-stream status`` against a real associator process and endpoints nobody listens on.

Guards against: a status screen that reports a dead daemon as up (or crashes on it), counters
misread from the Prometheus text format, and a health check that exits 0 while a daemon is down.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tastr_stream.commands.status import Target, infer_kind, parse_metrics, parse_target, render_table, scrape, summarise
from tastr_stream.errors import TastrError

from ..services.daemons import REPO, free_port
from .conftest import get_json

INGEST_TEXT = """\
# HELP tastr_ingest_fps Frames processed per second (recent)
# TYPE tastr_ingest_fps gauge
tastr_ingest_fps{camera="cam2"} 12.5
# TYPE tastr_ingest_frames_dropped_total counter
tastr_ingest_frames_dropped_total{camera="cam2"} 7.0
tastr_ingest_frames_dropped_created{camera="cam2"} 1.7e9
# TYPE tastr_ingest_spool_dropped_total counter
tastr_ingest_spool_dropped_total{camera="cam2"} 0.0
# TYPE tastr_model_version gauge
tastr_model_version{camera="cam2",daemon="ingest"} 3.0
"""


def status(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli", "status", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout_s)


def test_parse_and_summarise_ingest_text():
    samples = parse_metrics(INGEST_TEXT)
    assert infer_kind(samples) == "ingest"
    version, details = summarise("ingest", samples)
    assert version == 3
    assert details == {"fps": 12.5, "dropped": 7.0, "spool_dropped": 0.0}   # _created is not a count


def test_parse_target_forms():
    assert parse_target("cam3=http://10.0.0.7:9622/metrics") == Target("cam3", "http://10.0.0.7:9622/metrics")
    assert parse_target("http://10.0.0.7:9622") == Target("10.0.0.7:9622", "http://10.0.0.7:9622/metrics")
    for bad in ("10.0.0.7:9622", "x=ftp://host/metrics", "name="):
        with pytest.raises(TastrError, match="--metrics needs an http"):
            parse_target(bad)


def test_down_and_unknown_endpoints_are_rows_not_crashes():
    port = free_port()   # nothing listens here
    down = scrape(Target("gone", f"http://127.0.0.1:{port}/metrics", "trainer"), timeout_s=2.0)
    assert not down.up and down.kind == "trainer" and "unreachable" in down.error
    random = scrape(Target("ingest cam1", "", "ingest", "ingest.metrics_port_base = 0 (random port)"), 2.0)
    assert not random.up and "random port" in random.error
    table = render_table([down, random])
    assert "DOWN" in table and "0/2 up" in table


def test_status_table_against_a_running_associator(live_associator):
    proc = status("--config", str(live_associator.config))
    assert proc.returncode == 1, proc.stdout + proc.stderr       # ingest and trainer are down
    lines = {line.split("  ")[0].strip(): line for line in proc.stdout.splitlines()}
    stats = get_json(f"{live_associator.base_url}/api/stats")
    assoc = lines["associator"]
    assert " up " in assoc and " v0 " in assoc
    assert f"tracklets={stats['tracklets']}" in assoc and f"received={len(live_associator.world)}" in assoc
    assert "identities=" in assoc and "links_provisional=" in assoc
    for cam in ("cam1", "cam2", "cam3", "cam4"):
        assert "DOWN" in lines[f"ingest {cam}"] and "unreachable" in lines[f"ingest {cam}"]
    assert "DOWN" in lines["trainer"]
    assert proc.stdout.rstrip().endswith("1/6 up")


def test_status_json_with_explicit_urls(live_associator):
    metrics_url = f"http://127.0.0.1:{live_associator.ready['metrics_port']}/metrics"
    proc = status("--metrics", f"central={metrics_url}", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [row] = json.loads(proc.stdout)
    assert row["name"] == "central" and row["kind"] == "associator" and row["up"] and row["model_version"] == 0
    assert row["details"]["received"] == len(live_associator.world)

    # The HTTP API is up but is not a metrics endpoint: down, with the reason.
    proc = status("--metrics", f"http://127.0.0.1:{live_associator.ready['http_port']}/api/stats", "--json")
    assert proc.returncode == 1
    [row] = json.loads(proc.stdout)
    assert not row["up"] and row["error"].startswith("not Prometheus text")


def test_status_without_targets_is_a_one_line_error():
    proc = status()
    assert proc.returncode == 2 and "give --config FILE, --run DIR and/or --metrics URL" in proc.stderr


def test_status_of_a_run_folder_reads_its_daemon_list(live_associator, tmp_path):
    """demo/replay pick random metrics ports and list them in <run>/daemons.json."""
    (tmp_path / "daemons.json").write_text(json.dumps([
        {"name": "associator", "kind": "associator", "metrics_port": live_associator.ready["metrics_port"]},
        {"name": "trainer", "kind": "trainer", "metrics_port": live_associator.down_ports["trainer"]}]))
    proc = status("--run", str(tmp_path), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["associator"]["up"] and not rows["trainer"]["up"]
    proc = status("--run", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "daemons.json" in proc.stderr
