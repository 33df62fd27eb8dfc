"""``Store``: the durable home of every tracklet, crop, embedding, link and identity.

One writer (the associator) per store folder, enforced by an exclusive ``flock`` on
``<store_dir>/LOCK`` that the kernel drops when the process dies, so a SIGKILLed associator
can restart at once. Any number of readers: lookup threads of the writer process share a pool of
reader connections; other processes (the trainer) open ``read_only=True``. WAL
mode lets readers see every committed write without blocking the writer. See ``schema.py``
for the durability argument and ``retention.py`` for eviction.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..config.associator import Retention
from ..errors import StoreError
from ..wire.records import Tracklet
from . import forget as fg
from . import retention as ret
from . import identity_links as il
from . import writes as w
from .forget import ForgetReport
from .identity_links import IdentityLinkRow
from .blobs import make_thumbnail
from .crops import CropFiles
from .reads import StoreReads
from .rows import LinkRow, RetentionReport
from .schema import DB_NAME, SCHEMA_VERSION, connect, migrate, schema_version

log = logging.getLogger(__name__)

LOCK_NAME = "LOCK"


class Store(StoreReads):
    """Open with ``Store.open(dir, retention)``; use as a context manager or call ``close``."""

    def __init__(self, store_dir: Path, retention: Retention, read_only: bool,
                 writer: sqlite3.Connection | None, lock_fd: int | None) -> None:
        super().__init__(store_dir, store_dir / DB_NAME)
        self.retention = retention
        self.read_only = read_only
        self._writer = writer
        self._lock_fd = lock_fd
        self._write_lock = threading.Lock()

    # ----------------------------------------------------------------- open / close
    @classmethod
    def open(cls, store_dir: str | os.PathLike, retention: Retention | None = None, *,
             read_only: bool = False) -> Store:
        """Open (creating when needed) a store folder.

        Writer: takes the folder's lock, migrates the schema, sweeps crop packs left by a
        crash. Raises StoreError when the folder is not writable, another writer holds it,
        or the database is corrupt or newer than this code.
        """
        path = Path(store_dir)
        retention = retention or Retention()
        if read_only:
            db_path = path / DB_NAME
            if not db_path.is_file():
                raise StoreError(f"no store database at {db_path}")
            conn = connect(db_path, read_only=True)
            try:
                version = schema_version(conn)
            finally:
                conn.close()
            if version != SCHEMA_VERSION:
                raise StoreError(f"store {db_path} has schema version {version}, reader needs {SCHEMA_VERSION}")
            return cls(path, retention, True, None, None)
        try:
            path.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"store folder {path} is not writable: {exc}") from exc
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(lock_fd)
            raise StoreError(f"store folder {path} is held by another writer process ({exc})") from exc
        conn = None
        try:
            conn = connect(path / DB_NAME, read_only=False)
            migrate(conn, path / DB_NAME)
            referenced = {r[0] for r in conn.execute("SELECT crop_path FROM tracklets WHERE crop_path IS NOT NULL")}
            CropFiles(path).sweep(referenced)
        except (sqlite3.Error, OSError, StoreError) as exc:
            if conn is not None:
                conn.close()
            os.close(lock_fd)
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot open store {path}: {exc}") from exc
        return cls(path, retention, False, conn, lock_fd)

    def close(self) -> None:
        if self._closed:
            return
        self._close_readers()
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- transactions
    @contextlib.contextmanager
    def _write(self, *, secure_delete: bool = False, what: str = "write") -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction on the writer connection; StoreError on any SQLite error.
        ``secure_delete``: rows deleted in it are overwritten, not just unlinked (forget)."""
        if self._closed:
            raise StoreError(f"store {self.store_dir} is closed")
        if self._writer is None:
            raise StoreError(f"store {self.store_dir} is open read-only")
        with self._write_lock:
            conn = self._writer
            if secure_delete:
                conn.execute("PRAGMA secure_delete=ON")
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"store {self.store_dir}: {what} failed: {exc}") from exc
                raise
            finally:
                if secure_delete:
                    conn.execute("PRAGMA secure_delete=OFF")

    # ----------------------------------------------------------------- writes
    def put_tracklet(self, tracklet: Tracklet, *, received_at_s: float | None = None) -> bool:
        """Store one tracklet (crops, metadata, its embedding if any). True when new; False for a
        duplicate delivery (already stored, or stored and evicted), which changes nothing.
        Returns only after the transaction is durable: acknowledge upstream after this."""
        return self.put_tracklets([tracklet], received_at_s=received_at_s)[0]

    def put_tracklets(self, tracklets: list[Tracklet], *, received_at_s: float | None = None) -> list[bool]:
        """Batch form of ``put_tracklet``: one commit (one WAL fsync) for all of them."""
        for t in tracklets:
            if not isinstance(t, Tracklet):
                raise StoreError(f"put_tracklet expects a Tracklet, got {type(t).__name__}")
        if self._writer is None or self._closed:
            raise StoreError(f"store {self.store_dir} is {'closed' if self._closed else 'open read-only'}")
        now_s = time.time() if received_at_s is None else float(received_at_s)
        with self._write_lock:
            known = w.known_ids(self._writer, [t.tracklet_id for t in tracklets])
            fresh: dict[str, Tracklet] = {}
            for t in tracklets:
                if t.tracklet_id not in known:
                    fresh.setdefault(t.tracklet_id, t)
            written: list[str] = []
            rows = []
            committed = False
            try:
                for t in fresh.values():
                    crop_path, crop_bytes, thumb = None, 0, None
                    if t.crops_jpeg:
                        crop_path, crop_bytes = self.crop_files.write(
                            t.camera_id, t.tracklet_id, t.crops_jpeg, sync_dir=False)
                        written.append(crop_path)
                        thumb = make_thumbnail(t.crops_jpeg[0], t.tracklet_id)
                    rows.append((t, crop_path, crop_bytes, thumb))
                self.crop_files.sync_dirs(written)     # renames durable BEFORE the rows commit
                conn = self._writer
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    for t, crop_path, crop_bytes, thumb in rows:
                        w.insert_tracklet(conn, t, crop_path, crop_bytes, thumb, now_s)
                        if t.embedding is not None:
                            w.put_embedding(conn, t.tracklet_id, t.model_version, t.embedding, now_s)
                    conn.execute("COMMIT")
                    committed = True
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except BaseException as exc:
                if not committed:               # packs of committed rows must stay
                    for crop_path in written:
                        self.crop_files.remove(crop_path)
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"store {self.store_dir}: cannot store tracklets: {exc}") from exc
                raise
        if len(fresh) < len(tracklets):
            log.debug("duplicate tracklet deliveries ignored", extra={"kv": {"n": len(tracklets) - len(fresh)}})
        seen: set[str] = set()
        out = []
        for t in tracklets:
            out.append(t.tracklet_id in fresh and t.tracklet_id not in seen)
            seen.add(t.tracklet_id)
        return out

    def put_embedding(self, tracklet_id: str, model_version: int, vector: np.ndarray) -> None:
        self.put_embeddings(model_version, {tracklet_id: vector})

    def put_embeddings(self, model_version: int, vectors: Mapping[str, np.ndarray]) -> None:
        """Store (replace) embeddings of one model version in one transaction (re-embedding)."""
        now_s = time.time()
        with self._write() as conn:
            for tid, vec in vectors.items():
                w.put_embedding(conn, tid, int(model_version), vec, now_s)

    def upsert_links(self, rows: Iterable[LinkRow]) -> int:
        with self._write() as conn:
            return w.upsert_links(conn, list(rows), time.time())

    def retract_links(self, pairs: Iterable[tuple[str, str]]) -> int:
        with self._write() as conn:
            return w.retract_links(conn, list(pairs), time.time())

    def upsert_identity_links(self, rows: Iterable[IdentityLinkRow]) -> int:
        """Links shown to users (with explanation and confidence); see ``identity_links``."""
        with self._write() as conn:
            return il.upsert(conn, list(rows), time.time())

    def retract_identity_links(self, pairs: Iterable[tuple[str, str]]) -> int:
        with self._write() as conn:
            return il.retract(conn, list(pairs), time.time())

    def set_identities(self, mapping: Mapping[str, int], *, status: str = "provisional") -> int:
        """Assign identities to tracklets, all or nothing; returns how many changed identity."""
        with self._write() as conn:
            return w.set_identities(conn, mapping, status, time.time())

    def mark_final(self, tracklet_ids: Iterable[str]) -> int:
        with self._write() as conn:
            return w.mark_final(conn, list(tracklet_ids), time.time())

    def kv_set(self, key: str, value: Any) -> None:
        with self._write() as conn:
            w.kv_set(conn, key, value)

    def forget(self, identity_id: int, extra_ids: Iterable[str] = ()) -> ForgetReport:
        """Remove identity ``identity_id`` everywhere the store keeps it (see ``forget.py``), and
        the tracklets ``extra_ids`` with it; returns what was removed, per kind (all zero when the
        store never held that identity). Durable when it returns."""
        with self._write(secure_delete=True, what=f"forget identity {identity_id}") as conn:
            report, packs = fg.forget(conn, int(identity_id), list(extra_ids), time.time())
        if report.found:
            with self._write_lock:
                conn.execute("PRAGMA incremental_vacuum").fetchall()
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if busy:
                log.warning("forget: a reader held the WAL; old pages are overwritten at the next checkpoint",
                            extra={"kv": {"identity": identity_id}})
        removed = sum(self.crop_files.remove(p) for p in packs)
        if removed < len(packs):
            log.warning("forget: some crop packs could not be deleted now; the next open sweeps them",
                        extra={"kv": {"identity": identity_id, "packs": len(packs), "deleted": removed}})
        return report

    def quarantine(self, reasons: Mapping[str, str]) -> int:
        """Mark stored tracklets restore cannot use (id -> reason): kept for inspection, left out of
        every later window, evicted like any row. Returns how many were newly marked."""
        now_s = time.time()
        with self._write() as conn:
            n = 0
            for tid, reason in reasons.items():
                n += conn.execute("INSERT OR IGNORE INTO quarantined (tracklet_id, reason, quarantined_at_s) "
                                  "SELECT id, ?, ? FROM tracklets WHERE id=?", (str(reason)[:500], now_s, tid)).rowcount
            return n

    def enforce_retention(self, now_s: float, *, keep_from_s: float | None = None) -> RetentionReport:
        """Evict by age and size (see retention.py); ``keep_from_s`` protects the live window."""
        if self._writer is None or self._closed:
            raise StoreError(f"store {self.store_dir} is closed or read-only; cannot enforce retention")
        with self._write_lock:
            try:
                report, packs = ret.enforce(self._writer, self.retention, float(now_s), keep_from_s)
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.store_dir}: retention failed: {exc}") from exc
        ret.remove_packs(self.crop_files, packs)
        return report

