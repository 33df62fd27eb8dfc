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
    world = SyntheticWorld.open(small_world)
    other = world.video_path(world.camera_ids[1])
    refused = []

    def another_file(cfg, camera):
        """The killed camera's saved position with another file: one line naming both files, the
        position and the override; nothing read."""
        d = start_ingest(cfg, small_world, camera, tmp_path, "ingest-other", "--source", str(other))
        refused.append(d.proc.wait(timeout=120))
        log = d.log()
        d.stop()
        assert refused == [2] and "Traceback" not in log, log
        line = log.strip().splitlines()[-1]
        assert str(other) in line and str(world.video_path(camera)) in line and "--from-start" in line, line
        assert "was read up to frame" in line, line

    figures = kill_ingest(tmp_path, small_world, after_kill=another_file)
    assert refused == [2]
    assert figures.at_kill + figures.unspooled >= 3 and figures.stored > figures.at_kill, figures
    assert (figures.lost, figures.duplicated) == (0, 0), figures
