"""Kill a daemon mid-stream and count what survived: shared by the kill tests and ``benchmarks/bench_kill.py``.

Each scenario runs real daemons on loopback (``daemons.Daemon``), SIGKILLs one of them while
tracklets flow, restarts it and lets the stream finish, then counts rows in the associator's
store (read-only SQLite) against what had been acknowledged:

- **lost**: tracklets acknowledged (by the associator, or for an ingest: committed to its spool
  before the kill) that are not in the store at the end;
- **duplicated**: for the associator, stored rows beyond one per sent tracklet; for an ingest,
  stored tracklets that repeat a person-visit already stored (the same ground-truth person in the
  same camera at overlapping times, see :func:`duplicate_visits`), whatever their ids.
"""

from __future__ import annotations

import collections
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tastr_stream.eval.gt_match import majority_pid
from tastr_stream.store.schema import DB_NAME
from tastr_stream.wire.spool import DiskSpool


@dataclass(frozen=True)
class KillFigures:
    daemon: str
    acknowledged: int       # acknowledged (or committed) before the kill
    stored: int             # rows in the store at the end
    lost: int
    duplicated: int
    at_kill: int            # of those, acknowledged (associator) or committed (ingest) before the kill
    # ingest: tracklets its saved position counted as committed that never reached the spool: killed
    # between the write-ahead of the position and the spool write (lost by design, never repeated)
    unspooled: int = 0


def duplicate_visits(tracklets, gt_frames: dict, fps: float, min_share: float = 0.6) -> int:
    """Tracklets that repeat a person-visit already published: the same ground-truth person in the
    same camera at overlapping times (one person is never in two tracklets at once: a tracker's
    fragments of one visit follow each other). Tracklets that follow nobody are not counted."""
    spans: dict[tuple[str, int], list[tuple[float, float]]] = collections.defaultdict(list)
    for t in tracklets:
        pid, share = majority_pid(gt_frames, fps, t)
        if pid >= 0 and share >= min_share:
            spans[(t.camera_id, pid)].append((float(t.t_start_s), float(t.t_end_s)))
    repeats = 0
    for visits in spans.values():
        visits.sort()
        seen_until = -np.inf
        for start, end in visits:
            if start < seen_until:
                repeats += 1
            seen_until = max(seen_until, end)
    return repeats


def stored_tracklets(store_dir: Path, camera_id: str | None = None) -> list[SimpleNamespace]:
    """Every stored tracklet (id, camera, times, boxes), read-only."""
    conn = sqlite3.connect(f"file:{Path(store_dir) / DB_NAME}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id, camera_id, t_start_s, t_end_s, frame_times, boxes FROM tracklets").fetchall()
    finally:
        conn.close()
    return [SimpleNamespace(tracklet_id=i, camera_id=c, t_start_s=t0, t_end_s=t1,
                            frame_times_s=np.frombuffer(ft, "<f8"), boxes_xyxy=np.frombuffer(bx, "<f4").reshape(-1, 4))
            for i, c, t0, t1, ft, bx in rows if camera_id is None or c == camera_id]


# ---- real daemons -------------------------------------------------------------------------------
EMB_DIM = 16
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}   # 2 shared cores


def world_config(tmp: Path, world_dir: Path, eps: dict, **sections) -> Path:
    """An associator and ingest config on a rendered world (oracle detector, tiny model)."""
    from ..conftest import network_section
    from .daemons import write_toml

    return write_toml(tmp / "world.toml", {
        "network": network_section(world_dir),
        "endpoints": eps,
        "model": {"backbone": "tiny", "emb_dim": EMB_DIM},
        "ingest": {"metrics_port_base": 0, "detect": {"backend": "oracle", "oracle_box_noise": 0.01},
                   "embed": {"batch_size": 16, "device": "cpu"}, "spool": {"dir": str(tmp / "spool")}},
        "associator": {"store_dir": str(tmp / "store"), "metrics_port": 0,
                       "window": {"window_s": 100000.0, "allowed_lateness_s": 80000.0}},
        **sections,
    })


def start_associator(cfg: Path, tmp: Path, name: str = "assoc"):
    from .daemons import Daemon

    ready = tmp / f"{name}.ready.json"
    ready.unlink(missing_ok=True)
    d = Daemon(["associator", "--config", str(cfg), "--ready-file", str(ready)], tmp / f"{name}.log", ONE_THREAD)
    return d, d.wait_file(ready)


def start_ingest(cfg: Path, world_dir: Path, camera: str, tmp: Path, name: str, *extra: str):
    from .daemons import Daemon

    return Daemon(["ingest", "--config", str(cfg), "--camera", camera, "--world", str(world_dir),
                   "--metrics-port", "0", *extra], tmp / f"{name}.log", ONE_THREAD)


def wait_for(cond, timeout_s: float, what: str, *daemons):
    """``daemons.wait_until`` where any exit of a watched daemon is a failure (they are killed, not ended)."""
    from .daemons import wait_until

    return wait_until(cond, timeout_s, what, *daemons, clean_exit_ok=False)


def spooled_ids(spool_dir: Path) -> set[str]:
    """Ids waiting in a spool folder (names ``<seq>-<id>.msg``)."""
    return {p.name.split("-", 1)[1][:-len(".msg")] for p in Path(spool_dir).glob("*.msg")}


def kill_ingest(tmp: Path, world_dir: Path, camera: str | None = None, at_fraction: float = 0.5,
                from_start: bool = False, after_kill=None) -> KillFigures:
    """An ingest reading a file, SIGKILLed once its saved position passed ``at_fraction`` of the
    file, restarted on the same file: it resumes, and the store ends with every tracklet it had
    committed (acknowledged, or in its spool) and no person-visit twice. ``from_start`` restarts
    with ``--from-start``, as every restart behaved before the position was kept; ``after_kill(cfg,
    camera)`` runs between the kill and the restart."""
    from tastr_stream.datasets.synthetic import SyntheticWorld
    from tastr_stream.pipeline.resume import STATE_NAME

    from .daemons import endpoints

    world = SyntheticWorld.open(world_dir)
    camera = camera or world.camera_ids[0]
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = world_config(tmp, world_dir, endpoints())
    spool = tmp / "spool" / camera
    assoc, _ = start_associator(cfg, tmp)
    try:
        ingest = start_ingest(cfg, world_dir, camera, tmp, "ingest")

        def position() -> dict:
            try:
                return json.loads((spool / STATE_NAME).read_text())
            except (FileNotFoundError, ValueError):
                return {}

        wait_for(lambda: position().get("committed", 0) >= 3
                 and position().get("resume_frame", 0) >= at_fraction * world.num_frames,
                 240, "ingest progress", ingest, assoc)
        ingest.kill()
        ingest.stop()
        at_kill = position()
        # The spool first (frozen now), then the store (still committing what was in flight).
        committed = spooled_ids(spool) | {t.tracklet_id for t in stored_tracklets(tmp / "store", camera)}
        if after_kill is not None:
            after_kill(cfg, camera)
        again = start_ingest(cfg, world_dir, camera, tmp, "ingest-restarted", *(["--from-start"] if from_start else []))
        assert again.proc.wait(timeout=300) == 0, again.log()
        assert from_start or f"resume_frame={at_kill['resume_frame']}" in again.log(), again.log()
        assert not spooled_ids(spool), "the restarted ingest delivers its whole spool"
        again.stop()
    finally:
        code = assoc.stop()
    assert code == 0, assoc.log()
    stored = stored_tracklets(tmp / "store", camera)
    ids = {t.tracklet_id for t in stored}
    return KillFigures("ingest --from-start" if from_start else "ingest", len(committed | ids), len(stored),
                       len(committed - ids), duplicate_visits(stored, world.gt_frames(camera), world.fps),
                       len(committed), max(0, at_kill.get("committed", 0) - len(committed)))


class _RecordingSpool(DiskSpool):
    """A spool that remembers which ids were acknowledged (every ``ack`` here is one: the bound is
    never reached and ids are never replaced)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.acked: list[str] = []

    def ack(self, msg_id: str) -> bool:
        if super().ack(msg_id):
            self.acked.append(msg_id)
            return True
        return False


def kill_associator(tmp: Path, seed: int = 3, n_ids: int = 30) -> KillFigures:
    """The associator SIGKILLed once a quarter of a stream is acknowledged, with the rest of its first
    half in flight or queued and its second half sent while it is down; restarted, it must hold every acknowledged tracklet and store each sent one once."""
    from tastr_stream.wire import encode
    from tastr_stream.wire.channels import ReliableSender

    from ..associate.world import CAMERAS, TRANSFER_S, make_world
    from .daemons import endpoints, write_toml
    from .test_associator_daemon import as_tracklet

    tmp.mkdir(parents=True, exist_ok=True)
    eps = endpoints()
    cfg = write_toml(tmp / "assoc.toml", {
        "network": {"cameras": [{"id": c} for c in CAMERAS],
                    "paths": [{"a": a, "b": b, "transfer_s": t} for (a, b), t in TRANSFER_S.items()]},
        "endpoints": eps,
        "model": {"backbone": "tiny", "emb_dim": EMB_DIM},
        "associator": {"store_dir": str(tmp / "store"), "metrics_port": 0,
                       "window": {"window_s": 100000.0, "allowed_lateness_s": 80000.0}},
    })
    world = sorted(make_world(seed=seed, n_ids=n_ids, emb_dim=EMB_DIM, noise=0.2), key=lambda m: m.t_end_s)
    sent = [m.tracklet_id for m in world]
    assoc, _ = start_associator(cfg, tmp)
    spool = _RecordingSpool(tmp / "spool", 10**9)
    sender = ReliableSender(eps["tracklets"], spool, ack_timeout_s=1.0).start()
    try:
        half = len(world) // 2
        for m in world[:half]:
            sender.submit(m.tracklet_id, encode(as_tracklet(m)))
        wait_for(lambda: len(spool.acked) >= half // 2, 120, "acknowledgements", assoc)
        assoc.kill()                      # the second half not even submitted: a kill mid-stream
        acked_at_kill = set(spool.acked)
        for m in world[half:]:
            sender.submit(m.tracklet_id, encode(as_tracklet(m)))
        assoc, ready = start_associator(cfg, tmp, "assoc-restarted")
        wait_for(lambda: sender.queue_depth == 0, 120, "the rest of the stream", assoc)
    finally:
        sender.stop()
        code = assoc.stop()
    assert code == 0 and sender.stats.rejected == 0, assoc.log()
    stored = stored_tracklets(tmp / "store")
    ids = [t.tracklet_id for t in stored]
    acked = set(spool.acked)
    duplicated = len(ids) - len(set(ids)) + len(set(ids) - set(sent))
    return KillFigures("associator", len(acked), len(stored), len(acked - set(ids)), duplicated, len(acked_at_kill))
