"""Market-1501 / DukeMTMC-reID crop folders.

Guards against: junk crops (pid -1) entering an evaluation, a renamed or foreign file parsed
into a wrong identity instead of an error naming it, and Market's per-sequence frame numbers
being confused with Duke's synchronised ones.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from tastr_stream.datasets.market import load_market_style, parse_crop_name, pids_and_cameras
from tastr_stream.errors import DatasetError
from tastr_stream.eval import evaluate_rank

PIXELS = np.full((8, 4, 3), 127, dtype=np.uint8)


def jpg(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), PIXELS)


def make_tree(root: Path, files: dict[str, list[str]]) -> Path:
    for folder, names in files.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for n in names:
            jpg(root / folder / n)
    return root


MARKET = {
    "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000301_01.jpg", "0007_c3s2_012345_02.jpg"],
    "query": ["0005_c1s1_001051_00.jpg", "0009_c2s1_000100_00.jpg"],
    "bounding_box_test": ["0005_c2s1_002001_01.jpg", "0005_c1s1_001101_00.jpg", "0009_c3s3_000200_04.jpg",
                          "0000_c4s1_000010_01.jpg", "-1_c1s1_000401_03.jpg"],
}


def test_parse_market_and_duke_names():
    m = parse_crop_name("0002_c1s1_000451_03.jpg")
    assert (m.pid, m.camera_id, m.sequence, m.frame, m.box_index, m.style) == (2, "cam1", 1, 451, 3, "market")
    j = parse_crop_name("-1_c6s4_000001_00.jpg")
    assert j.is_junk and not j.is_distractor
    assert parse_crop_name("0000_c1s1_000001_00.jpg").is_distractor
    d = parse_crop_name("0001_c2_f0046182.jpg")
    assert (d.pid, d.camera_id, d.frame, d.sequence, d.style) == (1, "cam2", 46182, None, "duke")
    assert parse_crop_name("0001_c8_f0046182.jpg").camera_id == "cam8"
    # As published: the official Market-1501 release has a few doubled extensions.
    dd = parse_crop_name("1488_c1s6_023021_00.jpg.jpg")
    assert (dd.pid, dd.camera_id, dd.sequence, dd.frame, dd.box_index) == (1488, "cam1", 6, 23021, 0)


@pytest.mark.parametrize("name", ["0002_c7s1_000451_03.jpg", "0001_c9_f0046182.jpg", "0002_c1s1_451_03.jpg",
                                  "2_c1s1_000451_03.jpg", "0001_c2_f46182.jpg", "0001_C2_f0046182.jpg",
                                  "0002_c1s1_000451_03.jpg.png.jpg"])
def test_malformed_names_raise(name):
    with pytest.raises(DatasetError, match=name.replace(".", r"\.")):
        parse_crop_name(name)


def test_market_tree(tmp_path):
    (tmp_path / "query").mkdir()
    (tmp_path / "query/Thumbs.db").write_bytes(b"x")
    (tmp_path / "bounding_box_train").mkdir()
    cv2.imwrite(str(tmp_path / "bounding_box_train/1488_c1s6_023021_00.jpg.jpg"), np.zeros((128, 64, 3), np.uint8))
    ds = load_market_style(make_tree(tmp_path, MARKET))
    assert any(r.path.name.endswith(".jpg.jpg") and r.pid == 1488 for r in ds.train), "the release as published"
    ds = dataclasses.replace(ds, train=[r for r in ds.train if r.pid != 1488])
    assert ds.style == "market"
    assert [r.path.name for r in ds.train] == sorted(MARKET["bounding_box_train"])
    assert len(ds.query) == 2 and len(ds.gallery) == 4, "junk dropped"
    assert sum(r.is_distractor for r in ds.gallery) == 1
    assert len(load_market_style(tmp_path, keep_junk=True).gallery) == 5
    # the arrays plug into evaluate_rank: q 0005/c1 must skip g 0005/c1 and match g 0005/c2
    q_pids, q_cams = pids_and_cameras(ds.query)
    g_pids, g_cams = pids_and_cameras(ds.gallery)
    d = (q_pids[:, None] != g_pids[None, :]).astype(float)
    r = evaluate_rank(d, q_pids, g_pids, q_cams, g_cams, max_rank=4)
    assert r.num_valid_queries == 2 and r.rank(1) == 1.0 and r.mAP == 1.0


def test_duke_tree(tmp_path):
    ds = load_market_style(make_tree(tmp_path, {
        "bounding_box_train": ["0001_c2_f0046182.jpg", "0001_c5_f0061234.jpg"],
        "query": ["0005_c1_f0000100.jpg"],
        "bounding_box_test": ["0005_c8_f0000900.jpg", "0006_c1_f0000100.jpg"],
    }))
    assert ds.style == "duke" and [r.camera_id for r in ds.gallery] == ["cam8", "cam1"]


def test_missing_folder_and_mixed_styles(tmp_path):
    make_tree(tmp_path, {"query": ["0005_c1_f0000100.jpg"], "bounding_box_test": ["0005_c1s1_000001_00.jpg"]})
    with pytest.raises(DatasetError, match=r"missing \['bounding_box_train'\]"):
        load_market_style(tmp_path)
    make_tree(tmp_path, {"bounding_box_train": ["0001_c2_f0046182.jpg"]})
    with pytest.raises(DatasetError, match=r"one naming style.*\['duke', 'market'\]"):
        load_market_style(tmp_path)
    jpg(tmp_path / "query/0001_c2s1_000001_00.jpg")
    with pytest.raises(DatasetError, match="query: mixes Market-1501 and DukeMTMC-reID"):
        load_market_style(tmp_path)


def test_bad_file_in_tree_names_it(tmp_path):
    make_tree(tmp_path, {k: list(v) for k, v in MARKET.items()})
    jpg(tmp_path / "query/copy of 0005_c1s1_001051_00.jpg")
    with pytest.raises(DatasetError, match="copy of 0005_c1s1_001051_00.jpg"):
        load_market_style(tmp_path)
