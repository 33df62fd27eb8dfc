"""Write statements, each run by ``Store`` inside one explicit transaction of the writer
connection. Validation that needs the database (unknown tracklet ids) happens here and raises
StoreError naming the id, which rolls the whole transaction back."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..errors import StoreError
from ..wire.records import Tracklet
from .blobs import boxes_to_blob, embedding_to_blob, f64_to_blob
from .queries import chunks
from .rows import IDENTITY_STATUSES, LinkRow


def content_digest(t: Tracklet) -> str:
    """sha256 of what a tracklet observed: camera, local track, times, boxes and crops.

    The embedding and its model version are left out: they are derived, and an edge box that
    re-embeds a spooled tracklet after a model swap resends the same observation. Two deliveries
    under one id with different digests are two different tracklets (a reused id), not a resend.
    """
    h = hashlib.sha256()
    h.update(t.camera_id.encode())
    h.update(struct.pack("<qdd", int(t.local_track_id), float(t.t_start_s), float(t.t_end_s)))
    for blob in (f64_to_blob(t.frame_times_s), boxes_to_blob(t.boxes_xyxy), f64_to_blob(t.crop_times_s)):
        h.update(struct.pack("<Q", len(blob)))
        h.update(blob)
    h.update(struct.pack("<Q", len(t.crops_jpeg)))
    for crop in t.crops_jpeg:
        h.update(struct.pack("<Q", len(crop)))
        h.update(crop)
    return h.hexdigest()


def insert_tracklet(conn: sqlite3.Connection, t: Tracklet, crop_path: str | None, crop_bytes: int,
                    thumb_jpeg: bytes | None, received_at_s: float) -> None:
    conn.execute(
        "INSERT INTO tracklets (id, camera_id, local_track_id, t_start_s, t_end_s, n_frames, frame_times, "
        "boxes, crop_times, n_crops, crop_path, crop_bytes, thumb_jpeg, wire_model_version, received_at_s, "
        "content_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (t.tracklet_id, t.camera_id, int(t.local_track_id), float(t.t_start_s), float(t.t_end_s),
         int(t.frame_times_s.shape[0]), f64_to_blob(t.frame_times_s), boxes_to_blob(t.boxes_xyxy),
         f64_to_blob(t.crop_times_s), len(t.crops_jpeg), crop_path, crop_bytes, thumb_jpeg,
         int(t.model_version), received_at_s, content_digest(t)))


def existing_ids(conn: sqlite3.Connection, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` have a live tracklet row."""
    found: set[str] = set()
    for part in chunks(sorted(set(ids))):
        marks = ",".join("?" * len(part))
        found.update(r[0] for r in conn.execute(f"SELECT id FROM tracklets WHERE id IN ({marks})", part))
    return found


def known_ids(conn: sqlite3.Connection, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` the store has ever held (live, evicted, or forgotten: a forgotten
    tracklet resent from a spool is a duplicate, never stored again)."""
    found = existing_ids(conn, ids)
    for table in ("evicted", "forgotten"):
        for part in chunks(sorted(set(ids) - found)):
            marks = ",".join("?" * len(part))
            found.update(r[0] for r in conn.execute(
                f"SELECT tracklet_id FROM {table} WHERE tracklet_id IN ({marks})", part))
    return found


def put_embedding(conn: sqlite3.Connection, tracklet_id: str, model_version: int, vector: np.ndarray,
                  now_s: float) -> None:
    """Insert or replace the embedding of one (tracklet, model version)."""
    dtype, dim, blob = embedding_to_blob(vector, f"embedding of {tracklet_id!r} v{model_version}")
    try:
        conn.execute(
            "INSERT OR REPLACE INTO embeddings (tracklet_id, model_version, dtype, dim, vector, created_at_s) "
            "VALUES (?, ?, ?, ?, ?, ?)", (tracklet_id, int(model_version), dtype, dim, blob, now_s))
    except sqlite3.IntegrityError as exc:
        raise StoreError(f"embedding for unknown (or evicted) tracklet {tracklet_id!r}: {exc}") from exc


def upsert_links(conn: sqlite3.Connection, rows: Iterable[LinkRow], now_s: float) -> int:
    n = 0
    for link in rows:
        try:
            conn.execute(
                "INSERT INTO links (a, b, feature_distance, joint_distance, r, status, model_version, "
                "updated_at_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (a, b) DO UPDATE SET "
                "feature_distance=excluded.feature_distance, joint_distance=excluded.joint_distance, "
                "r=excluded.r, status=excluded.status, model_version=excluded.model_version, "
                "updated_at_s=excluded.updated_at_s",
                (link.a, link.b, link.feature_distance, link.joint_distance, link.r, link.status,
                 link.model_version, link.updated_at_s or now_s))
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"link {link.a!r}-{link.b!r} names a tracklet the store does not hold: {exc}") from exc
        n += 1
    return n


def retract_links(conn: sqlite3.Connection, pairs: Iterable[tuple[str, str]], now_s: float,
                  table: str = "links") -> int:
    """Mark links of ``table`` (``links`` or ``identity_links``) retracted (kept, so the trainer and
    an audit see what was undone); returns how many existed."""
    if table not in ("links", "identity_links"):
        raise StoreError(f"no link table {table!r}")
    n = 0
    for x, y in pairs:
        a, b = (x, y) if x < y else (y, x)
        n += conn.execute(f"UPDATE {table} SET status='retracted', updated_at_s=? WHERE a=? AND b=?",
                          (now_s, a, b)).rowcount
    return n


def set_identities(conn: sqlite3.Connection, mapping: Mapping[str, int], status: str, now_s: float) -> int:
    """Assign identities; every change of a tracklet's identity appends a history row.
    Returns how many tracklets changed identity."""
    if status not in IDENTITY_STATUSES:
        raise StoreError(f"identity status {status!r} not in {IDENTITY_STATUSES}")
    for tid, ident in mapping.items():
        if isinstance(ident, bool) or not isinstance(ident, (int, np.integer)) or ident < 0:
            raise StoreError(f"identity of {tid!r} must be a non-negative int, got {ident!r}")
    unknown = set(mapping) - known_ids(conn, mapping)
    if unknown:
        raise StoreError(f"identities for tracklets the store never held: {sorted(unknown)[:5]}")
    changed = 0
    for tid, ident in mapping.items():
        ident = int(ident)
        row = conn.execute("SELECT identity_id FROM identities WHERE tracklet_id=?", (tid,)).fetchone()
        old = None if row is None else int(row[0])
        conn.execute(
            "INSERT INTO identities (tracklet_id, identity_id, status, updated_at_s) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tracklet_id) DO UPDATE SET identity_id=excluded.identity_id, "
            "status=excluded.status, updated_at_s=excluded.updated_at_s", (tid, ident, status, now_s))
        if old != ident:
            conn.execute("INSERT INTO identity_history (tracklet_id, old_identity_id, new_identity_id, "
                         "changed_at_s) VALUES (?, ?, ?, ?)", (tid, old, ident, now_s))
            changed += 1
    return changed


def mark_final(conn: sqlite3.Connection, tracklet_ids: Iterable[str], now_s: float) -> int:
    n = 0
    for tid in tracklet_ids:
        n += conn.execute("UPDATE identities SET status='final', updated_at_s=? WHERE tracklet_id=?",
                          (now_s, tid)).rowcount
    return n


def kv_set(conn: sqlite3.Connection, key: str, value: Any) -> None:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"kv value for {key!r} is not JSON-serialisable: {value!r}") from exc
    conn.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                 (key, text))


KV_IDENTITY_FLOOR = "identity_id_floor"


def raise_identity_floor(conn: sqlite3.Connection, tracklet_ids: list[str]) -> None:
    """Before the identity rows of ``tracklet_ids`` are deleted (forget, expired summaries): keep
    the largest identity id they carried as a floor for new ids, so an id a user once saw (and
    maybe asked to forget) is never given to someone else after a restart."""
    top = -1
    for part in chunks(sorted(set(tracklet_ids))):
        marks = ",".join("?" * len(part))
        row = conn.execute(f"SELECT max(m) FROM (SELECT max(identity_id) AS m FROM identities WHERE tracklet_id IN "
                           f"({marks}) UNION ALL SELECT max(new_identity_id) FROM identity_history WHERE tracklet_id "
                           f"IN ({marks}))", part * 2).fetchone()
        if row[0] is not None:
            top = max(top, int(row[0]))
    if top < 0:
        return
    row = conn.execute("SELECT value FROM kv WHERE key=?", (KV_IDENTITY_FLOOR,)).fetchone()
    floor = int(json.loads(row[0])) if row else 0
    if top + 1 > floor:
        kv_set(conn, KV_IDENTITY_FLOOR, top + 1)
