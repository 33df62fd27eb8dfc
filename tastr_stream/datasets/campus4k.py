"""Campus-4K on disk, read the way the authors' own loader reads it.

Layout (under ``root``, or ``root/campus4k`` when that folder exists)::

    tracklet/cam{1..6}/<tracklet>/*.jpg      training tracklets from tracking (no identity)
    query/<pid>/<tracklet>/*.jpg             one tracklet per test identity
    gallery/<pid>/<tracklet>/*.jpg           other test tracklets + one-camera distractors
    videos/cam{1..6}.mp4                     full 3840x2160 30 fps videos (pattern configurable)

Labelled images are named ``0001_C1_F00423_3047-1034-0270-0721.jpg``: person, camera, frame
(30 fps, synchronised over cameras), box x-y-w-h in 4K pixels; any other name there is an
error that names the file. Training-tracklet images may carry that full name or the authors'
positional one, where characters 5-9 are the 5-digit frame (their loader reads ``name[4:9]``).
Training tracklets with fewer than 60 images are skipped and training uses only tracklets
whose first frame is before 46,410 (later frames hold the test identities).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..config.network import Camera, Network
from ..config.network import Path as WalkPath
from ..errors import DatasetError
from ..eval.protocol import CAMPUS4K_SPLIT_FRAME, TrackletMeta

log = logging.getLogger(__name__)

FPS = 30.0
MIN_TRAIN_IMAGES = 60
CAMPUS4K_CAMERA_IDS = tuple(f"cam{i}" for i in range(1, 7))
CAMPUS4K_WALKING_SPEED_MPS = 1.25
# Walking path lengths between cameras 1..6 in metres (authors' public code), symmetric.
CAMPUS4K_PATH_LENGTHS_M = (
    (0, 105, 190, 200, 190, 245),
    (105, 0, 50, 65, 50, 105),
    (190, 50, 0, 60, 55, 110),
    (200, 65, 60, 0, 75, 130),
    (190, 50, 55, 75, 0, 55),
    (245, 105, 110, 130, 55, 0),
)
DEFAULT_VIDEO_PATTERNS = ("videos/cam{index}.mp4", "videos/cam{index}.avi", "videos/cam{index}.mkv",
                          "video/cam{index}.mp4", "cam{index}.mp4")

_LABELLED_NAME = re.compile(
    r"^(?P<pid>\d{4,})_C(?P<cam>[1-9]\d*)_F(?P<frame>\d{5,})_(?P<x>\d{4})-(?P<y>\d{4})-(?P<w>\d{4})-(?P<h>\d{4})\.jpg$")
_POSITIONAL_NAME = re.compile(r"^.{4}(?P<frame>\d{5})(?:[^0-9].*)?\.jpg$")
_CAM_DIR = re.compile(r"^cam[1-9]\d*$")
_PID_DIR = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class ImageRecord:
    """One labelled crop. ``frame`` counts 30 fps frames on the synchronised clock."""

    path: Path
    pid: int
    camera_id: str
    frame: int
    box_xywh: tuple[int, int, int, int]

    @property
    def t_s(self) -> float:
        return self.frame / FPS


@dataclass(frozen=True)
class TrackletDir:
    """One tracklet folder; images sorted by frame. ``pid`` is -1 for unlabelled training tracklets."""

    tracklet_id: str
    camera_id: str
    pid: int
    frames: tuple[int, ...]
    image_paths: tuple[Path, ...]
    boxes_xywh: tuple[tuple[int, int, int, int], ...] | None = None   # None when names carry no box

    @property
    def first_frame(self) -> int:
        return self.frames[0]

    @property
    def last_frame(self) -> int:
        return self.frames[-1]

    @property
    def t_start_s(self) -> float:
        return self.first_frame / FPS

    @property
    def t_end_s(self) -> float:
        return self.last_frame / FPS

    def meta(self) -> TrackletMeta:
        return TrackletMeta(self.tracklet_id, self.pid, self.camera_id, self.first_frame, self.last_frame)


@dataclass(frozen=True)
class Campus4K:
    root: Path
    train: list[TrackletDir]
    query: list[TrackletDir]
    gallery: list[TrackletDir]
    videos: dict[str, Path]


def parse_image_name(path: str | Path) -> ImageRecord:
    """Parse ``0001_C1_F00423_3047-1034-0270-0721.jpg``; anything else raises DatasetError naming the file."""
    p = Path(path)
    m = _LABELLED_NAME.match(p.name)
    if m is None:
        raise DatasetError(f"{p}: not a Campus-4K image name (want e.g. 0001_C1_F00423_3047-1034-0270-0721.jpg)")
    box = (int(m["x"]), int(m["y"]), int(m["w"]), int(m["h"]))
    if box[2] == 0 or box[3] == 0:
        raise DatasetError(f"{p}: empty box x-y-w-h {box}")
    return ImageRecord(p, int(m["pid"]), f"cam{int(m['cam'])}", int(m["frame"]), box)


def _training_frame(path: Path, camera_id: str) -> int:
    if _LABELLED_NAME.match(path.name):
        rec = parse_image_name(path)
        if rec.camera_id != camera_id:
            raise DatasetError(f"{path}: name says {rec.camera_id} but the folder is {camera_id}")
        return rec.frame
    m = _POSITIONAL_NAME.match(path.name)
    if m is None:
        raise DatasetError(f"{path}: no frame index in the name (want a Campus-4K name or "
                           f"4 characters then a 5-digit frame, e.g. img_00423.jpg)")
    return int(m["frame"])


def _sorted_dirs(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.is_dir())


def _check_frames(tracklet_dir: Path, frames: Sequence[int]) -> None:
    dupes = sorted({f for f, g in zip(frames, frames[1:]) if f == g})
    if dupes:
        raise DatasetError(f"{tracklet_dir}: several images of frame(s) {dupes[:5]} in one tracklet")


def resolve_root(root: str | Path) -> Path:
    """``root/campus4k`` when present, else ``root``; it must hold tracklet/, query/ or gallery/."""
    r = Path(root)
    if (r / "campus4k").is_dir():
        r = r / "campus4k"
    if not any((r / d).is_dir() for d in ("tracklet", "query", "gallery")):
        raise DatasetError(f"{r}: not a Campus-4K folder (no tracklet/, query/ or gallery/ inside)")
    return r


def read_training_tracklets(root: str | Path, min_images: int = MIN_TRAIN_IMAGES,
                            split_frame: int | None = CAMPUS4K_SPLIT_FRAME) -> list[TrackletDir]:
    """Training tracklets of every ``tracklet/cam*`` folder, ordered by camera then folder name.

    Skips tracklets with fewer than ``min_images`` images and, unless ``split_frame`` is None,
    those whose first frame is not before it. Ids read ``cam3:<folder>``.
    """
    if min_images < 0:
        raise DatasetError(f"min_images must be >= 0, got {min_images}")
    base = resolve_root(root) / "tracklet"
    if not base.is_dir():
        return []
    out: list[TrackletDir] = []
    skipped_short = skipped_late = 0
    cam_dirs = [d for d in _sorted_dirs(base) if _CAM_DIR.match(d.name)]
    for cam_dir in sorted(cam_dirs, key=lambda d: int(d.name[3:])):
        camera_id = cam_dir.name
        for tdir in _sorted_dirs(cam_dir):
            images = sorted((_training_frame(p, camera_id), p) for p in tdir.glob("*.jpg"))
            if len(images) < min_images or not images:
                skipped_short += 1
                continue
            frames = tuple(f for f, _ in images)
            _check_frames(tdir, frames)
            if split_frame is not None and frames[0] >= split_frame:
                skipped_late += 1
                continue
            out.append(TrackletDir(f"{camera_id}:{tdir.name}", camera_id, -1, frames,
                                   tuple(p for _, p in images)))
    log.info("campus4k %s: %d training tracklets (%d with < %d images, %d starting at or after frame %s skipped)",
             base, len(out), skipped_short, min_images, skipped_late, split_frame)
    return out


def read_labelled(root: str | Path, split: str, check_pids: bool = True) -> list[TrackletDir]:
    """``query`` or ``gallery`` tracklets. Every image must parse, one camera per tracklet, and
    (``check_pids``) the person in each name must be the identity folder it sits in."""
    if split not in ("query", "gallery"):
        raise DatasetError(f"unknown Campus-4K split {split!r}; use 'query' or 'gallery'")
    base = resolve_root(root) / split
    if not base.is_dir():
        return []
    out: list[TrackletDir] = []
    for pid_dir in _sorted_dirs(base):
        if not _PID_DIR.match(pid_dir.name):
            raise DatasetError(f"{pid_dir}: identity folder name is not an integer")
        pid = int(pid_dir.name)
        for tdir in _sorted_dirs(pid_dir):
            recs = sorted((parse_image_name(p) for p in tdir.glob("*.jpg")), key=lambda r: r.frame)
            if not recs:
                log.warning("campus4k: empty tracklet folder %s skipped", tdir)
                continue
            cams = sorted({r.camera_id for r in recs})
            if len(cams) > 1:
                raise DatasetError(f"{tdir}: one tracklet spans cameras {cams}")
            wrong = [r.path.name for r in recs if r.pid != pid]
            if check_pids and wrong:
                raise DatasetError(f"{tdir}: image {wrong[0]} names another person than folder {pid_dir.name}")
            frames = tuple(r.frame for r in recs)
            _check_frames(tdir, frames)
            out.append(TrackletDir(f"{split}:{pid_dir.name}/{tdir.name}", cams[0], pid, frames,
                                   tuple(r.path for r in recs), tuple(r.box_xywh for r in recs)))
    return out


def find_videos(root: str | Path, patterns: Sequence[str] = DEFAULT_VIDEO_PATTERNS,
                camera_ids: Sequence[str] = CAMPUS4K_CAMERA_IDS) -> dict[str, Path]:
    """Per camera, the first existing file among ``patterns`` (relative to the Campus-4K folder;
    ``{index}`` is the camera number, ``{camera_id}`` e.g. ``cam3``). Cameras without one are absent."""
    base = Path(root)
    if (base / "campus4k").is_dir():
        base = base / "campus4k"
    found: dict[str, Path] = {}
    for camera_id in camera_ids:
        index = camera_id[3:] if camera_id.startswith("cam") else camera_id
        for pattern in patterns:
            candidate = base / pattern.format(index=index, camera_id=camera_id)
            if candidate.is_file():
                found[camera_id] = candidate
                break
    return found


def load_campus4k(root: str | Path, *, min_images: int = MIN_TRAIN_IMAGES,
                  split_frame: int | None = CAMPUS4K_SPLIT_FRAME,
                  video_patterns: Sequence[str] = DEFAULT_VIDEO_PATTERNS) -> Campus4K:
    r = resolve_root(root)
    return Campus4K(root=r, train=read_training_tracklets(r, min_images, split_frame),
                    query=read_labelled(r, "query"), gallery=read_labelled(r, "gallery"),
                    videos=find_videos(r, video_patterns))


def network_from_path_matrix(camera_ids: Sequence[str], lengths_m: Sequence[Sequence[float]],
                             walking_speed_mps: float, name: str) -> Network:
    """A validated :class:`Network` from a symmetric matrix of path lengths (zero diagonal)."""
    n = len(camera_ids)
    if len(lengths_m) != n or any(len(row) != n for row in lengths_m):
        raise DatasetError(f"path matrix must be {n}x{n} for cameras {list(camera_ids)}")
    for i in range(n):
        if lengths_m[i][i] != 0:
            raise DatasetError(f"path length from {camera_ids[i]} to itself is {lengths_m[i][i]}, not 0")
        for j in range(i + 1, n):
            if lengths_m[i][j] != lengths_m[j][i]:
                raise DatasetError(f"path matrix not symmetric: {camera_ids[i]}-{camera_ids[j]} is "
                                   f"{lengths_m[i][j]} but {camera_ids[j]}-{camera_ids[i]} is {lengths_m[j][i]}")
    return Network(
        name=name, walking_speed_mps=walking_speed_mps,
        cameras=[Camera(id=c) for c in camera_ids],
        paths=[WalkPath(a=camera_ids[i], b=camera_ids[j], length_m=float(lengths_m[i][j]))
               for i in range(n) for j in range(i + 1, n)],
    )


def campus4k_network() -> Network:
    """Campus-4K's six cameras and walking paths; t_ij = d_ij / 1.25 m/s."""
    return network_from_path_matrix(CAMPUS4K_CAMERA_IDS, CAMPUS4K_PATH_LENGTHS_M,
                                    CAMPUS4K_WALKING_SPEED_MPS, "campus4k")
