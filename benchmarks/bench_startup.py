"""Associator start-up: how long a restart and a refused setting take, against importing torch (not a test).

For each run it spawns ``tastr-stream associator`` with a valid two-camera config and times the
ready file (the daemon serves), then spawns it with ``metrics_host = "192.0.2.1"`` (not this
machine's) and times the one-line refusal. The reference, measured in the same run, is a bare
``python -c "import torch, torchvision"``, what every daemon imported until the ninth session.
The associator still imports torch before it serves (a lazy import moved that cost into its
first model swap and stalled its loop there; RESULTS.md, "Associator start-up without torch"),
but no longer torchvision (``tastr_stream/models/trunks.py``), so its ratio sits below 1.

    .venv/bin/python benchmarks/bench_startup.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_memory import rss_mb  # noqa: E402  (this folder is sys.path[0] when run as a script)
from services.network_runner import loopback_endpoints  # noqa: E402
from tastr_stream.config.toml_writer import write_toml  # noqa: E402

CLI = [sys.executable, "-m", "services.cli"]


def write_config(folder: Path, metrics_host: str = "127.0.0.1") -> Path:
    cfg = {"network": {"cameras": [{"id": "cam1"}, {"id": "cam2"}],
                       "paths": [{"a": "cam1", "b": "cam2", "transfer_s": 30.0}]},
           "endpoints": loopback_endpoints(),
           "associator": {"store_dir": str(folder / "store"), "metrics_port": 0, "metrics_host": metrics_host},
           "model": {"backbone": "tiny", "emb_dim": 16}}
    folder.mkdir(parents=True, exist_ok=True)
    return write_toml(folder / "associator.toml", cfg)


def time_ready(folder: Path, timeout_s: float = 120.0) -> tuple[float, float | None]:
    """(seconds until the ready file, the daemon's resident memory then in MB)."""
    ready = folder / "ready.json"
    t0 = time.perf_counter()
    proc = subprocess.Popen(CLI + ["associator", "--config", str(write_config(folder)), "--ready-file", str(ready)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ready.exists():
            if proc.poll() is not None:
                raise SystemExit(f"associator exited with {proc.returncode} before it was ready")
            if time.perf_counter() - t0 > timeout_s:
                raise SystemExit(f"associator not ready after {timeout_s} s")
            time.sleep(0.01)
        return time.perf_counter() - t0, rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def time_refusal(folder: Path) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(CLI + ["associator", "--config", str(write_config(folder, "192.0.2.1"))], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 2:
        raise SystemExit(f"expected a refused setting (exit 2), got {res.returncode}: {res.stderr[-500:]}")
    return time.perf_counter() - t0


def time_torch_import() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, torchvision"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, python {platform.python_version()}")
    for run in range(1, args.repeats + 1):
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d)
            ready, rss = time_ready(folder / "a")
            refused = time_refusal(folder / "b")
        torch_s = time_torch_import()
        resident = "?" if rss is None else f"{rss:.0f}"
        print(f"run {run}: associator ready {ready:.2f} s ({resident} MB resident)  bad setting refused {refused:.2f} s  "
              f"'import torch, torchvision' alone {torch_s:.2f} s  ratio ready/import {ready / torch_s:.2f}",
              flush=True)


if __name__ == "__main__":
    main()
