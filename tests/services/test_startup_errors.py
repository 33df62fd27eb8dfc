"""Start-up errors of a real associator process are one line naming the setting, not a traceback.

Guards against the operator probes of issue 13: a port already in use (metrics, HTTP, ZeroMQ),
an endpoint like ``tcp://127.0.0.1:notaport`` and an unresolvable ``http_host`` all crashed the
daemon with a Python traceback; and a refusal that waited seconds for torch to load first.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from .daemons import CLI, REPO, endpoints, write_toml

# The CLI, telling at exit whether torch was loaded (stdout; the error stays on stderr).
TORCH_PROBE = [sys.executable, "-c", "import atexit, sys; atexit.register(lambda: print('torch loaded:', 'torch' in "
               "sys.modules)); from services.cli import main; sys.exit(main(sys.argv[1:]))"]


def run_associator(tmp_path, **overrides) -> subprocess.CompletedProcess:
    eps = {**endpoints(), **overrides.pop("endpoints", {})}
    cfg = write_toml(tmp_path / "assoc.toml", {
        "network": {"cameras": [{"id": "cam1"}, {"id": "cam2"}], "paths": [{"a": "cam1", "b": "cam2", "transfer_s": 30.0}]},
        "endpoints": eps,
        "associator": {"store_dir": str(tmp_path / "store"), "metrics_port": overrides.pop("metrics_port", 0),
                       "metrics_host": overrides.pop("metrics_host", "127.0.0.1")},
        "ingest": {"embed": {"backbone": "tiny", "emb_dim": 16}},
        "trainer": {"backbone": "tiny", "emb_dim": 16},
    })
    command = overrides.pop("command", CLI)
    return subprocess.run(command + ["associator", "--config", str(cfg)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.stderr.strip().splitlines()[-1]


@pytest.fixture
def busy_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


def test_metrics_port_in_use(tmp_path, busy_port):
    line = one_line_error(run_associator(tmp_path, metrics_port=busy_port))
    assert line.startswith("tastr-stream associator: error: metrics port") and str(busy_port) in line


def test_a_bad_setting_is_refused_before_torch_loads(tmp_path, busy_port):
    """Settings, the token and the metrics listener are checked before the seconds of loading torch."""
    proc = run_associator(tmp_path, metrics_port=busy_port, command=TORCH_PROBE)
    assert one_line_error(proc).startswith("tastr-stream associator: error: metrics port")
    assert proc.stdout.strip() == "torch loaded: False"


def test_an_ingest_for_a_camera_not_in_the_network_is_refused_before_torch_loads(tmp_path):
    cfg = write_toml(tmp_path / "edge.toml", {
        "network": {"cameras": [{"id": "cam1"}, {"id": "cam2"}], "paths": [{"a": "cam1", "b": "cam2", "transfer_s": 30.0}]},
        "endpoints": endpoints()})
    proc = subprocess.run(TORCH_PROBE + ["ingest", "--config", str(cfg), "--camera", "cam9"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    line = one_line_error(proc)
    assert line.startswith("tastr-stream ingest: error:") and "'cam9' is not in network.cameras" in line
    assert proc.stdout.strip() == "torch loaded: False"


def test_http_port_in_use_and_unresolvable_host(tmp_path, busy_port):
    line = one_line_error(run_associator(tmp_path, endpoints={"http_port": busy_port}))
    assert "endpoints.http_host/http_port" in line and str(busy_port) in line
    line = one_line_error(run_associator(tmp_path, endpoints={"http_host": "no-such-host.invalid"}))
    assert "endpoints.http_host/http_port no-such-host.invalid" in line


def test_zmq_endpoint_in_use_and_malformed(tmp_path, busy_port):
    line = one_line_error(run_associator(tmp_path, endpoints={"tracklets": f"tcp://127.0.0.1:{busy_port}"}))
    assert f"cannot bind 'tcp://127.0.0.1:{busy_port}'" in line
    line = one_line_error(run_associator(tmp_path, endpoints={"lookup": "tcp://127.0.0.1:notaport"}))
    assert "lookup" in line and "notaport" in line


def test_metrics_host_setting_is_used(tmp_path, busy_port):
    """Metrics bound 127.0.0.1 whatever the setting, so a Prometheus in another container never
    reached them; an address that is not this machine's is now a one-line error naming it."""
    line = one_line_error(run_associator(tmp_path, metrics_host="192.0.2.1"))     # TEST-NET: not ours
    assert line.startswith("tastr-stream associator: error: metrics port") and "192.0.2.1" in line
