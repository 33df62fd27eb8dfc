"""Read a synthetic world folder (written by :mod:`tastr_stream.sim`) with its ground truth.

Every consumer (tests, the demo, the evaluation) opens worlds through here, so the on-disk
contract is checked in one place: a missing or malformed file raises :class:`DatasetError`
naming the file. Ground-truth tables are parsed with numpy in one pass per file.
"""

from __future__ import annotations

import csv
import json
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..config import Network, config_from_dict
from ..errors import ConfigError, DatasetError

FORMAT = "tastr-synthetic-world"
SUPPORTED_VERSIONS = (1,)


@dataclass(frozen=True)
class GtBox:
    pid: int
    box_xyxy: np.ndarray     # (4,) float32 pixels, clipped to the frame
    keypoints: np.ndarray    # (17, 3) float32: x, y, v (0 outside frame, 1 hidden, 2 visible)
    visibility: float        # share of the silhouette inside the frame and not occluded


@dataclass(frozen=True)
class Visit:
    pid: int
    camera_id: str
    t_enter_s: float
    t_exit_s: float
    first_frame: int         # 1-based, as in the MOT files
    last_frame: int


@dataclass(frozen=True)
class Transfer:
    pid: int
    from_camera: str
    to_camera: str
    t_exit_s: float
    t_enter_s: float


def _read_csv(path: Path, header: list[str]) -> list[dict]:
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != header:
                raise DatasetError(f"{path}: header {reader.fieldnames} differs from {header}")
            return list(reader)
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror})") from None


def _load_table(path: Path, columns: int) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(f"{path}: ground-truth file missing")
    if path.stat().st_size == 0:
        return np.zeros((0, columns))
    try:
        arr = np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError as e:
        raise DatasetError(f"{path}: malformed row ({e})") from None
    if arr.shape[1] != columns:
        raise DatasetError(f"{path}: expected {columns} columns, got {arr.shape[1]}")
    return arr


class SyntheticWorld:
    """A rendered world: metadata, network, videos and per-frame ground truth."""

    def __init__(self, root: Path, meta: dict, network: Network) -> None:
        self.root = root
        self.meta = meta
        self.network = network

    @classmethod
    def open(cls, path: str | Path) -> "SyntheticWorld":
        root = Path(path)
        meta_path = root / "world.json"
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise DatasetError(f"{meta_path}: not found; {root} is not a finished synthetic world") from None
        except (OSError, ValueError) as e:
            raise DatasetError(f"{meta_path}: unreadable or not JSON ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DatasetError(f"{meta_path}: format {meta.get('format') if isinstance(meta, dict) else meta!r} "
                               f"is not {FORMAT!r}")
        if meta.get("version") not in SUPPORTED_VERSIONS:
            raise DatasetError(f"{meta_path}: version {meta.get('version')!r} not in {SUPPORTED_VERSIONS}")
        for key in ("fps", "resolution", "duration_s", "num_frames", "cameras", "paths", "people"):
            if key not in meta:
                raise DatasetError(f"{meta_path}: missing key {key!r}")
        net_path = root / "network.toml"
        try:
            net = tomllib.loads(net_path.read_text())
            network = config_from_dict(net, str(net_path)).network
        except FileNotFoundError:
            raise DatasetError(f"{net_path}: not found") from None
        except (tomllib.TOMLDecodeError, ConfigError) as e:
            raise DatasetError(f"{net_path}: invalid network ({e})") from None
        world = cls(root, meta, network)
        for cid in world.camera_ids:
            if not world.video_path(cid).is_file():
                raise DatasetError(f"{world.video_path(cid)}: video missing for camera {cid}")
        return world

    @property
    def fps(self) -> int:
        return int(self.meta["fps"])

    @property
    def resolution(self) -> tuple[int, int]:
        w, h = self.meta["resolution"]
        return int(w), int(h)

    @property
    def duration_s(self) -> float:
        return float(self.meta["duration_s"])

    @property
    def num_frames(self) -> int:
        return int(self.meta["num_frames"])

    @property
    def camera_ids(self) -> list[str]:
        return [c["id"] for c in self.meta["cameras"]]

    @property
    def people(self) -> list[dict]:
        return list(self.meta["people"])

    @property
    def transfer_stats(self) -> dict[str, dict]:
        return dict(self.meta.get("transfer_stats", {}))

    def video_path(self, camera_id: str) -> Path:
        self._check_camera(camera_id)
        return self.root / "videos" / f"{camera_id}.mp4"

    def frame_time_s(self, frame: int) -> float:
        """Epoch time of a 1-based ground-truth frame number."""
        return (frame - 1) / self.fps

    @cached_property
    def visits(self) -> list[Visit]:
        rows = _read_csv(self.root / "gt" / "visits.csv",
                         ["pid", "camera_id", "t_enter_s", "t_exit_s", "first_frame", "last_frame"])
        try:
            return [Visit(int(r["pid"]), r["camera_id"], float(r["t_enter_s"]), float(r["t_exit_s"]),
                          int(r["first_frame"]), int(r["last_frame"])) for r in rows]
        except (TypeError, ValueError) as e:
            raise DatasetError(f"{self.root / 'gt' / 'visits.csv'}: malformed row ({e})") from None

    @cached_property
    def transfers(self) -> list[Transfer]:
        rows = _read_csv(self.root / "gt" / "transfers.csv", ["pid", "from_camera", "to_camera", "t_exit_s", "t_enter_s"])
        try:
            return [Transfer(int(r["pid"]), r["from_camera"], r["to_camera"], float(r["t_exit_s"]),
                             float(r["t_enter_s"])) for r in rows]
        except (TypeError, ValueError) as e:
            raise DatasetError(f"{self.root / 'gt' / 'transfers.csv'}: malformed row ({e})") from None

    def gt_arrays(self, camera_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Raw MOT rows (M, 10) and keypoint rows (M, 53), row-aligned."""
        self._check_camera(camera_id)
        rows = _load_table(self.root / "gt" / f"{camera_id}.txt", 10)
        kps = _load_table(self.root / "gt" / f"{camera_id}_keypoints.txt", 53)
        if len(rows) != len(kps) or not np.array_equal(rows[:, :2], kps[:, :2]):
            raise DatasetError(f"{self.root / 'gt'}: {camera_id}.txt and {camera_id}_keypoints.txt rows disagree")
        return rows, kps

    def gt_frames(self, camera_id: str) -> dict[int, list[GtBox]]:
        """1-based frame number -> people in that frame."""
        rows, kps = self.gt_arrays(camera_id)
        boxes = rows[:, 2:6].astype(np.float32)
        boxes[:, 2:] += boxes[:, :2]
        kp = kps[:, 2:].reshape(-1, 17, 3).astype(np.float32)
        out: dict[int, list[GtBox]] = {}
        for i, (frame, pid) in enumerate(rows[:, :2].astype(int)):
            out.setdefault(int(frame), []).append(GtBox(int(pid), boxes[i], kp[i], float(rows[i, 6])))
        return out

    def _check_camera(self, camera_id: str) -> None:
        if camera_id not in self.camera_ids:
            raise DatasetError(f"unknown camera {camera_id!r} in {self.root}; cameras are {self.camera_ids}")
