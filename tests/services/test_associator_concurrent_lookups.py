"""A real associator taking tracklets while the web page asks for candidates and transfer times.

HTTP lookups are answered on the HTTP server's threads, and candidates read the association
window the daemon's loop changes; the daemon serialises the two with one window lock. Guards
against that lock stalling intake (a candidates request holds it for tens of ms while tracklets
keep arriving) or deadlocking the loop (the ZeroMQ lookups run on the loop itself), and against
requests that die (a dropped connection, a traceback) or answer anything but 200 or a JSON 404 while
the window changes. An unguarded window fails here only by chance (the race is narrow), so this is
no proof that the lock is there; the daemon's module docstring says which calls must hold it.
"""

from __future__ import annotations

import http.client
import json
import threading
import time

import zmq

from tastr_stream.wire import encode
from tastr_stream.wire.channels import ReliableSender
from tastr_stream.wire.spool import DiskSpool

from ..associate.world import make_world
from .test_associator_daemon import as_tracklet, setup, start, wait_until  # noqa: F401 (setup is a fixture)

CHUNK = 4


def hammer(port: int, paths: list[str], stop: threading.Event, outcomes: list) -> None:
    """GET the paths in turn until stopped; record (path, status, ok) or (path, error)."""
    i = 0
    while not stop.is_set():
        path = paths[i % len(paths)]
        i += 1
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = json.loads(resp.read())
            outcomes.append((path, resp.status, body.get("ok")))
        except (OSError, http.client.HTTPException, ValueError) as e:
            outcomes.append((path, f"{type(e).__name__}: {e}"))
        finally:
            conn.close()


def test_candidates_and_network_while_tracklets_arrive(setup):
    cfg, eps, tmp = setup
    world = sorted(make_world(seed=5, n_ids=40, emb_dim=16, noise=0.2), key=lambda m: m.t_end_s)
    daemon, ready = start(cfg, tmp)
    ctx = zmq.Context()
    sender = ReliableSender(eps["tracklets"], DiskSpool(tmp / "spool", 10**9), ack_timeout_s=1.0, context=ctx).start()
    stop = threading.Event()
    outcomes: list = []
    # Early tracklets: in the window from the start, so most requests rank while intake goes on.
    paths = [f"/api/candidates?tracklet_id={m.tracklet_id}&k=10" for m in world[:40:4]] + ["/api/network"]
    threads = [threading.Thread(target=hammer, args=(ready["http_port"], paths[i::2], stop, outcomes))
               for i in range(2)]
    try:
        for m in world[:10]:
            sender.submit(m.tracklet_id, encode(as_tracklet(m)))
        assert wait_until(lambda: sender.queue_depth == 0, 60), daemon.log()
        for th in threads:
            th.start()
        for i in range(10, len(world), CHUNK):
            # Interleave: each few arrivals overlap a few answered requests, however fast the machine.
            seen = len(outcomes)
            for m in world[i:i + CHUNK]:
                sender.submit(m.tracklet_id, encode(as_tracklet(m)))
            assert wait_until(lambda: len(outcomes) >= seen + 2, 60), daemon.log()
        assert wait_until(lambda: sender.queue_depth == 0, 120), f"{sender.stats}\n{daemon.log()}"
    finally:
        stop.set()
        for th in threads:
            th.join(15)
        sender.stop()
        ctx.destroy(linger=0)
        code = daemon.stop()
    failures = [o for o in outcomes if len(o) == 2 or o[1] not in (200, 404)]
    assert not failures, f"{len(failures)} of {len(outcomes)} requests failed, e.g. {failures[:3]}\n{daemon.log()}"
    ranked = [o for o in outcomes if o[0].startswith("/api/candidates") and o[1] == 200]
    assert len(ranked) > 20 and all(ok for _, _, ok in ranked)
    assert "Traceback" not in daemon.log()
    assert code == 0, daemon.log()
