"""Retention: evict tracklets by age, then the oldest while the store is over its byte budget.

Eviction never breaks an identity's history. The identity assignment row of an evicted
tracklet stays, and a compact summary (camera, local track, t_start, t_end, the 64 px
thumbnail) moves to the ``evicted`` table, so ``sightings(identity)`` still lists it, marked
``evicted``. What goes: crops, frame times and boxes, embeddings, and links touching it (links
only feed association and training, both of which need the crops or embeddings). A summary
costs ~2 KB against ~0.5 MB for a tracklet with 60 crops, so even a long history stays cheap;
but it holds a picture of a person, so it has a retention limit too: once ``now_s - t_end_s >
summary_max_age_s`` (30 days by default, never shorter than ``max_age_s``) the summary goes,
with the tracklet's identity row and history (the identity id stays taken: see
``writes.raise_identity_floor``).

Age is event time: a tracklet is too old when ``now_s - t_end_s > max_age_s``, with ``now_s``
given by the caller (the associator's event clock, so a replay of recorded video ages the
same way as live). Size counts crop bytes plus the database's used pages; rows are evicted
oldest ``t_end_s`` first. ``keep_from_s`` protects the associator's live window from size
eviction: a budget too small to hold the window is reported (``over_budget``), not obeyed
by breaking association.

Ordering for crash safety: summaries are written and rows deleted in one transaction; crop
packs are deleted only after it commits. A crash in between leaves orphan packs, which the
next open sweeps.
"""

from __future__ import annotations

import logging
import sqlite3

from ..config.associator import Retention
from .crops import CropFiles
from .queries import chunks
from .rows import RetentionReport
from .writes import raise_identity_floor

log = logging.getLogger(__name__)

ROW_OVERHEAD_BYTES = 200   # rough per-row bookkeeping (keys, index entries) in the estimate
SUMMARY_BYTES = 120        # the evicted summary row, besides its thumbnail

_EST_SQL = (
    "SELECT t.id, t.t_end_s, t.crop_bytes + length(t.frame_times) + length(t.boxes) + length(t.crop_times) "
    f"+ COALESCE((SELECT sum(length(vector)) FROM embeddings e WHERE e.tracklet_id = t.id), 0) "
    f"+ {ROW_OVERHEAD_BYTES} - {SUMMARY_BYTES}, t.crop_path FROM tracklets t ")


def db_used_bytes(conn: sqlite3.Connection) -> int:
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    count = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((count - free) * page)


def stored_bytes(conn: sqlite3.Connection) -> int:
    crops = conn.execute("SELECT COALESCE(sum(crop_bytes), 0) FROM tracklets").fetchone()[0]
    return int(crops) + db_used_bytes(conn)


def _evict_rows(conn: sqlite3.Connection, ids: list[str], now_s: float) -> None:
    for part in chunks(ids):
        marks = ",".join("?" * len(part))
        conn.execute(
            "INSERT OR REPLACE INTO evicted (tracklet_id, camera_id, local_track_id, t_start_s, t_end_s, "
            "thumb_jpeg, evicted_at_s, content_sha256) SELECT id, camera_id, local_track_id, t_start_s, t_end_s, "
            f"thumb_jpeg, ?, content_sha256 FROM tracklets WHERE id IN ({marks})", [now_s, *part])
        # Embeddings and links go with the row (ON DELETE CASCADE); identities stay.
        conn.execute(f"DELETE FROM tracklets WHERE id IN ({marks})", part)


def _expire_summaries(conn: sqlite3.Connection, cutoff_s: float) -> int:
    """Delete summaries (and the identity rows of their tracklets) that ended before ``cutoff_s``."""
    ids = [r[0] for r in conn.execute("SELECT tracklet_id FROM evicted WHERE t_end_s < ?", (cutoff_s,))]
    if not ids:
        return 0
    raise_identity_floor(conn, ids)
    for part in chunks(ids):
        marks = ",".join("?" * len(part))
        for table in ("evicted", "identities", "identity_history"):
            conn.execute(f"DELETE FROM {table} WHERE tracklet_id IN ({marks})", part)
    return len(ids)


def enforce(conn: sqlite3.Connection, retention: Retention, now_s: float,
            keep_from_s: float | None) -> tuple[RetentionReport, list[str]]:
    """Plan and apply one retention pass on the writer connection (no transaction open).

    Returns the report and the crop packs to delete; the caller deletes them with
    ``remove_packs`` after releasing its write lock (an unlink costs ~4 ms on a
    discard-mounted ext4, and the rows are already gone, so nothing can race for them).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        cutoff_s = now_s - retention.max_age_s
        by_age = conn.execute(_EST_SQL + "WHERE t.t_end_s < ? ORDER BY t.t_end_s, t.id", (cutoff_s,)).fetchall()
        freed = sum(r[2] for r in by_age)
        excess = stored_bytes(conn) - freed - retention.max_bytes
        by_size = []
        if excess > 0:
            sql = _EST_SQL + "WHERE t.t_end_s >= ?"
            args: list[float] = [cutoff_s]
            if keep_from_s is not None:
                sql += " AND t.t_end_s < ?"
                args.append(keep_from_s)
            got = 0
            for row in conn.execute(sql + " ORDER BY t.t_end_s, t.id", args):
                if got >= excess:
                    break
                by_size.append(row)
                got += row[2]
            freed += got
        victims = by_age + by_size
        _evict_rows(conn, [r[0] for r in victims], now_s)
        expired = _expire_summaries(conn, now_s - retention.summary_max_age_s)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if victims or expired:
        conn.execute("PRAGMA incremental_vacuum").fetchall()
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    after = stored_bytes(conn)
    report = RetentionReport(evicted_by_age=len(by_age), evicted_by_size=len(by_size), freed_bytes=int(freed),
                             bytes_after=after, over_budget=after > retention.max_bytes,
                             summaries_expired=expired)
    if victims or expired or report.over_budget:
        log.info("retention pass", extra={"kv": {
            "by_age": report.evicted_by_age, "by_size": report.evicted_by_size, "summaries_expired": expired,
            "bytes_after": after, "max_bytes": retention.max_bytes, "over_budget": report.over_budget}})
    return report, [r[3] for r in victims if r[3] is not None]


def remove_packs(crops: CropFiles, paths: list[str]) -> int:
    """Delete evicted packs; one that fails stays an orphan for the next open's sweep."""
    return sum(crops.remove(p) for p in paths)
