"""Read side of the store: a pool of reader connections and every lookup.

``Store`` inherits these; a read-only ``Store`` (the trainer, a lookup process) has only
this side. Every lookup runs in one read transaction, so it sees one consistent snapshot
of committed writes and never blocks the writer (WAL).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import StoreError, TastrError
from ..wire.records import Tracklet
from . import identity_links as il
from . import queries as q
from .identity_links import IdentityLinkRow
from .crops import CropFiles
from .rows import EmbeddingSet, LinkRow, LoadedWindow, Sighting, StoredContent, StoreStats
from .schema import connect
from .writes import KV_IDENTITY_FLOOR

KV_MODEL_VERSION = "model_version"


class StoreReads:
    """Lookups over a store folder; subclasses open it (see ``Store.open``)."""

    def __init__(self, store_dir: Path, db_path: Path) -> None:
        self.store_dir = store_dir
        self.crop_files = CropFiles(store_dir)
        self._db_path = db_path
        self._idle_lock = threading.Lock()
        self._idle_readers: list[sqlite3.Connection] = []
        self._closed = False

    def _close_readers(self) -> None:
        with self._idle_lock:
            self._closed = True
            for conn in self._idle_readers:
                conn.close()
            self._idle_readers.clear()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot on a pooled reader connection.

        A pool, not one connection per thread: a lookup server that starts a thread per
        request would otherwise leave a connection behind per request. The pool holds as many
        connections as there were concurrent reads at the peak.
        """
        if self._closed:
            raise StoreError(f"store {self.store_dir} is closed")
        with self._idle_lock:
            conn = self._idle_readers.pop() if self._idle_readers else None
        if conn is None:
            conn = connect(self._db_path, read_only=True)
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"store {self.store_dir}: read failed: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        with self._idle_lock:
            if self._closed:
                conn.close()
            else:
                self._idle_readers.append(conn)

    def get_tracklet(self, tracklet_id: str, *, with_crops: bool = False,
                     model_version: int | None = None) -> Tracklet | None:
        """A live tracklet with the embedding of ``model_version`` (default: its newest)."""
        with self._read() as conn:
            row = q.tracklet_row(conn, tracklet_id)
            if row is None:
                return None
            emb = q.embedding_of(conn, tracklet_id, model_version)
        crops = tuple(self.crop_files.read(row[9], tracklet_id)) if with_crops and row[8] else ()
        return q.row_to_tracklet(row, crops, emb)

    def crops(self, tracklet_id: str) -> list[bytes]:
        """JPEG crops of a live tracklet, in order; StoreError for an unknown or evicted id."""
        with self._read() as conn:
            row = conn.execute("SELECT n_crops, crop_path FROM tracklets WHERE id=?", (tracklet_id,)).fetchone()
        if row is None:
            raise StoreError(f"no live tracklet {tracklet_id!r} (never stored, or evicted)")
        return self.crop_files.read(row[1], tracklet_id) if row[0] else []

    def crop(self, tracklet_id: str, index: int) -> bytes:
        """One crop of a live tracklet, read without the others (samplers take K per tracklet)."""
        with self._read() as conn:
            row = conn.execute("SELECT n_crops, crop_path FROM tracklets WHERE id=?", (tracklet_id,)).fetchone()
        if row is None:
            raise StoreError(f"no live tracklet {tracklet_id!r} (never stored, or evicted)")
        if not 0 <= index < row[0]:
            raise StoreError(f"tracklet {tracklet_id!r} has {row[0]} crops, no index {index}")
        return self.crop_files.read_one(row[1], index, tracklet_id)

    def tracklets_between(self, t0_s: float, t1_s: float, camera_id: str | None = None, *,
                          model_version: int | None = None) -> list[Tracklet]:
        """Live tracklets overlapping [t0_s, t1_s], by start time, with embeddings of
        ``model_version`` (default: the current one) and without crops."""
        with self._read() as conn:
            version = self._current_version(conn) if model_version is None else model_version
            rows = q.tracklet_rows_between(conn, t0_s, t1_s, camera_id, version)
        return [q.row_to_tracklet(r, (), e) for r, e in rows]

    def embeddings(self, model_version: int, ids: Iterable[str] | None = None) -> EmbeddingSet:
        """``EmbeddingSet`` (ids + float32 matrix) of one model version."""
        with self._read() as conn:
            return q.embeddings(conn, int(model_version), None if ids is None else list(ids))

    def links(self, statuses: tuple[str, ...] = ("provisional", "final"),
              tracklet_ids: Iterable[str] | None = None) -> list[LinkRow]:
        with self._read() as conn:
            return q.links(conn, tuple(statuses), None if tracklet_ids is None else list(tracklet_ids))

    def identity_links(self, statuses: tuple[str, ...] = ("provisional", "final"),
                       tracklet_ids: Iterable[str] | None = None) -> list[IdentityLinkRow]:
        """Links shown to users with one of ``statuses`` (touching ``tracklet_ids`` when given)."""
        with self._read() as conn:
            return il.read(conn, tuple(statuses), None if tracklet_ids is None else list(tracklet_ids))

    def identity_of(self, tracklet_id: str) -> int | None:
        with self._read() as conn:
            return q.identity_of(conn, tracklet_id)

    def identity_members(self, identity_id: int) -> list[str]:
        """Every tracklet id (live or evicted) assigned to one identity."""
        with self._read() as conn:
            return [r[0] for r in conn.execute("SELECT tracklet_id FROM identities WHERE identity_id=? "
                                               "ORDER BY tracklet_id", (int(identity_id),))]

    def sightings(self, identity_id: int) -> list[Sighting]:
        with self._read() as conn:
            return q.sightings(conn, int(identity_id))

    def find_by_camera_track(self, camera_id: str, local_track_id: int) -> list[str]:
        with self._read() as conn:
            return q.find_by_camera_track(conn, camera_id, int(local_track_id))

    def identity_history(self, tracklet_id: str) -> list[tuple[int | None, int, float]]:
        with self._read() as conn:
            return q.identity_history(conn, tracklet_id)

    def kv_get(self, key: str, default: Any = None) -> Any:
        with self._read() as conn:
            return q.kv_get(conn, key, default)

    def stored_content(self, tracklet_id: str) -> StoredContent | None:
        """What the store has of one tracklet id (live, evicted or forgotten), None if never held."""
        with self._read() as conn:
            for where, sql in (
                    ("live", "SELECT content_sha256, camera_id, local_track_id, t_start_s, t_end_s FROM tracklets "
                             "WHERE id=?"),
                    ("evicted", "SELECT content_sha256, camera_id, local_track_id, t_start_s, t_end_s FROM evicted "
                                "WHERE tracklet_id=?"),
                    ("forgotten", "SELECT NULL, NULL, NULL, NULL, NULL FROM forgotten WHERE tracklet_id=?")):
                r = conn.execute(sql, (tracklet_id,)).fetchone()
                if r is not None:
                    return StoredContent(where, r[0], r[1], None if r[2] is None else int(r[2]), r[3], r[4])
        return None

    def quarantined(self) -> dict[str, str]:
        """Stored tracklets restore could not use: id -> reason."""
        with self._read() as conn:
            return dict(conn.execute("SELECT tracklet_id, reason FROM quarantined ORDER BY tracklet_id").fetchall())

    def load_window(self, t_from_s: float, model_version: int | None = None) -> LoadedWindow:
        """Everything the associator rebuilds its window from, read in one snapshot. Quarantined
        rows are left out; a row that does not decode is reported in ``unreadable``, not raised."""
        with self._read() as conn:
            version = self._current_version(conn) if model_version is None else model_version
            held = {r[0] for r in conn.execute("SELECT tracklet_id FROM quarantined")}
            rows = [r for r in q.tracklet_rows_between(conn, t_from_s, float("inf"), None, version)
                    if r[0][0] not in held]
            ids = [r[0][0] for r in rows]
            links = q.links(conn, ("provisional", "final"), ids)
            idents: dict[str, int] = {}
            final: set[str] = set()
            for part in q.chunks(ids):
                marks = ",".join("?" * len(part))
                for tid, ident, status in conn.execute(
                        f"SELECT tracklet_id, identity_id, status FROM identities WHERE tracklet_id IN ({marks})",
                        part):
                    idents[tid] = int(ident)
                    if status == "final":
                        final.add(tid)
            top = conn.execute("SELECT max(m) FROM (SELECT max(identity_id) AS m FROM identities UNION ALL "
                               "SELECT max(new_identity_id) FROM identity_history)").fetchone()[0]
            floor = int(q.kv_get(conn, KV_IDENTITY_FLOOR, 0))
        tracklets, unreadable = [], []
        for r, e in rows:
            try:
                tracklets.append(q.row_to_tracklet(r, (), e))
            except (TastrError, ValueError) as exc:       # a torn blob, a row the record refuses
                unreadable.append((r[0], f"row does not decode: {exc}"))
        return LoadedWindow(t_from_s=t_from_s, model_version=version, tracklets=tracklets, links=links,
                            identities=idents, final_ids=final,
                            next_identity_id=max(floor, 0 if top is None else int(top) + 1), unreadable=unreadable)

    def stats(self) -> StoreStats:
        with self._read() as conn:
            n_t, crop_bytes = conn.execute("SELECT count(*), COALESCE(sum(crop_bytes), 0) FROM tracklets").fetchone()
            n_ev = conn.execute("SELECT count(*) FROM evicted").fetchone()[0]
            n_emb = conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
            by_status = dict(conn.execute("SELECT status, count(*) FROM links GROUP BY status").fetchall())
            shown = dict(conn.execute("SELECT status, count(*) FROM identity_links WHERE kind = 'cross' "
                                      "GROUP BY status").fetchall())
            n_id = conn.execute("SELECT count(DISTINCT identity_id) FROM identities").fetchone()[0]
        db_bytes = sum(p.stat().st_size for p in (self._db_path, Path(f"{self._db_path}-wal")) if p.exists())
        return StoreStats(tracklets=n_t, evicted=n_ev, embeddings=n_emb, links=by_status, identities=n_id,
                          crop_bytes=int(crop_bytes), db_bytes=db_bytes, shown_links=shown)

    def integrity_check(self) -> list[str]:
        """Problems found (empty = healthy): SQLite's own check plus every crop pack a row names."""
        with self._read() as conn:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
            rows = conn.execute("SELECT id, n_crops, crop_path FROM tracklets WHERE n_crops > 0").fetchall()
        for tid, n, rel in rows:
            problem = self.crop_files.check(rel, n)
            if problem:
                problems.append(f"tracklet {tid!r}: {problem}")
        return problems

    @staticmethod
    def _current_version(conn: sqlite3.Connection) -> int:
        """The kv's current model version, else the newest stored embedding version, else -1."""
        version = q.kv_get(conn, KV_MODEL_VERSION)
        if version is None:
            version = conn.execute("SELECT max(model_version) FROM embeddings").fetchone()[0]
        return -1 if version is None else int(version)
