"""``tastr-stream train`` and ``evaluate`` end to end on real files, and their errors."""

import json
import subprocess
import sys

import pytest

from tastr_stream.cli import main

TOY = """
[toy_world]
seed = 1
walkers = 50
distractors = 6
duration_s = 1500.0
images_per_tracklet = 4
"""

CONFIG = """
[network]
cameras = [{id = "cam1"}, {id = "cam2"}]
paths = [{a = "cam1", b = "cam2", transfer_s = 60.0}]

[ingest.embed]
backbone = "tiny"
emb_dim = 32

[trainer]
backbone = "tiny"
emb_dim = 32
p = 4
k = 2
epochs_per_round = 1
image_height = 64
image_width = 32
rounds = 3
"""


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "toy.toml").write_text(TOY)
    (tmp_path / "cfg.toml").write_text(CONFIG)
    return tmp_path


def test_train_then_evaluate(files, capsys):
    out = files / "ckpt"
    rc = main(["train", "--dataset", str(files / "toy.toml"), "--config", str(files / "cfg.toml"),
               "--rounds", "1", "--out", str(out), "--device", "cpu", "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "round 0 (within)" in text and "round 1 (cross )" in text and "precision" in text
    rows = json.loads((out / "rounds.json").read_text())
    assert [r["round"] for r in rows] == [0, 1]
    assert (out / "reid-v000001.ckpt").is_file() and (out / "reid-v000001.config.json").is_file()
    rc = main(["evaluate", "--dataset", str(files / "toy.toml"), "--weights", str(out / "reid-v000001.ckpt"),
               "--device", "cpu", "--associate"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "rank-1" in text and "mAP" in text and "1-NN+STR+k-means" in text


def test_unknown_layout_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc = main(["evaluate", "--dataset", str(tmp_path / "empty"), "--weights", str(tmp_path / "none.ckpt")])
    assert rc == 2
    assert "none.ckpt" in capsys.readouterr().err
    rc = main(["train", "--dataset", str(tmp_path / "empty"), "--config", str(tmp_path / "missing.toml")])
    assert rc == 2 and "missing.toml" in capsys.readouterr().err


def test_market_folder_cannot_be_trained(files, tmp_path, capsys):
    for d in ("bounding_box_test", "query", "bounding_box_train"):
        (tmp_path / "market" / d).mkdir(parents=True)
    rc = main(["train", "--dataset", str(tmp_path / "market"), "--config", str(files / "cfg.toml")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "no camera network" in err or "naming style" in err


def test_subcommands_are_registered():
    out = subprocess.run([sys.executable, "-m", "tastr_stream.cli", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "train" in out.stdout and "evaluate" in out.stdout


def _write(path, value):
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros((32, 16, 3), np.uint8)
    img[:16] = value
    img[16:] = 255 - np.asarray(value)
    cv2.imwrite(str(path), img)


def _checkpoint(tmp_path):
    from tastr_stream.models import build_reid_model, save_checkpoint

    path = tmp_path / "w.ckpt"
    save_checkpoint(build_reid_model("tiny", 16, seed=0), path, 0,
                    meta={"config": {"trainer": {"image_height": 32, "image_width": 16}}})
    return path


COLOURS = {1: (200, 30, 30), 2: (30, 200, 30), 3: (30, 30, 200)}


def test_evaluate_market_style_folder(tmp_path, capsys):
    root = tmp_path / "market"
    (root / "bounding_box_train").mkdir(parents=True)
    for pid, colour in COLOURS.items():
        _write(root / "query" / f"{pid:04d}_c1s1_000{pid}51_01.jpg", colour)
        _write(root / "bounding_box_test" / f"{pid:04d}_c2s1_000{pid}61_01.jpg", colour)
        _write(root / "bounding_box_test" / f"{pid:04d}_c1s1_000{pid}71_01.jpg", colour)   # same camera: removed
    rc = main(["evaluate", "--dataset", str(root), "--weights", str(_checkpoint(tmp_path)), "--device", "cpu"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "market:market: 3 queries (0 without a match skipped), 6 gallery" in out and "rank-1" in out


def test_evaluate_campus4k_layout(tmp_path, capsys):
    root = tmp_path / "campus4k"
    for pid, colour in COLOURS.items():
        for split, cam in (("query", 1), ("gallery", 2)):
            for k in range(3):
                frame = 50_000 + 100 * pid + 3 * k
                name = f"{pid:04d}_C{cam}_F{frame:05d}_0001-0002-0100-0200.jpg"
                _write(root / split / f"{pid:04d}" / f"t{pid}" / name, colour)
    rc = main(["evaluate", "--dataset", str(tmp_path), "--weights", str(_checkpoint(tmp_path)), "--device", "cpu"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "3 queries (0 without a match skipped), 3 gallery" in out and "rank-1" in out


WORLD_SPEC = """
[synthetic_world]
cameras = 2
people = 16
distractors = 1
minutes = 1.5
resolution = [320, 180]
fps = 10
seed = 3
path_range_m = [10.0, 20.0]

[trainer]
backbone = "tiny"
emb_dim = 16
p = 2
k = 2
epochs_per_round = 1
image_height = 32
image_width = 16
max_images_per_tracklet = 4
rounds = 1
tsccc_gap_s = 1.0
# About ten steps a round: the default warm-up (20 steps) would leave this smoke run untrained.
warmup_steps = 0
"""


def test_world_spec_is_rendered_once_and_drives_the_table4_ablation(tmp_path, capsys, monkeypatch):
    """A [synthetic_world] spec renders into the cache on first use, its [trainer] table applies,
    and --table4 prints one row per method (TASTR-S1 + the four association variants)."""
    spec = tmp_path / "tiny_world.toml"
    spec.write_text(WORLD_SPEC)
    monkeypatch.setenv("TASTR_WORLD_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "ckpt"
    rc = main(["train", "--dataset", str(spec), "--table4", "--out", str(out), "--device", "cpu", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "backbone tiny" in text
    rows = [line for line in (out / "table4.md").read_text().splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split("|")[1].strip() for r in rows[1:]] == [
        "TASTR-S1 (TSCCC)", "NN-CCTA 1-NN", "NN-CCTA 1-NN+k-means", "NN-CCTA 1-NN+STR", "NN-CCTA 1-NN+STR+k-means"]
    world = tmp_path / "cache" / "tiny_world"
    assert (world / "world.json").is_file()
    mtime = (world / "world.json").stat().st_mtime_ns
    from tastr_stream.train.sources import load_experiment

    load_experiment(spec, max_images=4, crop_hw=(32, 16))
    assert (world / "world.json").stat().st_mtime_ns == mtime      # reused, not re-rendered


def test_world_spec_with_an_unknown_key_names_it(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text("[synthetic_world]\ncameras = 2\ncolour = 'red'\n")
    rc = main(["train", "--dataset", str(spec), "--device", "cpu"])
    assert rc == 2 and "colour" in capsys.readouterr().err
