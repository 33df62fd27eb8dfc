"""Every metric the Grafana dashboard queries is exported by a running daemon.

Guards against: dashboard panels that stay empty because a metric was renamed or never exported.
"""

from __future__ import annotations

import re
import time
import urllib.request

from ..deploy.test_deploy_files import dashboard_metric_names
from ..conftest import network_section
from .daemons import Daemon, endpoints, free_port, write_toml


def exported_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.sub(r"_(bucket|count|sum|total|created)$", "", line.split("{")[0].split()[0]))
    return names | {n + "_total" for n in names}


def scrape(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def test_dashboard_queries_only_exported_metrics(tmp_path, small_world):
    eps = endpoints()
    camera = "cam1"
    cfg = write_toml(tmp_path / "net.toml", {
        "network": network_section(small_world), "endpoints": eps,
        "ingest": {"detect": {"backend": "oracle"}, "embed": {"backbone": "tiny", "emb_dim": 16},
                   "spool": {"dir": str(tmp_path / "spool")}},
        "associator": {"store_dir": str(tmp_path / "store")},
        "trainer": {"backbone": "tiny", "emb_dim": 16},
    })
    ready = tmp_path / "ready.json"
    assoc_port, ingest_port, trainer_port = free_port(), free_port(), free_port()
    assoc = Daemon(["associator", "--config", str(cfg), "--ready-file", str(ready), "--metrics-port", str(assoc_port)],
                   tmp_path / "assoc.log")
    trainer = Daemon(["trainer", "--config", str(cfg), "--metrics-port", str(trainer_port),
                      "--checkpoint-dir", str(tmp_path / "checkpoints")], tmp_path / "trainer.log")
    ingest = None
    try:
        assoc.wait_file(ready)
        ingest = Daemon(["ingest", "--config", str(cfg), "--camera", camera, "--world", str(small_world),
                         "--metrics-port", str(ingest_port), "--epoch", f"{time.time() + 1:.3f}", "--speed", "3"],
                        tmp_path / "ingest.log")
        exported: set[str] = set()
        deadline = time.monotonic() + 90
        wanted = dashboard_metric_names()
        while time.monotonic() < deadline:
            for port in (assoc_port, ingest_port, trainer_port):
                try:
                    exported |= exported_names(scrape(port))
                except OSError:
                    pass
            missing = {n for n in wanted if n not in exported}
            if not missing:
                break
            time.sleep(1.0)
        assert not missing, f"dashboard queries metrics no daemon exports: {sorted(missing)}"
    finally:
        if ingest is not None:
            ingest.stop()
        trainer.stop()
        assoc.stop()
