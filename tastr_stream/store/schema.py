"""SQLite schema of the store, its migrations, and how every connection is opened.

Durability argument (why an acknowledged tracklet survives SIGKILL and power loss):
the database runs in WAL mode with ``synchronous=FULL``, so ``COMMIT`` returns only after
the WAL frames of the transaction are fsync'ed. ``Store.put_tracklet`` returns (and the
associator acknowledges) only after that commit, and the crop pack the row points at was
fsync'ed and renamed into place before the transaction began. A crash before the commit
leaves no row (SQLite ignores an uncommitted WAL tail on the next open) and at most an
orphan crop pack, which ``Store.open`` sweeps.

Migrations: ``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``. Each runs in
its own transaction together with the bump of ``schema_version``, so a crash mid-migration
leaves the previous version intact. A database newer than this code is refused, never
downgraded.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import StoreError

DB_NAME = "store.sqlite"
BUSY_TIMEOUT_MS = 10_000
WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024   # the WAL file is cut back to this after a checkpoint

_V1 = (
    """CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL            -- JSON
    )""",
    """CREATE TABLE tracklets (
        id TEXT PRIMARY KEY,
        camera_id TEXT NOT NULL,
        local_track_id INTEGER NOT NULL,
        t_start_s REAL NOT NULL,
        t_end_s REAL NOT NULL,
        n_frames INTEGER NOT NULL,
        frame_times BLOB NOT NULL,     -- float64 little-endian (N,)
        boxes BLOB NOT NULL,           -- float32 little-endian (N, 4)
        crop_times BLOB NOT NULL,      -- float64 little-endian (M,) or empty
        n_crops INTEGER NOT NULL,
        crop_path TEXT,                -- crop pack, relative to store_dir; NULL when n_crops = 0
        crop_bytes INTEGER NOT NULL,   -- size of the pack file
        thumb_jpeg BLOB,               -- small JPEG of the first crop; NULL when none
        wire_model_version INTEGER NOT NULL,
        received_at_s REAL NOT NULL
    )""",
    "CREATE INDEX tracklets_cam_track ON tracklets(camera_id, local_track_id)",
    "CREATE INDEX tracklets_t_end ON tracklets(t_end_s)",
    """CREATE TABLE embeddings (
        tracklet_id TEXT NOT NULL REFERENCES tracklets(id) ON DELETE CASCADE,
        model_version INTEGER NOT NULL,
        dtype TEXT NOT NULL CHECK (dtype IN ('float32', 'float16')),
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL,
        created_at_s REAL NOT NULL,
        PRIMARY KEY (tracklet_id, model_version)
    ) WITHOUT ROWID""",
    "CREATE INDEX embeddings_version ON embeddings(model_version)",
    """CREATE TABLE links (
        a TEXT NOT NULL REFERENCES tracklets(id) ON DELETE CASCADE,
        b TEXT NOT NULL REFERENCES tracklets(id) ON DELETE CASCADE,   -- a < b
        feature_distance REAL NOT NULL,
        joint_distance REAL NOT NULL,
        r REAL NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('provisional', 'final', 'retracted')),
        model_version INTEGER NOT NULL,
        updated_at_s REAL NOT NULL,
        PRIMARY KEY (a, b),
        CHECK (a < b)
    ) WITHOUT ROWID""",
    "CREATE INDEX links_b ON links(b)",
    # No foreign key to tracklets: an identity outlives the eviction of its tracklets.
    """CREATE TABLE identities (
        tracklet_id TEXT PRIMARY KEY,
        identity_id INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('provisional', 'final')),
        updated_at_s REAL NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX identities_identity ON identities(identity_id)",
    """CREATE TABLE identity_history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tracklet_id TEXT NOT NULL,
        old_identity_id INTEGER,       -- NULL on first assignment
        new_identity_id INTEGER NOT NULL,
        changed_at_s REAL NOT NULL
    )""",
    "CREATE INDEX identity_history_tracklet ON identity_history(tracklet_id)",
    # Compact summary of an evicted tracklet, so sightings(identity) still lists it.
    """CREATE TABLE evicted (
        tracklet_id TEXT PRIMARY KEY,
        camera_id TEXT NOT NULL,
        local_track_id INTEGER NOT NULL,
        t_start_s REAL NOT NULL,
        t_end_s REAL NOT NULL,
        thumb_jpeg BLOB,
        evicted_at_s REAL NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX evicted_cam_track ON evicted(camera_id, local_track_id)",
)

# Links shown to users (``associate.trusted``): separate from ``links``, which holds NN-CCTA's
# training pairs. ``explain`` is the JSON explanation (D, R, dt vs the pair's transfer time...).
_V2 = (
    """CREATE TABLE identity_links (
        a TEXT NOT NULL REFERENCES tracklets(id) ON DELETE CASCADE,
        b TEXT NOT NULL REFERENCES tracklets(id) ON DELETE CASCADE,   -- a < b
        kind TEXT NOT NULL CHECK (kind IN ('cross', 'relink')),
        status TEXT NOT NULL CHECK (status IN ('provisional', 'final', 'retracted')),
        confidence REAL NOT NULL,
        model_version INTEGER NOT NULL,
        explain TEXT NOT NULL,         -- JSON
        shown_at_event_s REAL NOT NULL,
        final_at_event_s REAL,
        updated_at_s REAL NOT NULL,
        PRIMARY KEY (a, b),
        CHECK (a < b)
    ) WITHOUT ROWID""",
    "CREATE INDEX identity_links_b ON identity_links(b)",
)

# Privacy and robustness (issue 13): a digest of what each tracklet observed, so a second delivery
# under the same id is told apart from a resend; ids of forgotten tracklets (only the id: a
# resend from an edge box's spool must not store the person again); stored rows restore could
# not use (kept for inspection, left out of the window, evicted like any row).
_V3 = (
    "ALTER TABLE tracklets ADD COLUMN content_sha256 TEXT",   # NULL for rows stored before v3
    "ALTER TABLE evicted ADD COLUMN content_sha256 TEXT",
    """CREATE TABLE forgotten (
        tracklet_id TEXT PRIMARY KEY,
        forgotten_at_s REAL NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE quarantined (
        tracklet_id TEXT PRIMARY KEY REFERENCES tracklets(id) ON DELETE CASCADE,
        reason TEXT NOT NULL,
        quarantined_at_s REAL NOT NULL
    ) WITHOUT ROWID""",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


def connect(db_path: Path, read_only: bool) -> sqlite3.Connection:
    """Open one connection with the store's pragmas; autocommit mode, transactions are explicit.

    Raises StoreError naming the file when it is not a database or cannot be opened.
    """
    uri = f"file:{db_path}?mode={'ro' if read_only else 'rwc'}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store database {db_path}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        if read_only:
            conn.execute("PRAGMA query_only=ON")
        else:
            # auto_vacuum only takes effect before the first table exists (new databases).
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"store database {db_path}: cannot switch to WAL (journal_mode={mode})")
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        conn.execute("PRAGMA synchronous=FULL")
        # Touch the file so a non-database fails here, with its name, and not in a later query.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"store database {db_path} is corrupt or not a SQLite file: {exc}") from exc
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    """Version of an open database; 0 for a fresh file."""
    has = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone()
    if not has:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, db_path: Path) -> int:
    """Bring the database up to SCHEMA_VERSION, one transaction per step; returns the version.

    Raises StoreError when the file is newer than this code (never downgrade someone's data).
    """
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise StoreError(f"store database {db_path} has schema version {current}, "
                         f"this code knows up to {SCHEMA_VERSION}; upgrade tastr-stream")
    for version in range(current, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in MIGRATIONS[version]:
                conn.execute(stmt)
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION
