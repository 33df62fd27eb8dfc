"""A real ``tastr-stream ingest`` process on a synthetic-world video, its tracklets received on a
real ZeroMQ socket and checked against the world's ground truth.

Guards against: tracklets whose times, crops or embeddings do not match what the camera saw,
identity switches inside a tracklet, and an ingest that blocks or loses tracklets while the
associator is away.
"""

from __future__ import annotations

import collections
import time

import cv2
import numpy as np

from tastr_stream.datasets.synthetic import SyntheticWorld
from tastr_stream.eval.gt_match import majority_pid
from tastr_stream.wire.channels import TrackletReceiver

from ..conftest import network_section
from .daemons import Daemon, endpoints, free_port, write_toml

EMB_DIM = 16


def ingest_config(tmp_path, world_dir, eps, **detect):
    return write_toml(tmp_path / "ingest.toml", {
        "network": network_section(world_dir),
        "endpoints": eps,
        "ingest": {"metrics_port_base": 0,
                   "detect": {"backend": "oracle", "oracle_box_noise": 0.01, **detect},
                   "embed": {"backbone": "tiny", "emb_dim": EMB_DIM, "batch_size": 16},
                   "spool": {"dir": str(tmp_path / "spool")}},
        "trainer": {"backbone": "tiny", "emb_dim": EMB_DIM},
    })


def collect(receiver, daemon, until_exit=True, timeout_s=120.0, want=None):
    got, deadline = {}, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for item in receiver.receive(timeout_ms=100):
            assert item.error is None, item.error
            got[item.record.tracklet_id] = item.record
            receiver.ack(item)
        if want is not None and len(got) >= want:
            break
        if until_exit and daemon.proc.poll() is not None:
            for item in receiver.receive(timeout_ms=200):
                got[item.record.tracklet_id] = item.record
                receiver.ack(item)
            break
    return got


def test_ingest_publishes_tracklets_matching_ground_truth(tmp_path, small_world):
    world = SyntheticWorld.open(small_world)
    camera = world.camera_ids[0]
    eps = endpoints()
    cfg = ingest_config(tmp_path, small_world, eps)
    receiver = TrackletReceiver(eps["tracklets"])
    port = free_port()
    daemon = Daemon(["ingest", "--config", str(cfg), "--camera", camera, "--world", str(small_world),
                     "--metrics-port", str(port)], tmp_path / "ingest.log")
    try:
        got = collect(receiver, daemon)
        assert daemon.proc.wait(timeout=60) == 0, daemon.log()
    finally:
        daemon.stop()
        receiver.close()
    assert got, daemon.log()
    ids = list(got)
    assert all(i.startswith(f"{camera}:") for i in ids) and len(set(ids)) == len(ids)
    pure = 0
    seen_pids = set()
    gt_frames = world.gt_frames(camera)
    for t in got.values():
        assert t.camera_id == camera and 0 <= t.t_start_s <= t.t_end_s <= world.duration_s + 0.1
        assert t.embedding.shape == (EMB_DIM,) and t.model_version == 0 and np.all(np.isfinite(t.embedding))
        assert 1 <= len(t.crops_jpeg) <= 60 and len(t.crop_times_s) == len(t.crops_jpeg)
        crop = cv2.imdecode(np.frombuffer(t.crops_jpeg[0], np.uint8), cv2.IMREAD_COLOR)
        assert crop.shape == (256, 128, 3)
        pid, share = majority_pid(gt_frames, world.fps, t)
        if share >= 0.9:
            pure += 1
            seen_pids.add(pid)
    assert pure / len(got) >= 0.9, f"only {pure}/{len(got)} tracklets follow one person"
    visible = {v.pid for v in world.visits if v.camera_id == camera and v.t_exit_s - v.t_enter_s >= 1.0}
    assert len(seen_pids & visible) >= 0.8 * len(visible), (seen_pids, visible)


def test_ingest_without_associator_spools_then_delivers(tmp_path, small_world):
    """The associator is down for the whole file: ingest must finish anyway, keep every tracklet in
    its disk spool, and a second run (after the associator appears) must deliver them. The file was
    read to its end, so the second run reads no frame of it again (``pipeline.resume``)."""
    world = SyntheticWorld.open(small_world)
    camera = world.camera_ids[1]
    eps = endpoints()
    cfg = ingest_config(tmp_path, small_world, eps)
    first = Daemon(["ingest", "--config", str(cfg), "--camera", camera, "--world", str(small_world),
                    "--drain-timeout", "1"], tmp_path / "first.log")
    assert first.proc.wait(timeout=120) == 0, first.log()
    spooled = list((tmp_path / "spool" / camera).glob("*.msg"))
    assert spooled, "tracklets must wait in the disk spool while the associator is away"
    receiver = TrackletReceiver(eps["tracklets"])
    second = Daemon(["ingest", "--config", str(cfg), "--camera", camera, "--world", str(small_world)],
                    tmp_path / "second.log")
    try:
        got = collect(receiver, second)
        assert second.proc.wait(timeout=60) == 0, second.log()
    finally:
        second.stop()
        receiver.close()
    sessions = collections.Counter(t.split(":")[1] for t in got)
    first_session = spooled[0].name.split("-", 1)[1].split(":")[1]
    assert sessions == {first_session: len(spooled)}, "every spooled tracklet of the first run arrives, and only those"
    assert "file already read to its end" in second.log()
    assert not list((tmp_path / "spool" / camera).glob("*.msg")), "acknowledged tracklets leave the spool"


def test_ingest_waits_for_the_launchers_epoch_then_replays_every_frame(tmp_path, small_world):
    """``--epoch-file``: the ingest loads and warms up, says it is ready, reads no frame until the
    launcher writes the shared epoch, then replays every frame on that clock; a bad epoch is one line."""
    world = SyntheticWorld.open(small_world)
    camera = world.camera_ids[1]
    eps = endpoints()
    cfg = ingest_config(tmp_path, small_world, eps)
    epoch_file = tmp_path / "epoch"
    receiver = TrackletReceiver(eps["tracklets"])
    d = Daemon(["ingest", "--config", str(cfg), "--camera", camera, "--world", str(small_world),
                "--epoch-file", str(epoch_file), "--speed", "4"], tmp_path / "ingest.log")
    try:
        deadline = time.monotonic() + 120
        while "waiting for the epoch" not in d.log():
            assert d.proc.poll() is None and time.monotonic() < deadline, d.log()
            time.sleep(0.1)
        time.sleep(0.5)
        assert "ingest started" not in d.log() and not receiver.receive(timeout_ms=100)
        epoch_file.write_text(f"{time.time() + 0.5:.3f}\n")
        got = collect(receiver, d)
        assert d.proc.wait(timeout=60) == 0, d.log()
        assert got
        finished = [ln for ln in d.log().splitlines() if "ingest finished" in ln][-1]
        fields = dict(kv.split("=", 1) for kv in finished.split() if "=" in kv)
        # Counts, not load: every frame decoded, each one processed or counted as dropped.
        assert int(fields["frames_decoded"]) == world.num_frames
        assert int(fields["frames"]) + int(fields["frames_dropped"]) == world.num_frames
    finally:
        d.stop()
        receiver.close()

    bad = tmp_path / "bad-epoch"
    bad.write_text("soon\n")
    d = Daemon(["ingest", "--config", str(cfg), "--camera", camera, "--world", str(small_world),
                "--epoch-file", str(bad)], tmp_path / "ingest-bad.log")
    try:
        assert d.proc.wait(timeout=120) != 0
        assert "--epoch-file" in d.log() and "not a unix time" in d.log() and "Traceback" not in d.log()
    finally:
        d.stop()
