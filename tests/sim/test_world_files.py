"""The rendered world honours the on-disk contract other engineers code against.

Guards against: videos whose frame count or timestamps drift from the ground truth (every
detector/tracker evaluation would be silently off by frames), boxes outside the frame, and
transfer times that do not follow the walking-speed model the associator's STR prior assumes.
"""

from __future__ import annotations

import json
import tomllib
from fractions import Fraction

import av
import numpy as np
import pytest

from tastr_stream.config import config_from_dict
from tastr_stream.datasets.synthetic import SyntheticWorld

from .conftest import TINY


def test_layout_files_exist(tiny_world):
    for rel in ["world.json", "network.toml", "gt/visits.csv", "gt/transfers.csv"]:
        assert (tiny_world / rel).is_file(), rel
    for cam in ("cam1", "cam2", "cam3"):
        assert (tiny_world / "videos" / f"{cam}.mp4").stat().st_size > 1000
        assert (tiny_world / "gt" / f"{cam}.txt").is_file()
        assert (tiny_world / "gt" / f"{cam}_keypoints.txt").is_file()
    meta = json.loads((tiny_world / "world.json").read_text())
    assert meta["format"] == "tastr-synthetic-world" and meta["version"] == 1
    assert meta["resolution"] == [320, 180] and meta["fps"] == 30 and meta["num_frames"] == 1200
    assert len(meta["paths"]) == 3       # every unordered pair
    assert not [p.name for p in tiny_world.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_network_toml_validates_and_matches_world_json(tiny_world):
    net = config_from_dict(tomllib.loads((tiny_world / "network.toml").read_text())).network
    meta = json.loads((tiny_world / "world.json").read_text())
    for p in meta["paths"]:
        assert net.mean_transfer_s(p["a"], p["b"]) == pytest.approx(p["length_m"] / net.walking_speed_mps)
        assert TINY["path_range_m"][0] <= p["length_m"] <= TINY["path_range_m"][1]


def test_video_decodes_with_frame_index_pts(tiny_world):
    with av.open(str(tiny_world / "videos" / "cam2.mp4")) as c:
        stream = c.streams.video[0]
        assert stream.time_base == Fraction(1, 30)
        pts, shapes = [], set()
        for frame in c.decode(stream):
            pts.append(frame.pts)
            shapes.add((frame.width, frame.height))
    assert shapes == {(320, 180)}
    assert pts == list(range(1200))


def test_people_counts_and_distractors_in_one_camera(tiny_world):
    world = SyntheticWorld.open(tiny_world)
    kinds = [p["kind"] for p in world.people]
    assert kinds.count("walker") == 10 and kinds.count("distractor") == 3
    cams_of: dict[int, set[str]] = {}
    for v in world.visits:
        cams_of.setdefault(v.pid, set()).add(v.camera_id)
    distractors = [p["pid"] for p in world.people if p["kind"] == "distractor"]
    for pid in distractors:
        assert len(cams_of.get(pid, set())) <= 1, (pid, cams_of.get(pid))
    assert sum(len(c) >= 2 for c in cams_of.values()) >= 3, cams_of
    for p in world.people:
        assert 1.2 <= p["speed_mps"] <= 1.5 and 1.55 <= p["height_m"] <= 1.95


def test_boxes_keypoints_and_visibility_are_in_range(tiny_world):
    world = SyntheticWorld.open(tiny_world)
    w, h = world.resolution
    total = 0
    for cam in world.camera_ids:
        rows, kps = world.gt_arrays(cam)
        total += len(rows)
        x, y, bw, bh, vis = rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 5], rows[:, 6]
        assert (x >= 0).all() and (y >= 0).all() and (x + bw <= w + 0.01).all() and (y + bh <= h + 0.01).all()
        assert (bw > 0).all() and (bh > 0).all()
        assert ((vis >= 0) & (vis <= 1)).all()
        assert rows[:, 0].min() >= 1 and rows[:, 0].max() <= world.num_frames
        kp = kps[:, 2:].reshape(-1, 17, 3)
        assert set(np.unique(kp[:, :, 2])) <= {0, 1, 2}
        shown = kp[:, :, 2] > 0
        assert (kp[shown][:, 0] >= 0).all() and (kp[shown][:, 0] < w).all() and (kp[shown][:, 1] < h).all()
        assert not (kp[:, :, 2] == 0).all()
    assert total > 500
    frames = world.gt_frames("cam1")
    some = next(iter(frames.values()))[0]
    assert some.box_xyxy.dtype == np.float32 and some.box_xyxy.shape == (4,)
    assert some.keypoints.shape == (17, 3) and some.keypoints.dtype == np.float32


def test_visits_match_gt_rows(tiny_world):
    world = SyntheticWorld.open(tiny_world)
    for v in world.visits[:10]:
        rows, _ = world.gt_arrays(v.camera_id)
        frames = rows[rows[:, 1] == v.pid, 0]
        inside = frames[(frames >= v.first_frame) & (frames <= v.last_frame)]
        assert len(inside) == v.last_frame - v.first_frame + 1
        assert v.t_enter_s == pytest.approx(world.frame_time_s(v.first_frame), abs=1e-3)


def test_transfer_times_follow_each_persons_speed(tiny_world):
    """exit -> enter equals path length / that person's speed (up to the few frames a body needs to
    cross the frame edge), hence lies inside the configured 1.2-1.5 m/s spread."""
    world = SyntheticWorld.open(tiny_world)
    speed = {p["pid"]: p["speed_mps"] for p in world.people}
    assert len(world.transfers) >= 3
    for t in world.transfers:
        length = next(p["length_m"] for p in world.meta["paths"] if {p["a"], p["b"]} == {t.from_camera, t.to_camera})
        dt = t.t_enter_s - t.t_exit_s
        assert dt == pytest.approx(length / speed[t.pid], abs=0.5), t
        assert length / 1.5 - 0.5 <= dt <= length / 1.2 + 0.5
    stats = world.transfer_stats
    assert sum(s["count"] for s in stats.values()) == len(world.transfers)


def test_video_shows_people_where_ground_truth_says(tiny_world):
    """Pixels inside a fully visible GT box change when the person is there; frame indexing agrees."""
    world = SyntheticWorld.open(tiny_world)
    cam = "cam3"
    frames = world.gt_frames(cam)
    target = max(((f, b) for f, bs in frames.items() for b in bs if b.visibility > 0.95),
                 key=lambda fb: (fb[1].box_xyxy[3] - fb[1].box_xyxy[1]))
    empty = next(f for f in range(1, world.num_frames + 1) if f not in frames)
    wanted = {target[0] - 1: None, empty - 1: None}
    with av.open(str(world.video_path(cam))) as c:
        for frame in c.decode(video=0):
            if frame.pts in wanted:
                wanted[frame.pts] = frame.to_ndarray(format="bgr24").astype(np.int16)
    x1, y1, x2, y2 = target[1].box_xyxy.astype(int)
    diff = np.abs(wanted[target[0] - 1] - wanted[empty - 1]).mean(axis=2)
    inside = diff[y1:y2, x1:x2].mean()
    mask = np.ones_like(diff, bool)
    mask[max(0, y1 - 4):y2 + 4, max(0, x1 - 4):x2 + 4] = False
    for bs in [frames[target[0]]]:
        for b in bs:
            bx = b.box_xyxy.astype(int)
            mask[max(0, bx[1] - 4):bx[3] + 4, max(0, bx[0] - 4):bx[2] + 4] = False
    assert inside > 15, inside
    assert diff[mask].mean() < 3, diff[mask].mean()
