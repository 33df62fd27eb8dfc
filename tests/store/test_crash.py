"""Crash safety with real processes and SIGKILL.

Guards against: an associator killed mid-stream (OOM killer, power cut, kill -9) losing a
tracklet, link or identity it had already acknowledged upstream, leaving a row that points
at missing crop files, or leaving crop files that nothing references and that fill the disk.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from tastr_stream.store import Store
from tastr_stream.store.crops import CropFiles

from .synth import make_tracklet

WRITER = Path(__file__).with_name("crash_writer.py")
REPO = Path(__file__).resolve().parents[2]


def _start(store_dir: Path, mode: str, start: int = 0) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, str(WRITER), str(store_dir), mode, str(start)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=REPO)


def _read_until(proc: subprocess.Popen, n_tracklets: int, timeout_s: float) -> list[str]:
    """Lines from the writer until ``n_tracklets`` acks arrived; polls with a deadline."""
    lines: list[str] = []
    buf = b""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    try:
        while sum(1 for x in lines if x.startswith("T ")) < n_tracklets:
            left = deadline - time.monotonic()
            assert left > 0, f"writer too slow: {lines[-3:]}, stderr={proc.stderr.read1(4000)!r}"
            if not sel.select(timeout=left):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"writer exited early rc={proc.poll()} stderr={proc.stderr.read()!r}"
            buf += chunk
            *done, buf = buf.split(b"\n")
            lines += [d.decode() for d in done]
    finally:
        sel.close()
    return lines + _drain_after_kill(proc, buf)


def _drain_after_kill(proc: subprocess.Popen, buf: bytes) -> list[str]:
    """SIGKILL, then read every complete line the writer printed before it died: all are acks."""
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    *done, _partial = (buf + rest).split(b"\n")
    return [d.decode() for d in done]


def test_sigkill_mid_stream_loses_nothing_acknowledged(tmp_path):
    """Three kill/restart rounds; each restart redelivers from the first unacknowledged
    tracklet, so a tracklet committed but not acknowledged arrives twice."""
    lines: list[str] = []
    for _ in range(3):
        start = len({x.split()[1] for x in lines if x.startswith("T ")})
        lines += _read_until(_start(tmp_path, "loop", start), n_tracklets=12, timeout_s=60)
    acked_t = list(dict.fromkeys(x.split()[1] for x in lines if x.startswith("T ")))
    acked_l = [tuple(x.split()[1:]) for x in lines if x.startswith("L ")]
    acked_i = {x.split()[1]: int(x.split()[2]) for x in lines if x.startswith("I ")}
    assert len(acked_t) >= 36 and acked_l and acked_i

    with Store.open(tmp_path) as store:
        assert store.integrity_check() == []
        for tid in acked_t:
            i = int(tid.rsplit(":", 1)[1])
            want = make_tracklet(i, camera_id=f"cam{i % 3}", n_crops=4)
            got = store.get_tracklet(tid, with_crops=True)
            assert got is not None, f"acknowledged tracklet {tid} lost"
            assert got.crops_jpeg == want.crops_jpeg
            assert got.embedding.tobytes() == want.embedding.tobytes()
        links = {link.pair for link in store.links()}
        assert set(acked_l) <= links
        for tid, ident in acked_i.items():
            assert store.identity_of(tid) == ident
        stats = store.stats()
        # At most one tracklet committed whose ack line the kill cut off.
        assert len(acked_t) <= stats.tracklets <= len(acked_t) + 1
        # No orphan crop pack survives the open-time sweep.
        packs = [p for cam in (tmp_path / "crops").iterdir() for p in cam.iterdir()]
        assert len(packs) == stats.tracklets


def test_crash_between_crop_files_and_commit_leaves_no_row_and_no_orphan(tmp_path):
    proc = _start(tmp_path, "die_before_commit")
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    lost = make_tracklet(1)
    orphan = tmp_path / CropFiles(tmp_path).rel_path(lost.camera_id, lost.tracklet_id)
    assert orphan.is_file(), "the crash should have left tracklet 1's crops without a row"
    with Store.open(tmp_path) as store:      # the writer's open sweeps
        assert not orphan.exists()
        assert store.get_tracklet(lost.tracklet_id) is None
        assert store.crops(make_tracklet(0).tracklet_id) == list(make_tracklet(0).crops_jpeg)
        assert store.integrity_check() == []
        assert store.put_tracklet(lost) is True   # the upstream redelivery now succeeds
        assert store.crops(lost.tracklet_id) == list(lost.crops_jpeg)


def test_crash_during_eviction_keeps_history_and_sweeps_packs(tmp_path):
    proc = _start(tmp_path, "die_during_eviction")
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    assert len(list((tmp_path / "crops" / "cam1").iterdir())) == 4   # rows gone, packs not yet
    with Store.open(tmp_path) as store:
        assert not any((tmp_path / "crops" / "cam1").iterdir())
        sights = store.sightings(5)
        assert len(sights) == 4 and all(s.evicted and s.thumbnail_jpeg for s in sights)
        assert store.stats().tracklets == 0 and store.integrity_check() == []


def test_open_sweeps_planted_orphans_and_temp_files(tmp_path):
    with Store.open(tmp_path) as store:
        store.put_tracklet(make_tracklet(0))
        kept = tmp_path / store.crop_files.rel_path("cam1", make_tracklet(0).tracklet_id)
    cam = tmp_path / "crops" / "cam1"
    (cam / "deadbeef.crops").write_bytes(b"x")
    (cam / ".tmp-deadbeef.crops-123").write_bytes(b"y")
    (tmp_path / "crops" / "cam9").mkdir()
    (tmp_path / "crops" / "cam9" / "stray.jpg").write_bytes(b"y")
    with Store.open(tmp_path) as store:
        assert sorted(p.name for p in cam.iterdir()) == [kept.name]
        assert not any((tmp_path / "crops" / "cam9").iterdir())
        assert store.integrity_check() == []
