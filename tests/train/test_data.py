"""Training tracklet records and builders: image caps, lazy RGB reads, Campus-4K folders."""

import cv2
import numpy as np
import pytest

from tastr_stream.errors import DatasetError
from tastr_stream.train.data import (LazyImages, TrainTracklet, cap_images, fetch_images, from_campus4k,
                                     subsample_indices)


def _imgs(n, value=0, hw=(8, 4)):
    return [np.full((*hw, 3), value + i, np.uint8) for i in range(n)]


def test_cap_images_keeps_at_most_max_seeded_in_order():
    tracks = [TrainTracklet(f"cam1:{i}", "cam1", 0, 1, _imgs(100 if i else 10)) for i in range(3)]
    capped = cap_images(tracks, 60, seed=0)
    assert [t.num_images for t in capped] == [10, 60, 60]
    assert capped[0] is tracks[0]
    firsts = [int(im[0, 0, 0]) for im in capped[1].images]
    assert firsts == sorted(firsts) and len(set(firsts)) == 60
    again = cap_images(tracks, 60, seed=0)
    assert [int(im[0, 0, 0]) for im in again[1].images] == firsts
    assert len(subsample_indices(5, 60, np.random.default_rng(0))) == 5
    with pytest.raises(DatasetError, match="got 0"):
        subsample_indices(5, 0, np.random.default_rng(0))


def test_tracklet_validation_names_the_problem():
    with pytest.raises(DatasetError, match="cam1:x: no images"):
        TrainTracklet("cam1:x", "cam1", 0, 1, [])
    with pytest.raises(DatasetError, match="t_start_s <= t_end_s, got 5, 1"):
        TrainTracklet("cam1:x", "cam1", 5, 1, _imgs(1))


def test_lazy_images_read_rgb_and_fetch_resizes(tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / f"img_{i:05d}.png"
        bgr = np.zeros((20, 10, 3), np.uint8)
        bgr[..., 0] = 200          # blue in OpenCV's BGR
        cv2.imwrite(str(p), bgr)
        paths.append(p)
    lazy = LazyImages(paths)
    assert len(lazy) == 3 and len(lazy[1:]) == 2
    assert tuple(lazy[0][0, 0]) == (0, 0, 200)     # RGB: blue is last
    t = TrainTracklet("cam1:a", "cam1", 0, 1, lazy)
    batch = fetch_images([t], [(0, 0), (0, 2)], 16, 8)
    assert batch.shape == (2, 16, 8, 3) and batch.dtype == np.uint8
    assert (batch[..., 2] == 200).all()
    (tmp_path / "img_00001.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="img_00001.png: cannot read image"):
        lazy[1]


def test_fetch_rejects_non_uint8():
    t = TrainTracklet("cam1:a", "cam1", 0, 1, [np.zeros((8, 4, 3), np.float32)])
    with pytest.raises(DatasetError, match="cam1:a image 0: need uint8"):
        fetch_images([t], [(0, 0)], 8, 4)


def test_from_campus4k_tracklet_folders(tmp_path):
    root = tmp_path / "campus4k"
    for cam, name, first, n in (("cam1", "t001", 100, 70), ("cam1", "t002", 900, 10), ("cam2", "t001", 60_000, 70)):
        d = root / "tracklet" / cam / name
        d.mkdir(parents=True)
        for k in range(n):
            cv2.imwrite(str(d / f"img_{first + 3 * k:05d}.jpg"), np.full((16, 8, 3), 90, np.uint8))
    tracks = from_campus4k(root, max_images=60)
    # t002 is too short (< 60 images); cam2's starts after the Campus-4K split frame 46,410.
    assert [t.tracklet_id for t in tracks] == ["cam1:t001"]
    t = tracks[0]
    assert t.num_images == 60 and t.pid_gt == -1 and t.camera_id == "cam1"
    assert t.t_start_s == pytest.approx(100 / 30) and t.t_end_s == pytest.approx((100 + 3 * 69) / 30)
    assert t.images[0].shape == (16, 8, 3)
