"""Typed rows the store returns and accepts, besides ``wire.records.Tracklet`` itself."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import StoreError
from ..wire.records import Tracklet

LINK_STATUSES = ("provisional", "final", "retracted")
IDENTITY_STATUSES = ("provisional", "final")


@dataclass(frozen=True)
class LinkRow:
    """An accepted cross-camera link between two tracklets, as the associator reports it.

    The pair is unordered: ``a``/``b`` are put in sorted order, so (x, y) and (y, x) are the
    same row and an upsert of either replaces it.
    """

    a: str
    b: str
    feature_distance: float
    joint_distance: float
    r: float
    status: str = "provisional"
    model_version: int = -1
    updated_at_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.a or not self.b or self.a == self.b:
            raise StoreError(f"link: needs two different tracklet ids, got {self.a!r}, {self.b!r}")
        if self.status not in LINK_STATUSES:
            raise StoreError(f"link {self.a}-{self.b}: status {self.status!r} not in {LINK_STATUSES}")
        for name in ("feature_distance", "joint_distance", "r"):
            value = float(getattr(self, name))
            if math.isnan(value):
                raise StoreError(f"link {self.a}-{self.b}: {name} is NaN")
            object.__setattr__(self, name, value)
        ordered_pair(self)

    @property
    def pair(self) -> tuple[str, str]:
        return (self.a, self.b)


def ordered_pair(row) -> None:
    """Put a frozen link row's ``a``/``b`` in sorted order: a link is an unordered pair."""
    if row.a > row.b:
        a, b = row.b, row.a
        object.__setattr__(row, "a", a)
        object.__setattr__(row, "b", b)


@dataclass(frozen=True)
class Sighting:
    """One appearance of an identity in one camera. ``evicted``: crops and embeddings are gone,
    only this summary (and the thumbnail) remains."""

    tracklet_id: str
    identity_id: int
    camera_id: str
    local_track_id: int
    t_start_s: float
    t_end_s: float
    status: str                 # provisional | final
    thumbnail_jpeg: bytes | None
    evicted: bool


@dataclass(frozen=True)
class EmbeddingSet:
    """Embeddings of one model version as a matrix whose row i belongs to ``ids[i]``."""

    model_version: int
    ids: tuple[str, ...]
    vectors: np.ndarray          # (n, dim) float32

    def as_dict(self) -> dict[str, np.ndarray]:
        return {tid: self.vectors[i] for i, tid in enumerate(self.ids)}


@dataclass(frozen=True)
class LoadedWindow:
    """What the associator needs to rebuild its in-memory window after a restart.

    ``tracklets`` carry the embedding of ``model_version`` (None when that version has none
    for a tracklet yet: it must be re-embedded from ``Store.crops``) and no crops.
    ``next_identity_id`` is one past the largest identity ever stored, so new identities
    never reuse an id that an evicted identity history still shows.
    """

    t_from_s: float
    model_version: int
    tracklets: list[Tracklet]
    links: list[LinkRow]
    identities: dict[str, int]
    final_ids: set[str] = field(default_factory=set)
    next_identity_id: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)   # (tracklet id, why) rows that do not decode


@dataclass(frozen=True)
class StoredContent:
    """What the store knows of a tracklet id it has held: ``where`` is live, evicted or forgotten;
    ``digest`` the content digest (None for rows stored before schema v3, and for forgotten ids)."""

    where: str
    digest: str | None
    camera_id: str | None = None
    local_track_id: int | None = None
    t_start_s: float | None = None
    t_end_s: float | None = None


@dataclass(frozen=True)
class StoreStats:
    tracklets: int
    evicted: int
    embeddings: int
    links: dict[str, int]       # per status: NN-CCTA's training pairs
    identities: int             # distinct identity ids
    crop_bytes: int
    db_bytes: int               # database + WAL files on disk
    shown_links: dict[str, int] = field(default_factory=dict)   # per status: cross links users see

    @property
    def total_bytes(self) -> int:
        return self.crop_bytes + self.db_bytes


@dataclass(frozen=True)
class RetentionReport:
    evicted_by_age: int
    evicted_by_size: int
    freed_bytes: int
    bytes_after: int
    over_budget: bool           # still above max_bytes (protected tracklets kept)
    summaries_expired: int = 0  # summaries of evicted tracklets past summary_max_age_s, deleted
