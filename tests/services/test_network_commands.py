"""``tastr-stream demo`` and ``replay`` as a user runs them: real processes end to end.

Guards against: README's first command breaking, a network run that leaves daemons behind, and
a report that is missing or unreadable.
"""

from __future__ import annotations

import json
import subprocess
import sys

from .daemons import REPO


def run_cli(args, timeout_s=300):
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout_s)


def test_demo_runs_to_its_report(tmp_path):
    res = run_cli(["demo", "--out", str(tmp_path / "demo"), "--cameras", "3", "--people", "8", "--minutes", "0.4",
                   "--resolution", "320x180", "--fps", "10", "--speed", "3", "--detector", "oracle"])
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "[demo] report" in out and "tracklets stored" in out and "cross-camera pairs" in out
    stored = int(out.split("tracklets stored")[1].split()[0])
    assert stored > 0, out[-3000:]
    assert (tmp_path / "demo" / "store").exists() and (tmp_path / "demo" / "logs" / "associator.log").exists()
    daemons = {d["name"]: d for d in json.loads((tmp_path / "demo" / "daemons.json").read_text())}
    assert set(daemons) == {"associator", "trainer", "ingest-cam1", "ingest-cam2", "ingest-cam3"}
    assert "model versions swapped in" in out and "status --run" in out


def test_replay_plays_a_synthetic_world_as_a_live_network(tmp_path, small_world):
    res = run_cli(["replay", "--dataset", str(small_world), "--speed", "4", "--out", str(tmp_path / "replay"),
                   "--detector", "oracle"])
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "[replay] 3 cameras at 4.0x" in out and "[replay] report" in out
    assert int(out.split("tracklets stored")[1].split()[0]) > 0


def test_replay_rejects_a_folder_that_is_no_dataset(tmp_path):
    res = run_cli(["replay", "--dataset", str(tmp_path)])
    assert res.returncode == 2 and "neither a synthetic world" in res.stderr
