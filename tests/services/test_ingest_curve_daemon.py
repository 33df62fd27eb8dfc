"""A real ingest process against a real associator with ZeroMQ CURVE on (``security.curve``).

Guards against (issue 13, exposure): edge boxes that cannot deliver once CURVE is on (the ingest's
sockets did not speak it), and an intake that stores tracklets from a box without an authorized
key, or that a failed handshake takes down. Keys come from ``tastr-stream keys`` in a temp folder.
"""

from __future__ import annotations

import shutil
import subprocess

from tastr_stream.datasets.synthetic import SyntheticWorld
from tastr_stream.wire.rpc import RpcClient

from .daemons import CLI, REPO, endpoints
from .kills import start_associator, start_ingest, stored_tracklets, world_config


def _keys(out):
    made = subprocess.run(CLI + ["keys", "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return out


def _finished(daemon) -> dict:
    line = [ln for ln in daemon.log().splitlines() if "ingest finished" in ln][-1]
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def test_ingest_delivers_over_curve_and_boxes_without_an_authorized_key_deliver_nothing(tmp_path, small_world):
    """A keyed ingest's tracklets reach the store; one with a key pair the central box never
    authorized, running alongside for its whole file, delivers nothing and the associator stays up
    (a box with CURVE off fails the same handshake: test_security_daemon); an ingest with CURVE on
    and no keys refuses to start in one line."""
    world = SyntheticWorld.open(small_world)
    keyed_cam, rogue_cam = world.camera_ids[:2]
    keys = _keys(tmp_path / "keys")
    rogue = _keys(tmp_path / "rogue-keys")                     # a key pair the central box never authorized ...
    shutil.copy(keys / "server.key", rogue / "server.key")    # ... that knows the server's public key
    eps = endpoints()
    cfg = world_config(tmp_path, small_world, eps, security={"curve": {"enabled": True, "keys_dir": str(keys)}})
    runs = {name: tmp_path / name for name in ("rogue", "no-keys")}
    for d in runs.values():
        d.mkdir()
    rogue_cfg = world_config(runs["rogue"], small_world, eps, security={"curve": {"enabled": True, "keys_dir": str(rogue)}})
    missing_cfg = world_config(runs["no-keys"], small_world, eps,
                               security={"curve": {"enabled": True, "keys_dir": str(runs["no-keys"])}})
    assoc, ready = start_associator(cfg, tmp_path)
    ingests = {}
    try:
        ingests = {
            "keyed": start_ingest(cfg, small_world, keyed_cam, tmp_path, "ingest-keyed"),
            "rogue": start_ingest(rogue_cfg, small_world, rogue_cam, runs["rogue"], "ingest", "--drain-timeout", "2"),
            "no-keys": start_ingest(missing_cfg, small_world, keyed_cam, runs["no-keys"], "ingest"),
        }
        # CURVE on without this box's keys: one line naming the setting, no traceback.
        no_keys = ingests.pop("no-keys")
        assert no_keys.proc.wait(timeout=120) == 2, no_keys.log()
        assert "Traceback" not in no_keys.log() and "security.curve.keys_dir" in no_keys.log().strip().splitlines()[-1]
        no_keys.stop()
        for name, d in ingests.items():
            assert d.proc.wait(timeout=300) == 0, f"{name}:\n{d.log()}"
        keyed, rogue_run = _finished(ingests["keyed"]), _finished(ingests["rogue"])
        assert int(keyed["tracklets"]) > 0 and keyed["unacked"] == "0", keyed
        assert int(rogue_run["tracklets"]) > 0 and rogue_run["unacked"] == rogue_run["tracklets"], "nothing acknowledged"
        assert assoc.proc.poll() is None, "failed handshakes must not take the associator down"
        client = RpcClient(ready["lookup"])
        stats = client.call({"op": "stats"}, timeout_s=10)
        client.close()
        assert stats["ok"] and stats["tracklets"] == int(keyed["tracklets"]), stats
    finally:
        for d in ingests.values():
            d.stop()
        code = assoc.stop()
    assert code == 0, assoc.log()
    by_cam = {t.camera_id for t in stored_tracklets(tmp_path / "store")}
    assert by_cam == {keyed_cam}, "only the keyed box's tracklets are stored"
