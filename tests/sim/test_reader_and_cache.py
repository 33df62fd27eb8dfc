"""Opening worlds: clear errors for broken folders, and reuse of a cached render.

Guards against: a crashed render (no world.json) being read as a world, a deleted ground-truth
file surfacing as a numpy traceback deep in an evaluation, and the demo re-rendering minutes
of video on every start.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tastr_stream.cli import main as cli_main
from tastr_stream.datasets.synthetic import SyntheticWorld
from tastr_stream.errors import DatasetError
from tastr_stream.sim import ensure_world, render_world

from .conftest import TINY

SMALL = dict(TINY, people=3, distractors=1, minutes=0.2, workers=1, video=False, progress=False)
CLI = [str(Path(sys.executable).parent / "tastr-stream"), "sim"]


def _copy(world: Path, dst: Path) -> Path:
    shutil.copytree(world, dst)
    return dst


def test_missing_files_raise_dataset_error_naming_them(tiny_world, tmp_path):
    w = _copy(tiny_world, tmp_path / "no_json")
    (w / "world.json").unlink()
    with pytest.raises(DatasetError, match="world.json"):
        SyntheticWorld.open(w)
    w = _copy(tiny_world, tmp_path / "no_gt")
    (w / "gt" / "cam2.txt").unlink()
    with pytest.raises(DatasetError, match="cam2.txt"):
        SyntheticWorld.open(w).gt_frames("cam2")
    w = _copy(tiny_world, tmp_path / "no_video")
    (w / "videos" / "cam1.mp4").unlink()
    with pytest.raises(DatasetError, match="cam1.mp4"):
        SyntheticWorld.open(w)
    w = _copy(tiny_world, tmp_path / "bad_version")
    meta = json.loads((w / "world.json").read_text())
    (w / "world.json").write_text(json.dumps(meta | {"version": 99}))
    with pytest.raises(DatasetError, match="version 99"):
        SyntheticWorld.open(w)
    with pytest.raises(DatasetError, match="cam9"):
        SyntheticWorld.open(tiny_world).gt_frames("cam9")


def test_ensure_world_reuses_then_force_rerenders(tmp_path):
    out = ensure_world(tmp_path / "w", **SMALL)
    stamp = (out / "world.json").stat().st_mtime_ns
    assert ensure_world(tmp_path / "w", **SMALL) == out
    assert (out / "world.json").stat().st_mtime_ns == stamp
    ensure_world(tmp_path / "w", force=True, **SMALL)
    assert (out / "world.json").stat().st_mtime_ns != stamp
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_render_refuses_to_replace_unrelated_folder(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not a synthetic world"):
        render_world(tmp_path / "data", **SMALL)
    assert (tmp_path / "data" / "precious.txt").read_text() == "keep me"


def test_console_script_rejects_bad_resolution(tmp_path):
    """The installed ``tastr-stream`` entry point, in a real process: one line, exit code 2."""
    res = subprocess.run([*CLI, "--out", str(tmp_path / "w"), "--resolution", "640by360"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "WIDTHxHEIGHT" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "w").exists()


def _cli(capsys, *args: str) -> tuple[int, str]:
    rc = cli_main(["sim", *args])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--resolution", "4096x2160"], "3840x2160"),
    (["--cameras", "1"], "at least 2 cameras"),
    (["--resolution", "641x360"], "even"),
    (["--path-range", "40"], "MIN,MAX"),
    (["--speed-range", "fast"], "speed range"),
    (["--detour-prob", "1.5"], "detour_prob"),
])
def test_cli_rejects_bad_arguments(tmp_path, capsys, args, message):
    rc, err = _cli(capsys, "--out", str(tmp_path / "w"), *args)
    assert rc == 2, err
    assert message in err
    assert not (tmp_path / "w").exists()


def test_cli_renders_then_reuses(tmp_path, capsys):
    args = ["--out", str(tmp_path / "w"), "--cameras", "2", "--people", "2", "--minutes", "0.1",
            "--resolution", "160x90", "--path-range", "12,30", "--workers", "1"]
    rc, err = _cli(capsys, *args)
    assert rc == 0, err
    SyntheticWorld.open(tmp_path / "w")
    rc, err = _cli(capsys, *args)
    assert rc == 0 and "reusing" in err, err
    rc, err = _cli(capsys, *args, "--seed", "5")
    assert rc == 2 and "--force" in err, err


def test_cli_realism_flags_reach_the_world(tmp_path, capsys):
    """The realism fields of configs/world_quality.toml, from the command line."""
    import json

    args = ["--out", str(tmp_path / "w"), "--cameras", "3", "--people", "4", "--minutes", "0.2", "--no-video",
            "--resolution", "160x90", "--path-range", "12,30", "--workers", "1", "--speed-std", "0.2",
            "--speed-range", "0.8,1.9", "--detour-prob", "0.5", "--path-error", "0.3", "--path-error-fraction", "1"]
    rc, err = _cli(capsys, *args)
    assert rc == 0, err
    spec = json.loads((tmp_path / "w" / "world.json").read_text())["args"]
    assert spec["speed_std_mps"] == 0.2 and spec["speed_range_mps"] == [0.8, 1.9] and spec["detour_prob"] == 0.5
    assert spec["path_error"] == 0.3 and (tmp_path / "w" / "network_true.toml").is_file()
