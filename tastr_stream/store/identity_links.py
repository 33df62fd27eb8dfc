"""The links users see (``identity_links``): rows, writes and reads in one place.

NN-CCTA's training pairs live in ``links``; the links that make user-facing identities, with
their explanation and confidence, live here. A retracted link stays (status ``retracted``) so
an audit and the quality report can count what was taken back.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import StoreError
from .queries import rows_touching
from .rows import ordered_pair
from .writes import retract_links

KINDS = ("cross", "relink")
STATUSES = ("provisional", "final", "retracted")
_COLS = "a, b, kind, status, confidence, model_version, explain, shown_at_event_s, final_at_event_s, updated_at_s"


@dataclass(frozen=True)
class IdentityLinkRow:
    a: str
    b: str
    kind: str
    status: str
    confidence: float
    model_version: int
    explain: dict = field(default_factory=dict)
    shown_at_event_s: float = 0.0
    final_at_event_s: float | None = None
    updated_at_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.a or not self.b or self.a == self.b:
            raise StoreError(f"identity link: needs two different tracklet ids, got {self.a!r}, {self.b!r}")
        if self.kind not in KINDS or self.status not in STATUSES:
            raise StoreError(f"identity link {self.a}-{self.b}: kind {self.kind!r} / status {self.status!r} "
                             f"not in {KINDS} / {STATUSES}")
        if not (0.0 <= float(self.confidence) <= 1.0) or math.isnan(float(self.confidence)):
            raise StoreError(f"identity link {self.a}-{self.b}: confidence {self.confidence} not in [0, 1]")
        ordered_pair(self)

    @property
    def pair(self) -> tuple[str, str]:
        return (self.a, self.b)


def upsert(conn: sqlite3.Connection, rows: Iterable[IdentityLinkRow], now_s: float) -> int:
    n = 0
    for r in rows:
        try:
            conn.execute(
                f"INSERT INTO identity_links ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (a, b) DO UPDATE SET kind=excluded.kind, status=excluded.status, "
                "confidence=excluded.confidence, model_version=excluded.model_version, explain=excluded.explain, "
                "final_at_event_s=excluded.final_at_event_s, updated_at_s=excluded.updated_at_s",
                (r.a, r.b, r.kind, r.status, float(r.confidence), int(r.model_version), json.dumps(r.explain),
                 float(r.shown_at_event_s), r.final_at_event_s, r.updated_at_s or now_s))
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"identity link {r.a!r}-{r.b!r} names a tracklet the store does not hold: {exc}") from exc
        n += 1
    return n


def retract(conn: sqlite3.Connection, pairs: Iterable[tuple[str, str]], now_s: float) -> int:
    return retract_links(conn, pairs, now_s, table="identity_links")


def _row(r: tuple) -> IdentityLinkRow:
    return IdentityLinkRow(a=r[0], b=r[1], kind=r[2], status=r[3], confidence=float(r[4]), model_version=int(r[5]),
                           explain=json.loads(r[6]), shown_at_event_s=float(r[7]),
                           final_at_event_s=None if r[8] is None else float(r[8]), updated_at_s=float(r[9]))


def read(conn: sqlite3.Connection, statuses: tuple[str, ...], tracklet_ids: list[str] | None) -> list[IdentityLinkRow]:
    return [_row(r) for r in rows_touching(conn, "identity_links", _COLS, statuses, tracklet_ids)]
