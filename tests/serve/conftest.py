"""One real associator daemon for the serve tests, fed a seeded synthetic world over the real wire.

Started once per session (a daemon start imports torch: seconds) and shared by the web page and
``status`` tests, which only read from it.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import zmq

from tastr_stream.wire import Tracklet, encode
from tastr_stream.wire.channels import ReliableSender
from tastr_stream.wire.spool import DiskSpool

from ..associate.world import CAMERAS, TRANSFER_S, make_world
from ..services.daemons import Daemon, endpoints, free_port, write_toml

# Site-map positions (metres) so the page draws the graph at the cameras' places.
POSITIONS_M = {"cam1": (0.0, 0.0), "cam2": (50.0, 0.0), "cam3": (60.0, 50.0), "cam4": (20.0, 70.0)}


def person_jpeg(pid: int) -> bytes:
    """A 256x128 crop with a figure in a colour of its own, so thumbnails are visibly distinct."""
    img = np.full((256, 128, 3), 205, np.uint8)
    hue = np.uint8((pid * 37) % 180)
    bgr = cv2.cvtColor(np.array([[[hue, 200, 190]]], np.uint8), cv2.COLOR_HSV2BGR)[0, 0].tolist()
    cv2.circle(img, (64, 40), 22, (60, 90, 140), -1)
    cv2.rectangle(img, (34, 66), (94, 170), bgr, -1)
    cv2.rectangle(img, (40, 170), (88, 250), (70, 60, 50), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def as_tracklet(meta) -> Tracklet:
    pid = int(meta.tracklet_id.split(":")[1][1:])
    return Tracklet(
        tracklet_id=meta.tracklet_id, camera_id=meta.camera_id, local_track_id=pid,
        t_start_s=meta.t_start_s, t_end_s=meta.t_end_s,
        frame_times_s=np.linspace(meta.t_start_s, meta.t_end_s, 5),
        boxes_xyxy=np.tile(np.array([[0, 0, 40, 100]], np.float32), (5, 1)),
        crops_jpeg=(person_jpeg(pid),), crop_times_s=np.array([meta.t_start_s]),
        embedding=meta.feature, model_version=0)


def wait_until(cond, timeout_s: float = 30.0, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(poll_s)
    return False


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@dataclass
class LiveAssociator:
    config: Path
    daemon: Daemon
    ready: dict
    world: list
    down_ports: dict[str, int]   # configured metrics ports nobody listens on (ingest base, trainer)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ready['http_port']}"


@pytest.fixture(scope="session")
def live_associator(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    eps = endpoints()
    down = {"ingest_base": free_port(), "trainer": free_port()}
    cfg = write_toml(tmp / "assoc.toml", {
        "network": {"cameras": [{"id": c, "position_m": list(POSITIONS_M[c])} for c in CAMERAS],
                    "paths": [{"a": a, "b": b, "transfer_s": t} for (a, b), t in TRANSFER_S.items()]},
        "endpoints": eps,
        "associator": {"store_dir": str(tmp / "store"), "metrics_port": free_port(),
                       "window": {"window_s": 100000.0, "allowed_lateness_s": 80000.0}},
        "ingest": {"embed": {"backbone": "tiny", "emb_dim": 16}, "metrics_port_base": down["ingest_base"]},
        "trainer": {"backbone": "tiny", "emb_dim": 16, "metrics_port": down["trainer"]},
    })
    world = sorted(make_world(seed=3, n_ids=12, emb_dim=16, noise=0.2), key=lambda m: m.t_end_s)
    ready_file = tmp / "assoc.ready.json"
    daemon = Daemon(["associator", "--config", str(cfg), "--ready-file", str(ready_file)], tmp / "assoc.log")
    ctx = zmq.Context()
    sender = None
    try:
        ready = daemon.wait_file(ready_file)
        sender = ReliableSender(eps["tracklets"], DiskSpool(tmp / "spool", 10**9), ack_timeout_s=1.0,
                                context=ctx).start()
        for m in world:
            sender.submit(m.tracklet_id, encode(as_tracklet(m)))
        assert wait_until(lambda: sender.queue_depth == 0, 60), daemon.log()
        live = LiveAssociator(cfg, daemon, ready, world, down)
        assert wait_until(lambda: get_json(f"{live.base_url}/api/recent?limit=5")["identities"], 30), daemon.log()
        yield live
    finally:
        if sender is not None:
            sender.stop()
        ctx.destroy(linger=0)
        code = daemon.stop()
    assert code == 0, daemon.log()
