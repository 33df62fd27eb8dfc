"""A locked-down central box, as real processes: lookup token on HTTP and ZeroMQ, CURVE on intake.

Guards against issue 13's exposure item: lookups (ZeroMQ and HTTP), tracklet intake, the
checkpoint server and train requests accepted anyone who could reach the port. Here the keys
come from ``tastr-stream keys``, the associator's HTTP API binds 0.0.0.0 (allowed only because a
token is set), and a listener beyond loopback without a token refuses to start in one line.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request

import zmq

from tastr_stream.config import Curve
from tastr_stream.wire import encode
from tastr_stream.wire.channels import ReliableSender
from tastr_stream.wire.curve import curve_client
from tastr_stream.wire.rpc import RpcClient
from tastr_stream.wire.spool import DiskSpool

from ..associate.world import make_world
from .daemons import CLI, REPO, Daemon, endpoints, write_toml
from .test_associator_daemon import CAMERAS, TRANSFER_S, as_tracklet
from .test_startup_errors import one_line_error

HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_AUTH)


def config(tmp_path, eps: dict, security: dict):
    return write_toml(tmp_path / "assoc.toml", {
        "network": {"cameras": [{"id": c} for c in CAMERAS],
                    "paths": [{"a": a, "b": b, "transfer_s": t} for (a, b), t in TRANSFER_S.items()]},
        "endpoints": eps,
        "associator": {"store_dir": str(tmp_path / "store"), "metrics_port": 0,
                       "window": {"window_s": 100000.0, "allowed_lateness_s": 80000.0}},
        "trainer": {"backbone": "tiny", "emb_dim": 16, "checkpoint_dir": str(tmp_path / "ckpt"), "metrics_port": 0},
        "ingest": {"embed": {"backbone": "tiny", "emb_dim": 16}},
        "security": security,
    })


def http(port: int, path: str, **headers) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_token_and_curve_on_a_real_associator_and_trainer(tmp_path):
    keys = tmp_path / "keys"
    made = subprocess.run(CLI + ["keys", "--out", str(keys)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    token = (keys / "token").read_text().strip()
    assert token not in made.stdout + made.stderr, "the token is never printed"
    eps = {**endpoints(), "http_host": "0.0.0.0"}
    cfg = config(tmp_path, eps, {"token_file": str(keys / "token"), "curve": {"enabled": True, "keys_dir": str(keys)}})
    ready = tmp_path / "assoc.ready.json"
    assoc = Daemon(["associator", "--config", str(cfg), "--ready-file", str(ready)], tmp_path / "assoc.log")
    trainer_ready = tmp_path / "trainer.ready.json"
    trainer = Daemon(["trainer", "--config", str(cfg), "--ready-file", str(trainer_ready)], tmp_path / "trainer.log")
    ctx = zmq.Context()
    try:
        info = assoc.wait_file(ready)
        assert trainer.wait_file(trainer_ready)["checkpoints"] == eps["checkpoints"]
        port = info["http_port"]

        # HTTP: 401 JSON without or with a wrong token, 200 with it.
        assert http(port, "/api/stats")[0] == 401
        assert http(port, "/api/stats", Authorization="Bearer wrong-token-0123456789")[0] == 401
        code, body = http(port, "/api/stats", Authorization=f"Bearer {token}")
        assert code == 200 and body["tracklets"] == 0

        # ZeroMQ lookups: an error reply without or with a wrong token, the answer with it.
        for given in (None, "wrong-token-0123456789"):
            client = RpcClient(eps["lookup"], context=ctx, token=given)
            reply = client.call({"op": "stats"}, timeout_s=10)
            client.close()
            assert reply["ok"] is False and reply["error"].startswith("unauthorized"), reply

        # CURVE intake: a plain client's handshake fails and delivers nothing ...
        world = sorted(make_world(seed=4, n_ids=3, emb_dim=16), key=lambda m: m.t_end_s)
        plain = ctx.socket(zmq.DEALER)
        plain.setsockopt(zmq.LINGER, 0)
        monitor = plain.get_monitor_socket(HANDSHAKE_FAILED)
        plain.connect(eps["tracklets"])
        plain.send_multipart([b"plain", encode(as_tracklet(world[0]))])
        assert monitor.poll(15_000), "the plain client's handshake neither failed nor succeeded"
        assert not plain.poll(0), "no acknowledgement for a client without the keys"
        plain.disable_monitor()
        monitor.close(linger=0)
        plain.close(linger=0)
        # ... one with the keys delivers.
        sender = ReliableSender(eps["tracklets"], DiskSpool(tmp_path / "spool", 16 * 1024**2), context=ctx,
                                curve=curve_client(Curve(enabled=True, keys_dir=str(keys)))).start()
        tracklet = as_tracklet(world[1])
        sender.submit(tracklet.tracklet_id, encode(tracklet))
        deadline = time.monotonic() + 30
        while sender.queue_depth and time.monotonic() < deadline:
            time.sleep(0.05)
        sender.stop()
        assert sender.stats.acked >= 1 and sender.stats.rejected == 0, assoc.log()

        client = RpcClient(eps["lookup"], context=ctx, token=token)
        stats = client.call({"op": "stats"}, timeout_s=10)
        client.close()
        assert stats["ok"] and stats["tracklets"] == 1, "only the keyed client's tracklet was stored"

        # The CLI reads the token from the config.
        cli = subprocess.run(CLI + ["lookup", "--config", str(cfg), "stats"], cwd=REPO, capture_output=True,
                             text=True, timeout=60)
        assert cli.returncode == 0 and json.loads(cli.stdout)["tracklets"] == 1, cli.stderr
        assert token not in (tmp_path / "assoc.log").read_text() + (tmp_path / "trainer.log").read_text()
    finally:
        ctx.destroy(linger=0)
        codes = {"assoc": assoc.stop(), "trainer": trainer.stop()}
    assert codes == {"assoc": 0, "trainer": 0}, assoc.log() + trainer.log()


def test_a_lookup_listener_beyond_loopback_without_a_token_does_not_start(tmp_path):
    for eps, field in (({"http_host": "0.0.0.0"}, "endpoints.http_host='0.0.0.0'"),
                       ({"lookup": "tcp://0.0.0.0:5702"}, "endpoints.lookup='0.0.0.0'")):
        cfg = config(tmp_path, {**endpoints(), **eps}, {"token_env": "TASTR_TEST_UNSET_TOKEN"})
        proc = subprocess.run(CLI + ["associator", "--config", str(cfg)], cwd=REPO, capture_output=True, text=True,
                              timeout=120)
        line = one_line_error(proc)
        assert field in line and "no lookup token is set" in line, line
