"""The network runner's daemons share its session (so thread niceness decides the CPU share under
autogroup scheduling) but not its process group (so a terminal's Ctrl-C reaches only the runner),
and they start together without leaving any behind when the associator cannot start."""

from __future__ import annotations

import json
import os
import socket
import sys

import pytest

from services.demo import demo_config
from services.network_runner import NetworkRunner, loopback_endpoints, start_daemon_process
from tastr_stream.config.toml_writer import write_toml


def test_a_daemon_runs_in_the_runners_session_and_its_own_process_group(tmp_path):
    report = tmp_path / "ids.json"
    code = ("import json, os, sys; json.dump({'sid': os.getsid(0), 'pgid': os.getpgid(0), 'pid': os.getpid()}, "
            "open(sys.argv[1], 'w'))")
    with open(tmp_path / "out.log", "ab") as out:
        proc = start_daemon_process([sys.executable, "-c", code, str(report)], out)
    assert proc.wait(60) == 0
    ids = json.loads(report.read_text())
    assert ids["sid"] == os.getsid(0), "same session: one autogroup with the other daemons"
    assert ids["pgid"] == ids["pid"] == proc.pid, "own process group: the terminal's signals skip it"
    assert ids["pgid"] != os.getpgid(0)


def test_the_daemon_gets_the_extra_environment(tmp_path):
    with open(tmp_path / "out.log", "ab") as out:
        proc = start_daemon_process([sys.executable, "-c", "import os; print(os.environ['TASTR_PROBE'])"], out,
                                    {"TASTR_PROBE": "yes"})
    assert proc.wait(60) == 0
    assert (tmp_path / "out.log").read_text().strip() == "yes"


def test_an_associator_that_cannot_start_stops_every_daemon_started_beside_it(tmp_path, small_world):
    """The daemons start together; when the associator refuses (its lookup port is taken), the
    runner stops the ingests (and the trainer, when it runs one) started beside it before raising."""
    eps = loopback_endpoints()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", int(eps["lookup"].rsplit(":", 1)[1])))
    squatter.listen()
    try:
        data = demo_config(small_world, tmp_path, {"backend": "oracle"}, 30, eps)
        data["model"] = {"backbone": "tiny", "emb_dim": 16}
        config = write_toml(tmp_path / "network.toml", data)
        runner = NetworkRunner(config, tmp_path, ["cam1"], world_dir=small_world, trainer=False)
        with pytest.raises(RuntimeError, match="associator exited during start-up"):
            runner.start(startup_timeout_s=120)
    finally:
        squatter.close()
    assert [p.name for p in runner.procs] == ["associator", "ingest-cam1"]
    assert all(p.popen.poll() is not None for p in runner.procs)
    assert "address already in use" in (tmp_path / "logs" / "associator.log").read_text().lower()
