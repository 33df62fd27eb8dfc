"""Market-1501 / DukeMTMC-reID style folders of crops: ``bounding_box_train``, ``query``,
``bounding_box_test``.

Names, as the datasets define them:
- Market-1501: ``0002_c1s1_000451_03.jpg``: person, camera 1-6, sequence, frame within that
  sequence (frames of different sequences are *not* on one clock), box index in that frame.
  Person ``-1`` is junk (dropped by default, as torchreid does), ``0000`` a distractor.
- DukeMTMC-reID: ``0001_c2_f0046182.jpg``: person, camera 1-8, frame on the synchronised
  60 fps clock of DukeMTMC.
Every ``*.jpg`` must parse (the official Market-1501 release's few ``.jpg.jpg`` names included),
and one folder holds one style; other files (``Thumbs.db``) are ignored. Camera ids are written ``cam1`` like everywhere else in tastr-stream.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import DatasetError

log = logging.getLogger(__name__)

SPLIT_DIRS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
JUNK_PID = -1
DISTRACTOR_PID = 0
# The official Market-1501 release has a few names with a doubled extension
# (1488_c1s6_023021_00.jpg.jpg): the same crop, accepted as published.
_MARKET = re.compile(r"^(?P<pid>-1|\d{4})_c(?P<cam>\d)s(?P<seq>\d)_(?P<frame>\d{6})_(?P<box>\d{2})(?:\.jpg)?\.jpg$")
_DUKE = re.compile(r"^(?P<pid>\d{4})_c(?P<cam>\d)_f(?P<frame>\d{7})\.jpg$")
_NUM_CAMERAS = {"market": 6, "duke": 8}

Style = Literal["market", "duke"]


@dataclass(frozen=True)
class CropRecord:
    """One crop. ``sequence`` and ``box_index`` exist for Market-1501 names only."""

    path: Path
    pid: int
    camera_id: str
    frame: int
    style: Style
    sequence: int | None = None
    box_index: int | None = None

    @property
    def is_junk(self) -> bool:
        return self.pid == JUNK_PID

    @property
    def is_distractor(self) -> bool:
        return self.pid == DISTRACTOR_PID


@dataclass(frozen=True)
class MarketStyleDataset:
    root: Path
    style: Style
    train: list[CropRecord]
    query: list[CropRecord]
    gallery: list[CropRecord]


def parse_crop_name(path: str | Path) -> CropRecord:
    """Parse a Market-1501 or DukeMTMC-reID crop name; anything else raises DatasetError naming the file."""
    p = Path(path)
    m = _MARKET.match(p.name)
    if m is not None:
        style: Style = "market"
        seq, box = int(m["seq"]), int(m["box"])
    else:
        m = _DUKE.match(p.name)
        if m is None:
            raise DatasetError(f"{p}: not a Market-1501 (0002_c1s1_000451_03.jpg) or "
                               f"DukeMTMC-reID (0001_c2_f0046182.jpg) crop name")
        style, seq, box = "duke", None, None
    cam = int(m["cam"])
    if not 1 <= cam <= _NUM_CAMERAS[style]:
        raise DatasetError(f"{p}: camera {cam} outside 1..{_NUM_CAMERAS[style]} for {style} names")
    return CropRecord(p, int(m["pid"]), f"cam{cam}", int(m["frame"]), style, seq, box)


def read_split_dir(folder: str | Path, keep_junk: bool = False) -> list[CropRecord]:
    """All crops of one folder, sorted by file name; junk (pid -1) dropped unless ``keep_junk``."""
    d = Path(folder)
    if not d.is_dir():
        raise DatasetError(f"{d}: crop folder not found")
    records = [parse_crop_name(p) for p in sorted(d.glob("*.jpg"))]
    styles = sorted({r.style for r in records})
    if len(styles) > 1:
        raise DatasetError(f"{d}: mixes Market-1501 and DukeMTMC-reID names")
    if keep_junk:
        return records
    kept = [r for r in records if not r.is_junk]
    if len(kept) < len(records):
        log.info("%s: %d junk crop(s) (pid -1) dropped", d, len(records) - len(kept))
    return kept


def load_market_style(root: str | Path, keep_junk: bool = False) -> MarketStyleDataset:
    """Read the three folders under ``root``; all must exist and share one naming style."""
    r = Path(root)
    missing = [name for name in SPLIT_DIRS.values() if not (r / name).is_dir()]
    if missing:
        raise DatasetError(f"{r}: not a Market/Duke-style folder, missing {missing}")
    parts = {split: read_split_dir(r / name, keep_junk) for split, name in SPLIT_DIRS.items()}
    styles = sorted({rec.style for recs in parts.values() for rec in recs})
    if len(styles) != 1:
        raise DatasetError(f"{r}: expected one naming style over all folders, found {styles or 'no crops'}")
    return MarketStyleDataset(root=r, style=styles[0], **parts)


def pids_and_cameras(records: list[CropRecord]) -> tuple[np.ndarray, np.ndarray]:
    """(pids, camera numbers) arrays, ready for :func:`tastr_stream.eval.evaluate_rank`."""
    pids = np.fromiter((r.pid for r in records), dtype=np.int64, count=len(records))
    cams = np.fromiter((int(r.camera_id[3:]) for r in records), dtype=np.int64, count=len(records))
    return pids, cams
