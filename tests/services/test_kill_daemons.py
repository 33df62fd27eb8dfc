"""SIGKILL each daemon mid-stream, restart it, and count the store's rows against what had been
acknowledged (scenarios in ``kills.py``; ``benchmarks/bench_kill.py`` runs them repeatedly).

Guards against (issue 13): acknowledged tracklets lost when the associator is killed; an ingest
restarted on a file reading it from frame 0 and publishing every person-visit a second time under
a new session; a restart on another file silently continuing at the old file's position.
"""

from __future__ import annotations

from pathlib import Path

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


def test_trainer_killed_mid_round_restarts_and_trains_the_next_version(tmp_path, small_world):
    """Guards against (issue 13): a trainer killed in the middle of a round leaving a version that
    is announced but unreadable, a stale temporary file of a write it never finished, a version
    skipped or reused after the restart, or an associator that never gets a model again."""
    import tomllib
    import urllib.request

    from tastr_stream.models import sha256_file
    from tastr_stream.wire.rpc import RpcClient

    from .daemons import Daemon, endpoints, wait_until, write_toml
    from .test_live_loop import ONE_THREAD, kv_of, log_lines, loop_config, start_associator, start_ingest

    eps = endpoints()
    cfg = loop_config(tmp_path, small_world, eps)
    data = tomllib.loads(cfg.read_text())
    ckpt = Path(data["trainer"]["checkpoint_dir"])
    long_round = {**data, "trainer": {**data["trainer"], "epochs_per_round": 1000, "max_batches_per_round": 0}}
    write_toml(cfg, long_round)                     # the first round runs until it is killed
    client = RpcClient(eps["lookup"])
    daemons: list[Daemon] = []

    def start_trainer(name: str) -> tuple[Daemon, dict]:
        ready = tmp_path / f"{name}.ready.json"
        d = Daemon(["trainer", "--config", str(cfg), "--ready-file", str(ready)], tmp_path / f"{name}.log", ONE_THREAD)
        daemons.append(d)
        return d, d.wait_file(ready)

    def in_round(port: int) -> bool:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        return "tastr_trainer_round_in_progress 1.0" in text

    try:
        assoc, _ = start_associator(cfg, tmp_path)
        daemons.append(assoc)
        trainer, info = start_trainer("trainer")
        daemons += [start_ingest(cfg, small_world, cam, tmp_path)[0] for cam in ("cam2", "cam3")]
        wait_until(lambda: in_round(info["metrics_port"]), 120, "the first round to start", *daemons)
        trainer.kill()
        daemons.remove(trainer)
        assert not list(ckpt.glob("reid-v*.ckpt")), "a killed round announced nothing and left no version"
        torn = ckpt / ".reid-v000001.ckpt.tmp-99999-dead"        # as a kill mid-write leaves it
        ckpt.mkdir(parents=True, exist_ok=True)
        torn.write_bytes(b"TASTRCKPT half a checkpoint")

        write_toml(cfg, data)                        # restarted with a small round budget
        trainer2, info2 = start_trainer("trainer-restarted")
        assert info2["model_version"] == 0 and not torn.exists()
        assert log_lines(trainer2, "unfinished checkpoint writes removed")
        announced = wait_until(lambda: log_lines(trainer2, "weights announced"), 120,
                               "a round after the restart", *daemons)
        v = kv_of(announced[0])
        assert v["version"] == "1" and sha256_file(v["path"]) == v["sha256"]   # the next version, not a gap
        wait_until(lambda: client.call({"op": "stats"})["model_version"] >= 1, 60,
                   "the associator to take the new model", *daemons)
    finally:
        client.close()
        codes = {d.log_path.name: d.stop() for d in reversed(daemons) if d.proc.poll() is None}
    assert all(c == 0 for c in codes.values()), codes
