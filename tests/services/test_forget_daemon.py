"""Forgetting a person on a running associator, over its real sockets: HTTP, ZeroMQ and the CLI.

Guards against (issue 13, privacy): no way to forget one person everywhere; a forget that
leaves rows, thumbnails, embeddings or links behind, or that the running window undoes by
writing the person back; a forgotten tracklet stored again when an edge box's spool resends it;
a restart bringing the person back; ``--store`` forgetting behind a running associator's back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import zmq

from tastr_stream.wire import encode
from tastr_stream.wire.channels import ReliableSender
from tastr_stream.wire.rpc import RpcClient
from tastr_stream.wire.spool import DiskSpool

from ..associate.world import make_world
from ..store.test_forget import table_mentions
from .daemons import REPO
from .test_associator_daemon import as_tracklet, setup, start, wait_until  # noqa: F401 (fixture)


def http(method: str, url: str) -> tuple[int, dict]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli", "lookup", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def people_seen_twice(client: RpcClient, world) -> list[tuple[int, set[str]]]:
    """(identity, its tracklets) of identities with two sightings or more, as lookups answer."""
    out: dict[int, set[str]] = {}
    for m in world:
        r = client.call({"op": "tracklet", "tracklet_id": m.tracklet_id}, timeout_s=10)
        if r["ok"] and r["identity_id"] is not None and len(r["sightings"]) >= 2:
            out[r["identity_id"]] = {s["tracklet_id"] for s in r["sightings"]}
    return sorted(out.items())


def test_forget_over_http_zeromq_and_cli_survives_restart(setup):
    cfg, eps, tmp = setup
    store_dir = tmp / "store"
    world = sorted(make_world(seed=3, n_ids=20, emb_dim=16, noise=0.2), key=lambda m: m.t_end_s)
    by_id = {m.tracklet_id: m for m in world}
    daemon, ready = start(cfg, tmp)
    ctx = zmq.Context()
    sender = ReliableSender(eps["tracklets"], DiskSpool(tmp / "spool", 10**9), ack_timeout_s=1.0, context=ctx).start()
    client = RpcClient(eps["lookup"], context=ctx)
    try:
        for m in world:
            sender.submit(m.tracklet_id, encode(as_tracklet(m)))
        assert wait_until(lambda: sender.queue_depth == 0, 60), daemon.log()
        people: list = []
        assert wait_until(lambda: len(people.__setitem__(slice(None), people_seen_twice(client, world)) or people) >= 3,
                          30), "the world should give identities seen in two cameras"
        (by_http, http_ids), (by_zmq, zmq_ids), (by_cli, cli_ids) = people[:3]
        gone = http_ids | zmq_ids | cli_ids
        base = f"http://127.0.0.1:{ready['http_port']}"

        code, body = http("DELETE", f"{base}/api/identity/{by_http}")
        assert code == 200 and body["ok"], body
        assert body["removed"]["tracklets"] == len(http_ids) and body["removed"]["thumbnails"] == len(http_ids)
        assert body["removed"]["crop_packs"] == len(http_ids) and body["window"] == len(http_ids)
        assert body["removed"]["embeddings"] >= len(http_ids) and body["removed"]["identities"] == len(http_ids)
        reply = client.call({"op": "forget", "identity_id": by_zmq}, timeout_s=10)
        assert reply["ok"] and reply["removed"]["tracklets"] == len(zmq_ids), reply
        proc = cli("--config", str(cfg), "--store", str(store_dir), "forget", str(by_cli))
        assert proc.returncode == 2 and "an associator is running on this store" in proc.stderr, proc.stderr
        proc = cli("--config", str(cfg), "forget", str(by_cli))
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["removed"]["tracklets"] == len(cli_ids)

        # Asked again, or by POST: nothing left to forget (404, one line).
        code, body = http("POST", f"{base}/api/identity/{by_http}/forget")
        assert code == 404 and "unknown identity" in body["error"]
        for ident in (by_http, by_zmq, by_cli):
            assert "unknown identity" in client.call({"op": "identity", "identity_id": ident})["error"]
        for tid in gone:
            assert "unknown tracklet" in client.call({"op": "tracklet", "tracklet_id": tid})["error"]
            track = client.call({"op": "camera_track", "camera_id": by_id[tid].camera_id,
                                 "local_track_id": as_tracklet(by_id[tid]).local_track_id})
            assert "no tracklet" in track.get("error", "") or not gone & {r["tracklet_id"] for r in track["results"]}
            assert http("GET", f"{base}/api/thumbnail/{tid}")[0] == 404
        # A spool's resend of a forgotten tracklet is acknowledged and not stored again.
        raw = ctx.socket(zmq.DEALER)
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect(eps["tracklets"])
        resent = sorted(gone)[0]
        raw.send_multipart([b"resend-1", encode(as_tracklet(by_id[resent]))])
        assert raw.poll(10_000)
        assert raw.recv_multipart() == [b"resend-1", b"ok"]
        raw.close()
        stats = client.call({"op": "stats"})
        assert stats["tracklets"] == len(world) - len(gone)
        # Other people's lookups go on; several finalize ticks later nothing names them again.
        rest = next(m.tracklet_id for m in world if m.tracklet_id not in gone)
        assert client.call({"op": "tracklet", "tracklet_id": rest})["ok"]
        assert table_mentions(store_dir, gone) == []
        assert sender.stats.rejected == 0
    finally:
        client.close()
        sender.stop()
        code = daemon.stop()
    assert code == 0, daemon.log()

    daemon, ready = start(cfg, tmp, "assoc2")             # a restart does not bring them back
    client = RpcClient(eps["lookup"], context=ctx)
    try:
        assert ready["restored"] == len(world) - len(gone)
        for tid in gone:
            assert "unknown tracklet" in client.call({"op": "tracklet", "tracklet_id": tid})["error"]
        still = {i for i, _ in people_seen_twice(client, world)}
        assert not still & {by_http, by_zmq, by_cli}
        assert table_mentions(store_dir, gone) == []
    finally:
        client.close()
        code = daemon.stop()
        ctx.destroy(linger=0)
    assert code == 0, daemon.log()
    # With the associator stopped, --store may forget (here: someone left, by the CLI).
    remaining = [i for i, _ in people[3:]]
    if remaining:
        proc = cli("--config", str(cfg), "--store", str(store_dir), "forget", str(remaining[0]))
        assert proc.returncode == 0 and json.loads(proc.stdout)["removed"]["tracklets"] >= 2, proc.stderr
