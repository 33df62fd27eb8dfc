"""A real ``tastr-stream ingest --camera cam1 --camera cam2`` process: two cameras, one shared
detector, each camera's tracklets on a real ZeroMQ socket.

Guards against: a multi-camera ingest whose tracklets differ from what one ingest per camera
gives (count, camera, times, track numbers), cameras mixing their tracklet ids, spools or metrics,
and a shared detector that never actually batches. Counts only, never times.
"""

from __future__ import annotations

import re

from tastr_stream.config import load_config
from tastr_stream.datasets.synthetic import SyntheticWorld
from tastr_stream.decode import FileSource
from tastr_stream.detect import make_detector
from tastr_stream.wire.channels import TrackletReceiver

from ..pipeline.runs import embedder, run_single
from .daemons import Daemon, endpoints, free_port
from .test_ingest_daemon import EMB_DIM, collect, ingest_config


def single_camera(world, cam, icfg):
    detector = make_detector(icfg.detect, world=world, camera_id=cam)
    background = embedder(icfg.embed.backbone, icfg.embed.emb_dim, batch_size=16)
    return run_single(FileSource(world.video_path(cam), cam), cam, icfg, detector, background)[2]


def summary(tracklets):
    return sorted((t.camera_id, t.local_track_id, round(t.t_start_s, 6), round(t.t_end_s, 6), len(t.crops_jpeg))
                  for t in tracklets)


def test_two_cameras_one_process_give_the_tracklets_of_two_single_camera_ingests(tmp_path, small_world):
    world = SyntheticWorld.open(small_world)
    cams = world.camera_ids[:2]
    eps = endpoints()
    cfg_path = ingest_config(tmp_path, small_world, eps, rate_hz=5.0)
    receiver = TrackletReceiver(eps["tracklets"])
    port = free_port()
    daemon = Daemon(["ingest", "--config", str(cfg_path), "--camera", cams[0], "--camera", cams[1],
                     "--world", str(small_world), "--metrics-port", str(port)], tmp_path / "ingest.log")
    try:
        got = collect(receiver, daemon)
        assert daemon.proc.wait(timeout=60) == 0, daemon.log()
    finally:
        daemon.stop()
        receiver.close()
    log = daemon.log()
    reference = [t for cam in cams for t in single_camera(world, cam, load_config(cfg_path).ingest)]
    assert reference and summary(got.values()) == summary(reference), log
    for t in got.values():
        assert t.tracklet_id.startswith(f"{t.camera_id}:") and t.embedding.shape == (EMB_DIM,)
    # Each camera spooled into its own folder.
    assert {p.name for p in (tmp_path / "spool").iterdir()} == set(cams)
    # Each camera serves its own metrics, on --metrics-port + k for the k-th --camera.
    for k, cam in enumerate(cams):
        assert re.search(rf"ingest started camera={cam} .*metrics_port={port + k} ", log), log
    # One detector, called with both cameras' due frames at once (files wait for each other).
    line = next(ln for ln in log.splitlines() if "shared detector" in ln)
    runs = int(re.search(r"detector_runs=(\d+)", line).group(1))
    frames_detected = int(re.search(r"frames_detected=(\d+)", line).group(1))
    assert "largest_batch=2" in line and frames_detected == 2 * runs == 2 * len(range(0, world.num_frames, 6)), line


def test_two_cameras_need_their_own_sources(tmp_path, small_world):
    world = SyntheticWorld.open(small_world)
    cams = world.camera_ids[:2]
    cfg_path = ingest_config(tmp_path, small_world, endpoints())
    daemon = Daemon(["ingest", "--config", str(cfg_path), "--camera", cams[0], "--camera", cams[1],
                     "--source", str(world.video_path(cams[0]))], tmp_path / "ingest.log")
    assert daemon.proc.wait(timeout=60) != 0
    daemon.stop()
    last = daemon.log().strip().splitlines()[-1]
    assert "--source" in last and "names one camera's source" in last, daemon.log()
