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
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tastr_stream.eval.gt_match import majority_pid
from tastr_stream.store.schema import DB_NAME


@dataclass(frozen=True)
class KillFigures:
    daemon: str
    acknowledged: int       # acknowledged (or committed) before the kill
    stored: int             # rows in the store at the end
    lost: int
    duplicated: int
    expected: int           # tracklets the stream should end with (sent, or a run without a kill)


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
