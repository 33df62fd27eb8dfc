"""Forgetting one identity everywhere the store keeps it (DESIGN.md, "People's privacy").

One person's data in the store: the tracklets assigned to their identity (frame times, boxes,
the 64 px thumbnail, the crop pack on disk), the embeddings of every model version, the links
touching those tracklets (NN-CCTA's training pairs in ``links``, the links users were shown in
``identity_links``, retracted ones included), the summaries of tracklets already evicted (with
their thumbnails), the identity rows and their history, and quarantine marks. All of it goes in
one transaction; the crop packs are deleted after it commits (a crash in between leaves orphan
packs, which the next open sweeps, like retention).

What stays: each forgotten tracklet's id in ``forgotten`` (an id like ``cam3:a1b2:17`` names a
camera, an ingest session and a local track number, nothing about the person), so a resend from
an edge box's spool is a duplicate and never stores the person again; and a floor under new
identity ids, so the forgotten id is never given to someone else. Deleted pages are overwritten
(``secure_delete``) and the WAL is checkpointed and truncated, so the bytes do not linger in the
database files either. Aggregates learned from many people (transfer times, exit sides) keep no
trace of who taught them and stay.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from .queries import chunks
from .writes import raise_identity_floor

KINDS = ("tracklets", "summaries", "crop_packs", "crops", "thumbnails", "embeddings", "links", "identity_links",
         "identities", "identity_history", "quarantined")


@dataclass(frozen=True)
class ForgetReport:
    """What one forget removed, per kind (``crop_packs``: files on disk; ``crops``: images in them)."""

    identity_id: int
    tracklets: int = 0
    summaries: int = 0
    crop_packs: int = 0
    crops: int = 0
    thumbnails: int = 0
    embeddings: int = 0
    links: int = 0
    identity_links: int = 0
    identities: int = 0
    identity_history: int = 0
    quarantined: int = 0

    @property
    def removed(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "identity_id"}

    @property
    def found(self) -> bool:
        return any(self.removed.values())


def _count(conn: sqlite3.Connection, sql: str, ids: list[str], times: int = 1) -> int:
    n = 0
    for part in chunks(ids):
        marks = ",".join("?" * len(part))
        n += int(conn.execute(sql.format(m=marks), part * times).fetchone()[0] or 0)
    return n


def _delete(conn: sqlite3.Connection, sql: str, ids: list[str], times: int = 1) -> int:
    n = 0
    for part in chunks(ids):
        marks = ",".join("?" * len(part))
        n += conn.execute(sql.format(m=marks), part * times).rowcount
    return n


def members(conn: sqlite3.Connection, identity_id: int) -> list[str]:
    return [r[0] for r in conn.execute("SELECT tracklet_id FROM identities WHERE identity_id=? ORDER BY tracklet_id",
                                       (int(identity_id),))]


def forget(conn: sqlite3.Connection, identity_id: int, extra_ids: Iterable[str], now_s: float
           ) -> tuple[ForgetReport, list[str]]:
    """Delete identity ``identity_id`` and the tracklets ``extra_ids`` (the live window's members,
    which the store normally holds under that identity already) inside the caller's transaction.
    Returns the report and the crop packs to delete once it committed."""
    ids = sorted(set(members(conn, identity_id)) | set(extra_ids))
    if not ids:
        return ForgetReport(identity_id), []
    packs: list[str] = []
    crops = thumbs = 0
    for part in chunks(ids):
        marks = ",".join("?" * len(part))
        for path, n_crops, has_thumb in conn.execute(
                f"SELECT crop_path, n_crops, thumb_jpeg IS NOT NULL FROM tracklets WHERE id IN ({marks})", part):
            if path is not None:
                packs.append(path)
            crops += int(n_crops)
            thumbs += int(has_thumb)
    thumbs += _count(conn, "SELECT count(*) FROM evicted WHERE thumb_jpeg IS NOT NULL AND tracklet_id IN ({m})", ids)
    raise_identity_floor(conn, ids)
    # Links first (explicitly, and counted), then the rows they hang on; ON DELETE CASCADE would
    # take embeddings, links and quarantine marks with the tracklets, but not say how many.
    links = _delete(conn, "DELETE FROM links WHERE a IN ({m}) OR b IN ({m})", ids, 2)
    shown = _delete(conn, "DELETE FROM identity_links WHERE a IN ({m}) OR b IN ({m})", ids, 2)
    embeddings = _delete(conn, "DELETE FROM embeddings WHERE tracklet_id IN ({m})", ids)
    quarantined = _delete(conn, "DELETE FROM quarantined WHERE tracklet_id IN ({m})", ids)
    tracklets = _delete(conn, "DELETE FROM tracklets WHERE id IN ({m})", ids)
    summaries = _delete(conn, "DELETE FROM evicted WHERE tracklet_id IN ({m})", ids)
    identities = _delete(conn, "DELETE FROM identities WHERE tracklet_id IN ({m})", ids)
    history = _delete(conn, "DELETE FROM identity_history WHERE tracklet_id IN ({m})", ids)
    conn.executemany("INSERT OR IGNORE INTO forgotten (tracklet_id, forgotten_at_s) VALUES (?, ?)",
                     [(t, now_s) for t in ids])
    report = ForgetReport(identity_id, tracklets=tracklets, summaries=summaries, crop_packs=len(packs), crops=crops,
                          thumbnails=thumbs, embeddings=embeddings, links=links, identity_links=shown,
                          identities=identities, identity_history=history, quarantined=quarantined)
    return report, packs
