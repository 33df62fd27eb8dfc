"""A real associator process, real sockets: delivery, lookups, bad input, SIGKILL and restart.

Guards against: acknowledged tracklets lost when the associator is killed, a malformed message
or bad lookup crashing the daemon, and association quality silently degrading.
"""

from __future__ import annotations

import json
import time
import urllib.request
import zlib

import cv2
import msgpack
import numpy as np
import pytest
import zmq

from tastr_stream.eval import TrackletMeta as GtMeta
from tastr_stream.eval import evaluate_pairs
from tastr_stream.wire import Tracklet, encode
from tastr_stream.wire.channels import ReliableSender
from tastr_stream.wire.rpc import RpcClient
from tastr_stream.wire.spool import DiskSpool

from ..associate.world import CAMERAS, TRANSFER_S, make_world
from .daemons import Daemon, endpoints, write_toml


def _jpeg(seed: int) -> bytes:
    img = np.full((256, 128, 3), seed * 37 % 255, np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def pid_of(tracklet_id: str) -> int:
    """World ids read <camera>:p<person>:v<visit>."""
    return int(tracklet_id.split(":")[1][1:])


def as_tracklet(meta) -> Tracklet:
    return Tracklet(
        tracklet_id=meta.tracklet_id, camera_id=meta.camera_id, local_track_id=pid_of(meta.tracklet_id),
        t_start_s=meta.t_start_s, t_end_s=meta.t_end_s,
        frame_times_s=np.linspace(meta.t_start_s, meta.t_end_s, 5),
        boxes_xyxy=np.tile(np.array([[0, 0, 40, 100]], np.float32), (5, 1)),
        crops_jpeg=(_jpeg(zlib.crc32(meta.tracklet_id.encode()) % 97),), crop_times_s=np.array([meta.t_start_s]),
        embedding=meta.feature, model_version=0)


@pytest.fixture
def setup(tmp_path):
    eps = endpoints()
    cfg = write_toml(tmp_path / "assoc.toml", {
        "network": {"cameras": [{"id": c} for c in CAMERAS],
                    "paths": [{"a": a, "b": b, "transfer_s": t} for (a, b), t in TRANSFER_S.items()]},
        "endpoints": eps,
        "associator": {"store_dir": str(tmp_path / "store"), "metrics_port": 0,
                       "window": {"window_s": 100000.0, "allowed_lateness_s": 80000.0}},
        "ingest": {"embed": {"backbone": "tiny", "emb_dim": 16}},
        "trainer": {"backbone": "tiny", "emb_dim": 16},
    })
    return cfg, eps, tmp_path


def start(cfg, tmp_path, name="assoc"):
    ready = tmp_path / f"{name}.ready.json"
    ready.unlink(missing_ok=True)
    d = Daemon(["associator", "--config", str(cfg), "--ready-file", str(ready)], tmp_path / f"{name}.log")
    return d, d.wait_file(ready)


def wait_until(cond, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def gt_metas(world):
    return [GtMeta(m.tracklet_id, pid_of(m.tracklet_id), m.camera_id, int(m.t_start_s * 30),
                   int(m.t_end_s * 30)) for m in world]


def test_stream_kill_restart_lookup_and_quality(setup):
    cfg, eps, tmp = setup
    world = sorted(make_world(seed=3, n_ids=30, emb_dim=16, noise=0.2), key=lambda m: m.t_end_s)
    daemon, ready = start(cfg, tmp)
    ctx = zmq.Context()
    sender = ReliableSender(eps["tracklets"], DiskSpool(tmp / "spool", 10**9), ack_timeout_s=1.0, context=ctx).start()
    try:
        half = len(world) // 2
        for m in world[:half]:
            sender.submit(m.tracklet_id, encode(as_tracklet(m)))
        assert wait_until(lambda: sender.stats.acked >= half // 2)
        daemon.kill()                                   # mid-stream, with tracklets in flight
        acked_before_kill = sender.stats.acked
        for m in world[half:]:
            sender.submit(m.tracklet_id, encode(as_tracklet(m)))
        daemon, ready = start(cfg, tmp, "assoc2")
        assert ready["restored"] >= acked_before_kill, "every acknowledged tracklet must survive SIGKILL"
        assert wait_until(lambda: sender.queue_depth == 0, 60), daemon.log()

        client = RpcClient(eps["lookup"], context=ctx)
        stats = client.call({"op": "stats"})
        assert stats["ok"] and stats["tracklets"] == len(world)

        # Where else was this person seen? Pick a person seen in >= 2 cameras.
        by_pid: dict[str, set[str]] = {}
        for m in world:
            by_pid.setdefault(m.tracklet_id.split(":")[1], set()).add(m.camera_id)
        pid = next(p for p, cams in by_pid.items() if len(cams) >= 2)
        probe = next(m.tracklet_id for m in world if m.tracklet_id.split(":")[1] == pid)
        reply = client.call({"op": "tracklet", "tracklet_id": probe})
        assert reply["ok"] and reply["identity_id"] is not None
        assert probe in {s["tracklet_id"] for s in reply["sightings"]}
        assert all(s["thumbnail_jpeg"] for s in reply["sightings"])

        # Association quality against ground truth, read back through the identity lookups.
        pairs = set()
        for m in world:
            r = client.call({"op": "tracklet", "tracklet_id": m.tracklet_id})
            for s in r["sightings"]:
                if s["camera_id"] != m.camera_id:
                    pairs.add(tuple(sorted((m.tracklet_id, s["tracklet_id"]))))
        quality = evaluate_pairs(pairs, gt_metas(world), adjacent_only=True)
        print(f"association via identities: precision={quality.precision:.3f} recall={quality.recall:.3f} pairs={len(pairs)}")
        # Identities from the links users are shown; the last people's links still wait for their
        # context when this is asked, and which links the restarted linker makes depends on the
        # order the resent tracklets arrive in. Measured on the sixth session's linker: 0.895 / 0.462
        # (3 local runs), 0.918 / 0.397 (one fresh-clone CI run); 0.80-0.82 / 0.58-0.62 on the first
        # linker, which showed more links and more wrong ones.
        assert quality.precision >= 0.75 and quality.recall >= 0.3

        # Bad requests get clear errors, and the daemon keeps serving.
        assert client.call({"op": "teleport"})["error"].startswith("unknown op")
        assert "missing field 'tracklet_id'" in client.call({"op": "tracklet"})["error"]
        assert "must be int" in client.call({"op": "identity", "identity_id": "seven"})["error"]
        assert "unknown tracklet" in client.call({"op": "tracklet", "tracklet_id": "nope"})["error"]
        for op, field in (("identity", "identity_id"), ("camera_track", "local_track_id")):
            body = {"op": op, field: 2**63, "camera_id": "cam1"}
            assert "must be an int in 0.." in client.call(body)["error"], "an id past SQLite's range used to kill it"
        raw = ctx.socket(zmq.DEALER)
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect(eps["tracklets"])
        raw.send_multipart([b"junk-1", b"\xc1not msgpack"])
        raw.send_multipart([b"junk-2", msgpack.packb({"schema": 1, "type": "tracklet", "body": {"x": 1}})])
        acks = []
        while len(acks) < 2 and raw.poll(5000):
            acks.append(raw.recv_multipart())
        assert {a[0] for a in acks} == {b"junk-1", b"junk-2"} and all(a[1].startswith(b"rejected") for a in acks)
        # A well-formed tracklet from a box with another emb_dim is refused before it is stored
        # (it used to be stored, break association and stop the daemon at every restart).
        import dataclasses
        odd = dataclasses.replace(as_tracklet(world[0]), tracklet_id="cam1:odd:1", embedding=np.ones(32, np.float32))
        raw.send_multipart([b"odd-dim", encode(odd)])
        assert raw.poll(5000)
        ack = raw.recv_multipart()
        assert ack[0] == b"odd-dim" and ack[1].startswith(b"rejected") and b"emb_dim" in ack[1], ack
        assert client.call({"op": "stats"})["tracklets"] == len(world)
        raw.close()
        assert client.call({"op": "stats"})["ok"], "daemon must survive malformed input"

        # HTTP JSON API on loopback.
        base = f"http://127.0.0.1:{ready['http_port']}"
        body = json.loads(urllib.request.urlopen(f"{base}/api/tracklet/{probe}", timeout=5).read())
        assert body["identity_id"] == reply["identity_id"] and body["sightings"][0]["thumbnail_url"]
        thumb = urllib.request.urlopen(base + body["sightings"][0]["thumbnail_url"], timeout=5)
        assert thumb.headers["Content-Type"] == "image/jpeg"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/api/identity/999999", timeout=5)
        assert err.value.code == 404
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{ready['metrics_port']}/metrics", timeout=5).read().decode()
        assert "tastr_assoc_tracklets_received_total" in metrics and "tastr_assoc_identities" in metrics
        client.close()
    finally:
        sender.stop()
        code = daemon.stop()
        ctx.destroy(linger=0)
    assert code == 0, daemon.log()
