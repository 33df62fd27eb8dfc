"""Helpers to run real daemons as subprocesses in tests: free ports, config files, readiness."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.network_runner import free_port, loopback_endpoints  # noqa: F401 (free_port re-exported)
from tastr_stream.config.toml_writer import write_toml  # noqa: F401 (re-exported for the tests)

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "services.cli"]


def endpoints() -> dict:
    """Every endpoint on a free loopback port (the runner's own), HTTP on a random one."""
    return {**loopback_endpoints(), "http_port": 0}


class Daemon:
    """A daemon subprocess whose output goes to a log file (read it on failure)."""

    def __init__(self, args: list[str], log_path: Path, env: dict | None = None):
        self.log_path = log_path
        self._log = open(log_path, "ab")
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(CLI + args, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, env=full_env)

    def wait_file(self, path: Path, timeout_s: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if path.exists():
                return json.loads(path.read_text())
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"daemon not ready after {timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout_s: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


def wait_until(cond, timeout_s: float, what: str, *daemons: "Daemon", clean_exit_ok: bool = True):
    """``cond()``'s first truthy value, polled until ``timeout_s``; fails early, with the log, when a
    watched daemon exits (with any status, if not ``clean_exit_ok``), and on timeout with every log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        for d in daemons:
            rc = d.proc.poll()
            if rc is not None and (rc != 0 or not clean_exit_ok):
                raise AssertionError(f"{d.log_path.name} exited {rc} while waiting for {what}:\n{d.log()}")
        time.sleep(0.05)
    logs = "\n".join(f"--- {d.log_path.name}\n{d.log()[-2500:]}" for d in daemons)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{logs}")
