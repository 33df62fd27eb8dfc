"""SIGKILL each daemon mid-stream, restart it, and count the store's rows against what had been
acknowledged (scenarios in ``kills.py``; ``benchmarks/bench_kill.py`` runs them repeatedly).

Guards against (issue 13): acknowledged tracklets lost when the associator is killed; an ingest
restarted on a file reading it from frame 0 and publishing every person-visit a second time under
a new session; a restart on another file silently continuing at the old file's position.
"""

from __future__ import annotations

import pytest

from tastr_stream.datasets.synthetic import SyntheticWorld

from .kills import kill_associator, kill_ingest, start_ingest


@pytest.mark.slow   # CI covers the associator's kill in test_associator_daemon; the benchmark runs this
def test_associator_killed_mid_stream_loses_and_repeats_nothing(tmp_path):
    figures = kill_associator(tmp_path)
    assert 0 < figures.at_kill < figures.acknowledged == figures.stored, figures
    assert (figures.lost, figures.duplicated) == (0, 0), figures


def test_ingest_killed_mid_file_resumes_and_repeats_no_visit(tmp_path, small_world):
    figures = kill_ingest(tmp_path, small_world)
    assert figures.at_kill >= 3 and figures.stored > figures.at_kill, figures
    assert (figures.lost, figures.duplicated) == (0, 0), figures

    # The same spool state with another file: one line naming both files, the position, the override.
    world = SyntheticWorld.open(small_world)
    cfg = tmp_path / "world.toml"
    other = world.video_path(world.camera_ids[1])
    d = start_ingest(cfg, small_world, world.camera_ids[0], tmp_path, "ingest-other", "--source", str(other))
    assert d.proc.wait(timeout=120) == 2, d.log()
    assert "Traceback" not in d.log(), d.log()
    line = d.log().strip().splitlines()[-1]
    assert str(other) in line and str(world.video_path(world.camera_ids[0])) in line
    assert "read to the end" in line and "--from-start" in line, line
    d.stop()
