"""Read queries over one SQLite connection: plain functions, no state, shared by the writer
and by reader connections (lookup threads, the trainer in its own process)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import StoreError
from ..wire.records import Tracklet
from .blobs import blob_to_boxes, blob_to_embedding, blob_to_f64
from .rows import EmbeddingSet, LinkRow, Sighting

TRACKLET_COLS = ("id, camera_id, local_track_id, t_start_s, t_end_s, frame_times, boxes, "
                 "crop_times, n_crops, crop_path, wire_model_version")
_ID_CHUNK = 500  # stay below SQLite's bound-parameter limit


def chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), _ID_CHUNK):
        yield ids[i:i + _ID_CHUNK]


def row_to_tracklet(row: tuple, crops: tuple[bytes, ...] = (), emb: tuple | None = None) -> Tracklet:
    """A stored row as a Tracklet. Crop times come back with or without the crops: they count the
    tracklet's crops, which weigh it in a visit's mean feature (``associate.trusted``), so a
    restarted associator weighs fragments as the live one did."""
    tid, cam, ltid, t0, t1, ftimes, boxes, ctimes, _n_crops, _crop_path, _wire_ver = row
    crop_times = blob_to_f64(ctimes)
    if crops and crop_times.shape[0] != len(crops):
        crop_times = np.zeros(0)
    embedding, version = None, -1
    if emb is not None and emb[0] is not None:
        version, dtype, dim, vec = emb
        embedding = blob_to_embedding(dtype, dim, vec)
    return Tracklet(
        tracklet_id=tid, camera_id=cam, local_track_id=int(ltid), t_start_s=float(t0), t_end_s=float(t1),
        frame_times_s=blob_to_f64(ftimes), boxes_xyxy=blob_to_boxes(boxes), crops_jpeg=crops,
        crop_times_s=crop_times, embedding=embedding, model_version=int(version),
    )


def tracklet_row(conn: sqlite3.Connection, tracklet_id: str) -> tuple | None:
    return conn.execute(f"SELECT {TRACKLET_COLS} FROM tracklets WHERE id=?", (tracklet_id,)).fetchone()


def embedding_of(conn: sqlite3.Connection, tracklet_id: str, model_version: int | None) -> tuple | None:
    """(version, dtype, dim, blob) of one tracklet: the given version, or its newest."""
    if model_version is None:
        return conn.execute(
            "SELECT model_version, dtype, dim, vector FROM embeddings WHERE tracklet_id=? "
            "ORDER BY model_version DESC LIMIT 1", (tracklet_id,)).fetchone()
    return conn.execute(
        "SELECT model_version, dtype, dim, vector FROM embeddings WHERE tracklet_id=? AND model_version=?",
        (tracklet_id, model_version)).fetchone()


def tracklet_rows_between(conn: sqlite3.Connection, t0_s: float, t1_s: float, camera_id: str | None,
                          model_version: int | None) -> list[tuple[tuple, tuple | None]]:
    """Rows of tracklets overlapping [t0_s, t1_s] in time, by start time, each with its embedding
    of ``model_version`` (or None)."""
    sql = (f"SELECT {', '.join('t.' + c.strip() for c in TRACKLET_COLS.split(','))}, "
           "e.model_version, e.dtype, e.dim, e.vector FROM tracklets t "
           "LEFT JOIN embeddings e ON e.tracklet_id = t.id AND e.model_version = ? "
           "WHERE t.t_end_s >= ? AND t.t_start_s <= ?")
    args: list[Any] = [model_version if model_version is not None else -(2**62), t0_s, t1_s]
    if camera_id is not None:
        sql += " AND t.camera_id = ?"
        args.append(camera_id)
    sql += " ORDER BY t.t_start_s, t.id"
    return [(r[:11], r[11:]) for r in conn.execute(sql, args)]


def embeddings(conn: sqlite3.Connection, model_version: int, ids: list[str] | None) -> EmbeddingSet:
    """Every embedding of one version (or of the given ids) as one float32 matrix, by tracklet id."""
    if ids is None:
        rows = conn.execute("SELECT tracklet_id, dtype, dim, vector FROM embeddings WHERE model_version=? "
                            "ORDER BY tracklet_id", (model_version,)).fetchall()
    else:
        rows = []
        for part in chunks(sorted(set(ids))):
            marks = ",".join("?" * len(part))
            rows += conn.execute(f"SELECT tracklet_id, dtype, dim, vector FROM embeddings "
                                 f"WHERE model_version=? AND tracklet_id IN ({marks})",
                                 [model_version, *part]).fetchall()
        rows.sort(key=lambda r: r[0])
    dims = {r[2] for r in rows}
    if len(dims) > 1:
        raise StoreError(f"model version {model_version} has embeddings of several dims {sorted(dims)}")
    dim = dims.pop() if dims else 0
    mat = np.zeros((len(rows), dim), dtype=np.float32)
    for i, (_, dtype, d, vec) in enumerate(rows):
        mat[i] = blob_to_embedding(dtype, d, vec)
    return EmbeddingSet(model_version=model_version, ids=tuple(r[0] for r in rows), vectors=mat)


def _link(row: tuple) -> LinkRow:
    return LinkRow(a=row[0], b=row[1], feature_distance=row[2], joint_distance=row[3], r=row[4],
                   status=row[5], model_version=int(row[6]), updated_at_s=float(row[7]))


_LINK_COLS = "a, b, feature_distance, joint_distance, r, status, model_version, updated_at_s"


def rows_touching(conn: sqlite3.Connection, table: str, cols: str, statuses: tuple[str, ...],
                  tracklet_ids: list[str] | None) -> list[tuple]:
    """Rows of a link table (``links``, ``identity_links``) with one of ``statuses``, ordered by
    (a, b); only those touching one of ``tracklet_ids`` when given."""
    if table not in ("links", "identity_links"):
        raise StoreError(f"no link table {table!r}")
    smarks = ",".join("?" * len(statuses))
    if tracklet_ids is None:
        return conn.execute(f"SELECT {cols} FROM {table} WHERE status IN ({smarks}) ORDER BY a, b",
                            list(statuses)).fetchall()
    found: dict[tuple[str, str], tuple] = {}
    for part in chunks(sorted(set(tracklet_ids))):
        marks = ",".join("?" * len(part))
        for col in ("a", "b"):
            for r in conn.execute(f"SELECT {cols} FROM {table} WHERE status IN ({smarks}) "
                                  f"AND {col} IN ({marks})", [*statuses, *part]):
                found[(r[0], r[1])] = r
    return [found[k] for k in sorted(found)]


def links(conn: sqlite3.Connection, statuses: tuple[str, ...], tracklet_ids: list[str] | None) -> list[LinkRow]:
    """Links with one of ``statuses``; touching any of ``tracklet_ids`` when given."""
    return [_link(r) for r in rows_touching(conn, "links", _LINK_COLS, statuses, tracklet_ids)]


def identity_of(conn: sqlite3.Connection, tracklet_id: str) -> int | None:
    row = conn.execute("SELECT identity_id FROM identities WHERE tracklet_id=?", (tracklet_id,)).fetchone()
    return int(row[0]) if row else None


def sightings(conn: sqlite3.Connection, identity_id: int) -> list[Sighting]:
    """Every tracklet of one identity, live or evicted, by start time."""
    rows = conn.execute(
        "SELECT i.tracklet_id, i.status, COALESCE(t.camera_id, e.camera_id), "
        "COALESCE(t.local_track_id, e.local_track_id), COALESCE(t.t_start_s, e.t_start_s), "
        "COALESCE(t.t_end_s, e.t_end_s), COALESCE(t.thumb_jpeg, e.thumb_jpeg), t.id IS NULL "
        "FROM identities i LEFT JOIN tracklets t ON t.id = i.tracklet_id "
        "LEFT JOIN evicted e ON e.tracklet_id = i.tracklet_id "
        "WHERE i.identity_id = ? ORDER BY 5, 1", (identity_id,)).fetchall()
    return [Sighting(tracklet_id=r[0], identity_id=identity_id, camera_id=r[2], local_track_id=int(r[3]),
                     t_start_s=float(r[4]), t_end_s=float(r[5]), status=r[1], thumbnail_jpeg=r[6],
                     evicted=bool(r[7]))
            for r in rows if r[2] is not None]


def find_by_camera_track(conn: sqlite3.Connection, camera_id: str, local_track_id: int) -> list[str]:
    """Tracklet ids (live and evicted) of one local track, by start time: a track that was cut
    into several tracklets, or the same local id reused by a later ingest session."""
    rows = conn.execute(
        "SELECT id, t_start_s FROM tracklets WHERE camera_id=? AND local_track_id=? "
        "UNION ALL SELECT tracklet_id, t_start_s FROM evicted WHERE camera_id=? AND local_track_id=? "
        "ORDER BY 2, 1", (camera_id, local_track_id, camera_id, local_track_id)).fetchall()
    return [r[0] for r in rows]


def identity_history(conn: sqlite3.Connection, tracklet_id: str) -> list[tuple[int | None, int, float]]:
    """(old identity, new identity, changed_at_s) of one tracklet, oldest first."""
    return [(r[0], int(r[1]), float(r[2])) for r in conn.execute(
        "SELECT old_identity_id, new_identity_id, changed_at_s FROM identity_history "
        "WHERE tracklet_id=? ORDER BY seq", (tracklet_id,))]


def kv_get(conn: sqlite3.Connection, key: str, default: Any = None) -> Any:
    row = conn.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
    return json.loads(row[0]) if row else default
