"""A real associator refuses poisoned tracklets over its real socket and survives bad stored rows.

Guards against (issue 13, item 1): a reused tracklet id acknowledged and silently dropped; a
tracklet claiming model version 7 making a restarted associator serve "v7"; a tracklet whose
crops do not decode acknowledged "ok" (it then froze every model swap); a stored row the window
cannot use stopping the daemon at every restart. Rejects are counted per reason in metrics.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import urllib.request

import zmq

from tastr_stream.store.schema import DB_NAME
from tastr_stream.wire import encode
from tastr_stream.wire.rpc import RpcClient

from ..associate.world import make_world
from .test_associator_daemon import as_tracklet, setup, start  # noqa: F401 (fixture)


def send(sock, msg_id: bytes, tracklet) -> bytes:
    sock.send_multipart([msg_id, encode(tracklet)])
    assert sock.poll(10_000), f"no acknowledgement for {msg_id!r}"
    got_id, status = sock.recv_multipart()
    assert got_id == msg_id
    return status


def metric(port: int, name: str, label: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_poisoned_tracklets_are_rejected_by_reason_and_bad_rows_quarantined(setup):
    cfg, eps, tmp = setup
    world = sorted(make_world(seed=4, n_ids=6, emb_dim=16), key=lambda m: m.t_end_s)
    daemon, ready = start(cfg, tmp)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(eps["tracklets"])
    try:
        first = as_tracklet(world[0])
        assert send(sock, b"a", first) == b"ok"
        assert send(sock, b"a-again", first) == b"ok"                          # a resend: idempotent
        reused = dataclasses.replace(first, t_end_s=first.t_end_s + 2, frame_times_s=first.frame_times_s + 0.5)
        cases = {
            "duplicate-id-different-content": reused,
            "model_version": dataclasses.replace(as_tracklet(world[1]), model_version=7),
            "crops_undecodable": dataclasses.replace(as_tracklet(world[2]), crops_jpeg=(b"\xff\xd8 not a jpeg",)),
        }
        for reason, t in cases.items():
            status = send(sock, reason.encode(), t)
            assert status.startswith(b"rejected: " + reason.encode()), status
        for m in world[3:]:
            assert send(sock, m.tracklet_id.encode(), as_tracklet(m)) == b"ok"
        for reason in cases:
            assert metric(ready["metrics_port"], "tastr_assoc_messages_rejected_total", f'reason="{reason}"') == 1
        client = RpcClient(eps["lookup"], context=ctx)
        stats = client.call({"op": "stats"})
        client.close()
        assert stats["tracklets"] == len(world) - 2 and stats["model_version"] == 0
    finally:
        sock.close()
        code = daemon.stop()
    assert code == 0, daemon.log()

    # A row the window cannot use (a torn blob, as a disk fault or an old bug leaves it).
    conn = sqlite3.connect(tmp / "store" / DB_NAME)
    conn.execute("UPDATE tracklets SET boxes = x'00' WHERE id = ?", (world[3].tracklet_id,))
    conn.commit()
    conn.close()
    daemon, ready = start(cfg, tmp, "assoc2")
    try:
        assert ready["restored"] == len(world) - 3
        assert metric(ready["metrics_port"], "tastr_assoc_quarantined_total", 'where="restore"') == 1
        client = RpcClient(eps["lookup"], context=ctx)
        assert client.call({"op": "stats"})["model_version"] == 0, "a claimed v7 must never become the served one"
        client.close()
    finally:
        code = daemon.stop()
        ctx.destroy(linger=0)
    assert code == 0, daemon.log()
    daemon, ready = start(cfg, tmp, "assoc3")                # quarantined rows stay out, quietly
    try:
        assert ready["restored"] == len(world) - 3
        assert metric(ready["metrics_port"], "tastr_assoc_quarantined_total", 'where="restore"') == 0
    finally:
        assert daemon.stop() == 0, daemon.log()
