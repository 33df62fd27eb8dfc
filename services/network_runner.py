"""Run a whole camera network on one machine: one associator, one trainer and one ingest process
per camera, all replaying recorded videos against one shared clock, as a live network would run.

Used by ``demo`` and ``replay``. The runner only starts, watches and stops processes and prints
progress; every decision is made by the daemons themselves.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("tastr_stream.network")
# 4K frames are 25 MB: keep glibc from mapping fresh memory for each (see benchmarks/RESULTS.md).
INGEST_ENV = {"MALLOC_MMAP_THRESHOLD_": "268435456", "MALLOC_TRIM_THRESHOLD_": "1073741824"}
# One torch thread for the trainer: on one machine the live ingest processes must keep their cores.
TRAINER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CHECKPOINT_DIR = "checkpoints"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_endpoints() -> dict:
    return {"tracklets": f"tcp://127.0.0.1:{free_port()}", "lookup": f"tcp://127.0.0.1:{free_port()}",
            "weights": f"tcp://127.0.0.1:{free_port()}", "train_requests": f"tcp://127.0.0.1:{free_port()}",
            "checkpoints": f"tcp://127.0.0.1:{free_port()}",
            "http_port": free_port()}


def start_daemon_process(cmd: list[str], out, env: dict | None = None) -> subprocess.Popen:
    """Start one daemon in its own process group (a Ctrl-C at the terminal reaches only the
    runner, which stops the daemons in order) but in the runner's session.

    The session matters for the CPU: with the kernel's autogroup scheduling (on by default on
    desktop and server kernels), every session is one scheduling group and groups share the CPU
    equally, whatever the niceness of the threads inside them. A trainer in a session of its own
    would take 1/6 of the box from four ingests whatever its round's niceness; in one session,
    the round's niceness (``trainer.niceness``, tastr_stream/background.py) decides.
    """
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                            process_group=0)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path
    metrics_port: int


@dataclass
class NetworkRunner:
    config_path: Path
    run_dir: Path
    cameras: list[str]
    sources: dict[str, str] = field(default_factory=dict)   # camera -> file; empty: from --world
    world_dir: Path | None = None
    speed: float = 1.0
    log_level: str = "INFO"
    trainer: bool = True
    procs: list[Proc] = field(default_factory=list)

    def _spawn(self, name: str, args: list[str], metrics_port: int, env: dict | None = None) -> Proc:
        log_path = self.run_dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(log_path, "ab")
        cmd = [sys.executable, "-m", "services.cli", "--log-level", self.log_level] + args
        popen = start_daemon_process(cmd, out, env)
        out.close()
        proc = Proc(name, popen, log_path, metrics_port)
        self.procs.append(proc)
        return proc

    def start(self, startup_timeout_s: float = 120.0) -> dict:
        """Start every daemon at once and return the associator's ready info.

        Each daemon spends its first seconds loading libraries and models; the others only need
        the associator's endpoints, which the config already fixes (a sender retries until the
        associator binds), so nobody waits for anybody to start. The cameras begin together once
        the associator is ready and every ingest is waiting for the epoch. If the associator
        cannot start, everything started is stopped before the error is raised.
        """
        ready = self.run_dir / "associator.ready.json"
        ready.unlink(missing_ok=True)
        epoch_file = self.run_dir / "epoch"
        epoch_file.unlink(missing_ok=True)
        assoc_port = free_port()
        assoc = self._spawn("associator", ["associator", "--config", str(self.config_path), "--ready-file", str(ready),
                                           "--metrics-port", str(assoc_port)], assoc_port)
        if self.trainer:
            port = free_port()
            self._spawn("trainer", ["trainer", "--config", str(self.config_path), "--metrics-port", str(port),
                                    "--checkpoint-dir", str(self.run_dir / CHECKPOINT_DIR)], port, TRAINER_ENV)
        for cam in self.cameras:
            port = free_port()
            args = ["ingest", "--config", str(self.config_path), "--camera", cam, "--epoch-file", str(epoch_file),
                    "--speed", str(self.speed), "--metrics-port", str(port),
                    "--spool-dir", str(self.run_dir / "spool")]
            if cam in self.sources:
                args += ["--source", self.sources[cam]]
            elif self.world_dir is not None:
                args += ["--world", str(self.world_dir)]
            self._spawn(f"ingest-{cam}", args, port, INGEST_ENV)
        self._write_daemon_list()
        deadline = time.monotonic() + startup_timeout_s
        while not ready.exists():
            problem = None
            if assoc.popen.poll() is not None:
                problem = f"associator exited during start-up; see {assoc.log_path}:\n{_tail(assoc.log_path)}"
            elif time.monotonic() > deadline:
                problem = f"associator not ready after {startup_timeout_s} s; see {assoc.log_path}"
            if problem:
                self.stop()
                raise RuntimeError(problem)
            time.sleep(0.1)
        info = json.loads(ready.read_text())
        # Every camera replays against one epoch, written once all of them are ready (models
        # loaded, detector warm), so all start in step and none starts late with a flooded queue.
        self._release_epoch(epoch_file, max(1.0, deadline - time.monotonic()))
        return info

    def _release_epoch(self, epoch_file: Path, timeout_s: float, lead_s: float = 2.0) -> None:
        """Write the shared epoch ``lead_s`` ahead once every ingest logged that it is ready (or the
        timeout passed, or one exited: the others should not wait for it forever)."""
        ingests = [p for p in self.procs if p.name.startswith("ingest-")]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            waiting = [p for p in ingests if p.popen.poll() is None
                       and "waiting for the epoch" not in _read(p.log_path)]
            if not waiting:
                break
            time.sleep(0.1)
        tmp = epoch_file.with_suffix(".tmp")
        tmp.write_text(f"{time.time() + lead_s:.3f}\n")
        os.replace(tmp, epoch_file)

    def _write_daemon_list(self) -> None:
        """``daemons.json``: every daemon's metrics port, for ``tastr-stream status --run DIR``."""
        rows = [{"name": p.name, "kind": p.name.split("-")[0], "metrics_port": p.metrics_port} for p in self.procs]
        tmp = self.run_dir / "daemons.json.tmp"
        tmp.write_text(json.dumps(rows, indent=1))
        os.replace(tmp, self.run_dir / "daemons.json")

    def wait_for_training(self, timeout_s: float, tick=None) -> bool:
        """After the cameras end: let a round in flight finish and the associator switch to its
        version (so a short run still shows the swap). True when nothing is left in flight."""
        trainer = next((p for p in self.procs if p.name == "trainer" and p.popen.poll() is None), None)
        assoc = next((p for p in self.procs if p.name == "associator"), None)
        if trainer is None or assoc is None:
            return True
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            busy = scrape_gauge(trainer.metrics_port, "tastr_trainer_round_in_progress")
            trained = scrape_gauge(trainer.metrics_port, "tastr_model_version") or 0.0
            serving = scrape_gauge(assoc.metrics_port, "tastr_model_version") or 0.0
            if not busy and serving >= trained:
                return True
            if tick is not None:
                tick()
            time.sleep(1.0)
        return False

    def wait_for_links(self, timeout_s: float, tick=None) -> bool:
        """After the cameras end: let the associator decide the links still waiting for their
        context (its event clock follows the wall clock once tracklets stop). True when none wait."""
        assoc = next((p for p in self.procs if p.name == "associator" and p.popen.poll() is None), None)
        if assoc is None:
            return True
        deadline = time.monotonic() + timeout_s
        calm = 0
        while time.monotonic() < deadline:
            waiting = scrape_gauge(assoc.metrics_port, "tastr_assoc_links_waiting")
            calm = calm + 1 if waiting == 0 else 0
            if calm >= 3:
                return True
            if tick is not None:
                tick()
            time.sleep(1.0)
        return False

    def ingest_running(self) -> list[Proc]:
        return [p for p in self.procs if p.name.startswith("ingest-") and p.popen.poll() is None]

    def failed(self) -> list[Proc]:
        return [p for p in self.procs if p.popen.poll() not in (None, 0)]

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM ingest first (they flush their tracklets), then the associator."""
        for group in ([p for p in self.procs if p.name != "associator"], [p for p in self.procs if p.name == "associator"]):
            for p in group:
                if p.popen.poll() is None:
                    p.popen.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            for p in group:
                try:
                    p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("process did not stop; killing it", extra={"kv": {"name": p.name}})
                    p.popen.kill()
                    p.popen.wait(timeout=10)


def scrape_gauge(port: int, name: str, timeout_s: float = 2.0) -> float | None:
    """One sample of a daemon's metric (first series), or None when unreachable or absent."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            try:
                return float(line.rsplit(" ", 1)[1])
            except ValueError:
                return None
    return None


def swapped_versions(run_dir: Path) -> list[int]:
    """Model versions the associator switched to during a run, in order (from its log)."""
    path = run_dir / "logs" / "associator.log"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return [int(v) for v in re.findall(r"window re-embedded with new model version=(\d+)", text)]


def ingest_summaries(run_dir: Path) -> dict[str, dict[str, str]]:
    """Per camera, the key=value fields of its ingest's "ingest finished" log line (frames,
    frames_dropped, frames_detected, detect_rate_hz, ...); cameras that never finished are absent."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted((run_dir / "logs").glob("ingest-*.log")):
        try:
            lines = [ln for ln in path.read_text(errors="replace").splitlines() if " ingest finished " in ln]
        except OSError:
            continue
        if lines:
            fields = dict(re.findall(r"(\w+)=(\S+)", lines[-1].split(" ingest finished ", 1)[1]))
            out[fields.get("camera", path.stem.removeprefix("ingest-"))] = fields
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""
