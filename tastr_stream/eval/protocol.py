"""The Campus-4K train/query/gallery protocol over generic tracklet metadata (paper, section III).

Rules, as the paper states them:
- identities seen in at least two cameras whose first appearance (earliest frame over all
  cameras) is before ``split_frame`` are training identities; the other multi-camera
  identities are test identities;
- identities seen in only one camera are distractors (whatever their time);
- one tracklet per test identity is the query (a seeded random choice);
- the gallery is every other test tracklet plus every distractor tracklet.

Tracklets with a negative pid (unlabelled or junk) belong to no identity and are left out.
Because every test identity has tracklets in two or more cameras, every query keeps at least
one cross-camera match in the gallery, i.e. every query is valid under the Market-style
same-camera removal of :mod:`tastr_stream.eval.reid`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ..errors import DatasetError

CAMPUS4K_SPLIT_FRAME = 46_410
CAMPUS4K_NUM_FRAMES = 77_195
# For datasets without a published split frame: the same share of the recording as Campus-4K.
DEFAULT_SPLIT_FRACTION = CAMPUS4K_SPLIT_FRAME / CAMPUS4K_NUM_FRAMES


@dataclass(frozen=True)
class TrackletMeta:
    """What the protocol needs of one tracklet. Frames are indices on the shared (synchronised) clock."""

    tracklet_id: str
    pid: int
    camera_id: str
    first_frame: int
    last_frame: int

    def __post_init__(self) -> None:
        if self.last_frame < self.first_frame:
            raise DatasetError(f"tracklet {self.tracklet_id!r}: last_frame {self.last_frame} "
                               f"< first_frame {self.first_frame}")


@dataclass(frozen=True)
class Split:
    """Train, query and gallery tracklets; lists are in tracklet-id order."""

    train: list[TrackletMeta]
    query: list[TrackletMeta]
    gallery: list[TrackletMeta]
    split_frame: int
    train_pids: frozenset[int] = field(default_factory=frozenset)
    test_pids: frozenset[int] = field(default_factory=frozenset)
    distractor_pids: frozenset[int] = field(default_factory=frozenset)


def split_frame_from_fraction(tracklets: Iterable[TrackletMeta], fraction: float) -> int:
    """The frame ``fraction`` of the way from the earliest first frame to the latest last frame."""
    if not 0.0 < fraction < 1.0:
        raise DatasetError(f"split fraction must be in (0, 1), got {fraction}")
    items = list(tracklets)
    if not items:
        raise DatasetError("cannot place a split frame: no tracklets")
    lo = min(t.first_frame for t in items)
    hi = max(t.last_frame for t in items)
    return int(np.floor(lo + fraction * (hi - lo)))


def campus4k_split(tracklets: Iterable[TrackletMeta], split_frame: int | None = CAMPUS4K_SPLIT_FRAME,
                   split_fraction: float = DEFAULT_SPLIT_FRACTION, seed: int = 0) -> Split:
    """Apply the Campus-4K protocol. ``split_frame=None`` derives it from ``split_fraction``.

    The query choice depends only on ``seed`` and the set of tracklets, not on input order.
    """
    items = sorted(tracklets, key=lambda t: t.tracklet_id)
    ids = [t.tracklet_id for t in items]
    dupes = sorted({i for i, j in zip(ids, ids[1:]) if i == j})
    if dupes:
        raise DatasetError(f"duplicate tracklet id(s): {dupes[:10]}")
    if split_frame is None:
        split_frame = split_frame_from_fraction(items, split_fraction)

    by_pid: dict[int, list[TrackletMeta]] = defaultdict(list)
    for t in items:
        if t.pid >= 0:
            by_pid[t.pid].append(t)

    train_pids, test_pids, distractor_pids = set(), set(), set()
    for pid, ts in by_pid.items():
        if len({t.camera_id for t in ts}) < 2:
            distractor_pids.add(pid)
        elif min(t.first_frame for t in ts) < split_frame:
            train_pids.add(pid)
        else:
            test_pids.add(pid)

    rng = np.random.default_rng(seed)
    query_ids = set()
    for pid in sorted(test_pids):
        ts = by_pid[pid]
        query_ids.add(ts[int(rng.integers(len(ts)))].tracklet_id)

    train = [t for t in items if t.pid in train_pids]
    query = [t for t in items if t.tracklet_id in query_ids]
    gallery = [t for t in items if (t.pid in test_pids and t.tracklet_id not in query_ids)
               or t.pid in distractor_pids]
    return Split(train=train, query=query, gallery=gallery, split_frame=int(split_frame),
                 train_pids=frozenset(train_pids), test_pids=frozenset(test_pids),
                 distractor_pids=frozenset(distractor_pids))
