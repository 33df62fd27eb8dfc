"""The live training loop with real processes: associator -> train request -> trainer -> checkpoint
-> announcement -> ingest hot-swap and associator re-embedding; a corrupt announced checkpoint; and an
announced path that does not exist on the daemons' box (fetched from the checkpoint server instead).

Guards against: a loop that never closes (no request sent, trainer never announcing, extractors
ignoring announcements), a hot-swap that drops frames or stalls decoding, an associator that
compares embeddings of two versions, and a truncated checkpoint replacing a serving model.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from pathlib import Path

import zmq

from tastr_stream.models import build_reid_model, publish_checkpoint, sha256_file
from tastr_stream.store import Store
from tastr_stream.wire.announce import AnnouncementPublisher
from tastr_stream.wire.checkpoints import CheckpointServer
from tastr_stream.wire.records import WeightsAnnouncement
from tastr_stream.wire.rpc import RpcClient

from ..conftest import network_section
from .daemons import Daemon, endpoints, free_port, wait_until, write_toml

EMB_DIM = 16
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}   # 2 shared cores, five processes


def loop_config(tmp_path: Path, world_dir: Path, eps: dict) -> Path:
    eps.setdefault("checkpoints", f"tcp://127.0.0.1:{free_port()}")     # never the fixed default port
    return write_toml(tmp_path / "live.toml", {
        "network": network_section(world_dir),
        "endpoints": eps,
        "ingest": {"metrics_port_base": 0, "decode": {"queue_frames": 60},
                   "detect": {"backend": "oracle", "oracle_box_noise": 0.01},
                   "embed": {"backbone": "tiny", "emb_dim": EMB_DIM, "batch_size": 16, "device": "cpu",
                             "checkpoint_cache_dir": str(tmp_path / "edge-cache"),
                             "checkpoint_fetch_timeout_s": 5.0},
                   "spool": {"dir": str(tmp_path / "spool")}},
        "associator": {"store_dir": str(tmp_path / "store"), "metrics_port": 0,
                       "window": {"window_s": 100000.0, "allowed_lateness_s": 80000.0},
                       "train_after_new_pairs": 1, "train_period_s": 2.0},
        "trainer": {"backbone": "tiny", "emb_dim": EMB_DIM, "p": 2, "k": 2, "tsccc_gap_s": 1.0,
                    "epochs_per_round": 1, "max_batches_per_round": 4, "max_images_per_tracklet": 8,
                    "image_height": 128, "image_width": 64, "device": "cpu",
                    "checkpoint_dir": str(tmp_path / "ckpt"), "metrics_port": 0},
    })


def start_associator(cfg: Path, tmp_path: Path) -> tuple[Daemon, dict]:
    ready = tmp_path / "assoc.ready.json"
    d = Daemon(["associator", "--config", str(cfg), "--ready-file", str(ready)], tmp_path / "assoc.log", ONE_THREAD)
    return d, d.wait_file(ready)


def start_ingest(cfg: Path, world_dir: Path, camera: str, tmp_path: Path, *extra: str) -> tuple[Daemon, int]:
    port = free_port()
    d = Daemon(["ingest", "--config", str(cfg), "--camera", camera, "--world", str(world_dir),
                "--metrics-port", str(port), *extra], tmp_path / f"ingest-{camera}.log", ONE_THREAD)
    return d, port


def kv_of(line: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", line))


def log_lines(d: Daemon, message: str) -> list[str]:
    return [l for l in d.log_path.read_text(errors="replace").splitlines() if message in l]


def metric(port: int, name: str, labels: str = "") -> float | None:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name) and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def test_round_is_requested_trained_announced_and_hot_swapped(tmp_path, small_world):
    eps = endpoints()
    cfg = loop_config(tmp_path, small_world, eps)
    daemons: list[Daemon] = []
    client = RpcClient(eps["lookup"])
    try:
        assoc, _ = start_associator(cfg, tmp_path)
        daemons.append(assoc)
        trainer_ready = tmp_path / "trainer.ready.json"
        trainer = Daemon(["trainer", "--config", str(cfg), "--ready-file", str(trainer_ready)],
                         tmp_path / "trainer.log", ONE_THREAD)
        daemons.append(trainer)
        info = trainer.wait_file(trainer_ready)
        assert info["model_version"] == 0 and info["weights"] == eps["weights"]
        assert info["checkpoints"] == eps["checkpoints"]
        # Phase 1: the two cameras most people walk between, read as fast as possible (file mode).
        first = [start_ingest(cfg, small_world, cam, tmp_path)[0] for cam in ("cam2", "cam3")]
        daemons += first

        announced = wait_until(lambda: log_lines(trainer, "weights announced"), 120,
                               "the trainer's first announcement", *daemons)
        v1 = kv_of(announced[0])
        assert v1["version"] == "1" and Path(v1["path"]).is_file() and sha256_file(v1["path"]) == v1["sha256"]
        assert log_lines(assoc, "train round requested"), "the associator asked for the round"
        assert "kind=within" in log_lines(trainer, "round done")[0], "round 0 is within-camera (TSCCC)"
        # Background work yields the CPU to ingest: the round ran at least as nice as configured (10).
        assert int(kv_of(log_lines(trainer, "round done")[0])["niceness"]) >= 10
        stats = wait_until(lambda: (s := client.call({"op": "stats"}))["model_version"] >= 1 and s, 60,
                           "the associator to re-embed its window", *daemons)
        reembedded = log_lines(assoc, "window re-embedded with new model")
        assert reembedded and int(kv_of(reembedded[0])["tracklets"]) > 0
        assert int(kv_of(reembedded[0])["niceness"]) >= 10
        with Store.open(tmp_path / "store", read_only=True) as st:
            def one_version():      # one snapshot: the store's current version and the window's embeddings
                versions = {t.model_version for t in st.tracklets_between(-1e18, 1e18)}
                return len(versions) == 1 and min(versions) >= 1
            wait_until(one_version, 20, "every window tracklet embedded by one version >= 1", *daemons)
        assert stats["tracklets"] > 0

        # Phase 2: a camera that starts now, replayed against the clock, picks up the announced
        # version mid-file (repeated announcements reach late subscribers) and swaps between
        # batches; a swap that stalled the loop would overflow the paced decode queue and drop frames.
        for d in first:
            assert d.proc.wait(timeout=120) == 0, d.log()
        late, _ = start_ingest(cfg, small_world, "cam1", tmp_path, "--epoch", f"{time.time() + 1:.3f}",
                               "--speed", "2")
        daemons.append(late)
        assert late.proc.wait(timeout=120) == 0, late.log()
        swapped = log_lines(late, "tastr_stream.ingest model swapped")
        assert swapped and int(kv_of(swapped[0])["to"]) >= 1, late.log()
        # The weights were loaded on the swapper's thread and handed over while the file was read
        # (the swap itself is a reference change between batches: tests/tracklet/test_hotswap.py).
        lines = late.log_path.read_text(errors="replace").splitlines()
        order = [next(i for i, l in enumerate(lines) if m in l) for m in
                 ("new weights handed to the extractor", "tastr_stream.ingest model swapped", "ingest finished")]
        assert order == sorted(order), late.log()
        for d in first + [late]:
            done = kv_of(log_lines(d, "ingest finished")[0])
            # Every decoded frame was processed or counted as dropped, and every tracklet acknowledged.
            # How many a paced replay drops depends on the box's load alone (drop-oldest keeps it live),
            # so only the file mode, which waits for the detector, must drop none.
            assert int(done["frames"]) + int(done["frames_dropped"]) == int(done["frames_decoded"]), d.log()
            if d is not late:
                assert done["frames_dropped"] == "0", d.log()
            assert int(done["unacked"]) == 0
        metrics_port = info["metrics_port"]
        assert metric(metrics_port, "tastr_trainer_rounds_total") >= 1
        assert metric(metrics_port, "tastr_model_version", 'daemon="trainer"') >= 1
    finally:
        client.close()
        codes = {d.log_path.name: d.stop() for d in reversed(daemons)}
    assert all(c == 0 for c in codes.values()), codes


def test_truncated_checkpoint_is_rejected_and_old_model_keeps_serving(tmp_path, small_world):
    eps = endpoints()
    cfg = loop_config(tmp_path, small_world, eps)
    good = publish_checkpoint(build_reid_model("tiny", EMB_DIM, seed=1), tmp_path / "bad", 99)
    data = Path(good.path).read_bytes()
    Path(good.path).write_bytes(data[: len(data) - 100])                     # torn: weights cut short
    ann = WeightsAnnouncement(version=99, path=good.path, sha256=sha256_file(good.path),
                              backbone="tiny", emb_dim=EMB_DIM)
    ctx = zmq.Context()
    publisher = AnnouncementPublisher(eps["weights"], context=ctx)           # stands in for the trainer
    daemons: list[Daemon] = []
    client = RpcClient(eps["lookup"], context=ctx)
    try:
        assoc, _ = start_associator(cfg, tmp_path)
        daemons.append(assoc)
        # A paced replay keeps the ingest running while the bad weights arrive.
        ingest, port = start_ingest(cfg, small_world, "cam2", tmp_path, "--epoch", f"{time.time():.3f}",
                                    "--speed", "2")
        daemons.append(ingest)
        wait_until(lambda: log_lines(ingest, "ingest started"), 60, "ingest start", *daemons)

        def rejected_by_both():
            publisher.publish(ann)
            return (log_lines(ingest, "checkpoint rejected; old model keeps serving")
                    and log_lines(assoc, "announced checkpoint rejected"))

        wait_until(rejected_by_both, 40, "both daemons to reject the torn checkpoint", *daemons)
        assert "truncated" in log_lines(ingest, "checkpoint rejected")[0]
        decoded = metric(port, "tastr_ingest_frames_decoded_total")
        repeats = 0

        def repeated_while_decoding():                                       # repeats, as the trainer does
            nonlocal repeats
            publisher.publish()
            repeats += 1
            return repeats >= 10 and metric(port, "tastr_ingest_frames_decoded_total") > decoded

        wait_until(repeated_while_decoding, 60, "ingest to keep decoding through 10 repeats", *daemons)
        assert metric(port, "tastr_model_version") == 0.0
        assert client.call({"op": "stats"})["model_version"] == 0
        assert len(log_lines(assoc, "announced checkpoint rejected")) == 1, "a repeated bad announcement is " \
            "rejected once, not re-read every repeat"
        assert len(log_lines(ingest, "checkpoint rejected")) == 1
    finally:
        client.close()
        publisher.close()
        codes = {d.log_path.name: d.stop() for d in reversed(daemons)}
        ctx.destroy(linger=0)
    assert all(c == 0 for c in codes.values()), codes


def test_checkpoint_missing_on_the_box_is_fetched_from_the_trainer(tmp_path, small_world):
    """Edge boxes do not share the trainer's disk: the announced path does not exist for the
    daemons, so ingest (on its swapper thread) and the associator fetch the file from the
    checkpoint server into their cache folder and swap to it."""
    eps = endpoints()
    cfg = loop_config(tmp_path, small_world, eps)
    real = publish_checkpoint(build_reid_model("tiny", EMB_DIM, seed=1), tmp_path / "trainer-box", 7)
    ann = WeightsAnnouncement(version=7, path=str(tmp_path / "not-on-this-box" / Path(real.path).name),
                              sha256=real.sha256, backbone="tiny", emb_dim=EMB_DIM)
    ctx = zmq.Context()
    stop = threading.Event()
    server = CheckpointServer(eps["checkpoints"], tmp_path / "trainer-box", chunk_bytes=4096, context=ctx)
    serve_thread = threading.Thread(target=lambda: [server.serve(timeout_ms=20) for _ in iter(stop.is_set, True)],
                                    daemon=True)
    publisher = AnnouncementPublisher(eps["weights"], context=ctx)           # stands in for the trainer
    daemons: list[Daemon] = []
    client = RpcClient(eps["lookup"], context=ctx)
    try:
        serve_thread.start()
        assoc, _ = start_associator(cfg, tmp_path)
        daemons.append(assoc)
        ingest, port = start_ingest(cfg, small_world, "cam2", tmp_path, "--epoch", f"{time.time():.3f}",
                                    "--speed", "2")
        daemons.append(ingest)
        wait_until(lambda: log_lines(ingest, "ingest started"), 60, "ingest start", *daemons)

        def swapped_by_both():
            publisher.publish(ann)
            return (log_lines(ingest, "tastr_stream.ingest model swapped")
                    and client.call({"op": "stats"})["model_version"] == 7)

        wait_until(swapped_by_both, 40, "both daemons to fetch and swap to v7", *daemons)
        assert int(kv_of(log_lines(ingest, "tastr_stream.ingest model swapped")[0])["to"]) == 7
        # One box, one cache folder: whichever daemon comes second may find the file already there.
        assert log_lines(ingest, "checkpoint fetched") or log_lines(assoc, "checkpoint fetched")
        assert metric(port, "tastr_model_version") == 7.0
        assert not log_lines(ingest, "checkpoint rejected") and not log_lines(assoc, "checkpoint rejected")
        cached = sorted((tmp_path / "edge-cache").iterdir())
        assert len(cached) == 1 and cached[0].read_bytes() == Path(real.path).read_bytes()
        assert server.chunks_served >= -(-len(cached[0].read_bytes()) // 4096) > 1, "fetched in chunks"
    finally:
        client.close()
        publisher.close()
        codes = {d.log_path.name: d.stop() for d in reversed(daemons)}
        stop.set()
        serve_thread.join(5)
        server.close()
        ctx.destroy(linger=0)
    assert all(c == 0 for c in codes.values()), codes
