"""Campus-4K reader on a tiny fake tree of real JPEG files.

Guards against: the training set silently taking tracklets that start at or after the split
frame (test identities leaking into training), short tracklets kept, a malformed file name
parsed into garbage instead of stopping with the file's path, and a network whose transfer
times differ from the authors' path matrix.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tastr_stream.config import load_config
from tastr_stream.datasets.campus4k import (CAMPUS4K_PATH_LENGTHS_M, campus4k_network, find_videos,
                                            load_campus4k, network_from_path_matrix, parse_image_name,
                                            read_labelled, read_training_tracklets)
from tastr_stream.errors import DatasetError
from tastr_stream.eval import campus4k_split

REPO = Path(__file__).resolve().parents[2]
PIXELS = np.random.default_rng(0).integers(0, 255, size=(8, 4, 3), dtype=np.uint8)


def jpg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), PIXELS)
    return path


def labelled_name(pid: int, cam: int, frame: int, box=(3047, 1034, 270, 721)) -> str:
    return f"{pid:04d}_C{cam}_F{frame:05d}_" + "-".join(f"{v:04d}" for v in box) + ".jpg"


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("c4k")
    c = root / "campus4k"
    for k in range(60):                                     # kept: 60 images, frames 0..177
        jpg(c / "tracklet/cam1/t001" / f"img_{3 * k:05d}.jpg")
    for k in range(59):                                     # skipped: 59 images
        jpg(c / "tracklet/cam1/t002" / f"img_{3 * k:05d}.jpg")
    for k in range(60):                                     # skipped: starts at the split frame
        jpg(c / "tracklet/cam2/t010" / f"img_{46410 + 3 * k:05d}.jpg")
    for k in range(60):                                     # kept: full names, starts just before it
        jpg(c / "tracklet/cam2/t011" / labelled_name(0, 2, 46407 + 3 * k))
    for frame in (900, 903, 906):
        jpg(c / "query/0005/tA" / labelled_name(5, 3, frame))
    for frame in (1500, 1503):
        jpg(c / "gallery/0005/tB" / labelled_name(5, 4, frame, (10, 20, 30, 40)))
    jpg(c / "gallery/0007/tC" / labelled_name(7, 1, 2000))
    (c / "query/0005/tA/Thumbs.db").write_bytes(b"x")         # non-jpg files are ignored
    (c / "videos").mkdir()
    (c / "videos/cam1.mp4").write_bytes(b"")
    (c / "videos/cam3.mp4").write_bytes(b"")
    return root


def test_parse_image_name():
    r = parse_image_name("/x/0001_C1_F00423_3047-1034-0270-0721.jpg")
    assert (r.pid, r.camera_id, r.frame, r.box_xywh) == (1, "cam1", 423, (3047, 1034, 270, 721))
    assert r.t_s == pytest.approx(423 / 30)


@pytest.mark.parametrize("name", [
    "0001_C1_F423_3047-1034-0270-0721.jpg",     # frame too short
    "0001_C1_F00423_3047-1034-0270.jpg",        # box has 3 values
    "0001_c1_F00423_3047-1034-0270-0721.jpg",   # lower-case camera
    "0001_C0_F00423_3047-1034-0270-0721.jpg",   # camera 0
    "0001_C1_F00423_3047-1034-0000-0721.jpg",   # empty box
    "0001_C1_F00423_3047-1034-0270-0721.png",
])
def test_malformed_names_raise_naming_the_file(name):
    with pytest.raises(DatasetError, match=name.replace(".", r"\.")):
        parse_image_name(Path("/d") / name)


def test_load_tree(tree):
    for root in (tree, tree / "campus4k"):
        ds = load_campus4k(root)
        assert ds.root == tree / "campus4k"
        assert [t.tracklet_id for t in ds.train] == ["cam1:t001", "cam2:t011"]
        t1 = ds.train[0]
        assert t1.pid == -1 and t1.camera_id == "cam1" and t1.boxes_xywh is None
        assert t1.frames == tuple(range(0, 180, 3)) and len(t1.image_paths) == 60
        assert t1.t_end_s == pytest.approx(177 / 30)
        assert ds.train[1].first_frame == 46407
        assert [t.tracklet_id for t in ds.query] == ["query:0005/tA"]
        q = ds.query[0]
        assert (q.pid, q.camera_id, q.frames) == (5, "cam3", (900, 903, 906))
        assert [t.tracklet_id for t in ds.gallery] == ["gallery:0005/tB", "gallery:0007/tC"]
        assert ds.gallery[0].boxes_xywh == ((10, 20, 30, 40),) * 2
        assert ds.videos == {"cam1": tree / "campus4k/videos/cam1.mp4", "cam3": tree / "campus4k/videos/cam3.mp4"}


def test_training_filters_are_configurable(tree):
    ids = [t.tracklet_id for t in read_training_tracklets(tree, min_images=59, split_frame=None)]
    assert ids == ["cam1:t001", "cam1:t002", "cam2:t010", "cam2:t011"]


def test_labelled_metas_feed_the_protocol(tree):
    ds = load_campus4k(tree)
    s = campus4k_split([t.meta() for t in ds.query + ds.gallery], split_frame=0)
    assert s.test_pids == {5} and s.distractor_pids == {7}
    assert len(s.query) == 1 and len(s.gallery) == 2


def test_find_videos_with_a_custom_pattern(tmp_path):
    jpg(tmp_path / "query/0001/t/" / labelled_name(1, 1, 3))
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw/C2_full.mkv").write_bytes(b"")
    assert find_videos(tmp_path, ["raw/C{index}_full.mkv"]) == {"cam2": tmp_path / "raw/C2_full.mkv"}


@pytest.mark.parametrize("rel,match,named", [
    ("gallery/0003/t/0003_C1_F00010_0001-0001-0001.jpg", "not a Campus-4K image name", "file"),
    ("gallery/0003/t/0004_C1_F00010_0001-0001-0001-0001.jpg", "names another person than folder 0003", "tracklet"),
    ("gallery/abc/t/0003_C1_F00010_0001-0001-0001-0001.jpg", "identity folder name is not an integer", "pid"),
    ("tracklet/cam1/t/0003_C2_F00010_0001-0001-0001-0001.jpg", "name says cam2 but the folder is cam1", "file"),
    ("tracklet/cam1/t/frame10.jpg", "no frame index in the name", "file"),
])
def test_malformed_tree_raises_with_path(tmp_path, rel, match, named):
    bad = jpg(tmp_path / rel)
    jpg(tmp_path / "query/0001/t" / labelled_name(1, 1, 3))
    with pytest.raises(DatasetError, match=match) as e:
        load_campus4k(tmp_path, min_images=1)
    offending = {"file": bad, "tracklet": bad.parent, "pid": bad.parent.parent}[named]
    assert str(e.value).startswith(f"{offending}: ")


def test_tracklet_spanning_cameras_and_duplicate_frames(tmp_path):
    jpg(tmp_path / "query/0001/t" / labelled_name(1, 1, 3))
    jpg(tmp_path / "query/0001/t" / labelled_name(1, 2, 6))
    with pytest.raises(DatasetError, match=r"spans cameras \['cam1', 'cam2'\]"):
        read_labelled(tmp_path, "query")
    jpg(tmp_path / "gallery/0001/t" / labelled_name(1, 1, 3))
    jpg(tmp_path / "gallery/0001/t" / labelled_name(1, 1, 3, (1, 1, 1, 1)))
    with pytest.raises(DatasetError, match=r"frame\(s\) \[3\]"):
        read_labelled(tmp_path, "gallery")


def test_not_a_campus4k_folder(tmp_path):
    with pytest.raises(DatasetError, match=f"{tmp_path}: not a Campus-4K folder"):
        load_campus4k(tmp_path)


def test_network_matches_the_path_matrix():
    net = campus4k_network()
    assert net.camera_ids == [f"cam{i}" for i in range(1, 7)]
    for i in range(6):
        for j in range(6):
            if i != j:
                assert net.mean_transfer_s(f"cam{i + 1}", f"cam{j + 1}") == pytest.approx(
                    CAMPUS4K_PATH_LENGTHS_M[i][j] / 1.25)
    assert net.mean_transfer_s("cam1", "cam6") == pytest.approx(196.0)
    assert net.mean_transfer_s("cam3", "cam2") == pytest.approx(40.0)


def test_asymmetric_matrix_is_rejected():
    m = [list(r) for r in CAMPUS4K_PATH_LENGTHS_M]
    m[1][2] = 51
    with pytest.raises(DatasetError, match="cam2-cam3 is 51 but cam3-cam2 is 50"):
        network_from_path_matrix([f"cam{i}" for i in range(1, 7)], m, 1.25, "x")


def test_campus4k_config_file_has_the_same_network():
    cfg = load_config(REPO / "configs/campus4k.toml")
    assert cfg.network == campus4k_network()
    assert cfg.network.transfer_matrix_s() == campus4k_network().transfer_matrix_s()
