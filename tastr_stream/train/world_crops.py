"""Training tracklets from a rendered synthetic world's ground truth ("oracle tracking").

Each ground-truth visit (one person's pass through one camera) is one tracklet: the person's
box is cropped every ``frame_step``-th frame (3, as in Campus-4K), skipping crops that are
mostly hidden or tiny, at most ``max_images`` kept (seeded). This replaces detection and
tracking for the offline experiment, so that the experiment measures training and
association alone. Decoding a world's videos costs minutes, so the crops are cached as one
``.npz`` under ``<world>/cache/`` keyed by every setting that changes them; the cache is
written atomically and rebuilt when missing or unreadable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DatasetError
from ..eval.protocol import DEFAULT_SPLIT_FRACTION, campus4k_split
from .data import TrainTracklet
from .evaluation import EVAL_TICKS_PER_S, ExperimentData, eval_meta

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CropSettings:
    crop_hw: tuple[int, int] = (128, 64)
    frame_step: int = 3
    max_images: int = 60
    min_images: int = 4
    min_visibility: float = 0.5
    min_box_height_px: int = 24
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True).encode()).hexdigest()[:12]


def _plan(world, settings: CropSettings) -> tuple[list, dict[str, dict[int, np.ndarray]]]:
    """Visits to keep and, per camera, frame -> box to crop for each kept visit (by index)."""
    rng = np.random.default_rng(settings.seed)
    visits = sorted(world.visits, key=lambda v: (v.camera_id, v.first_frame, v.pid))
    kept, wanted = [], {}
    for cam in world.camera_ids:
        gt = world.gt_frames(cam)
        for v in (v for v in visits if v.camera_id == cam):
            frames = []
            for f in range(v.first_frame, v.last_frame + 1, settings.frame_step):
                box = next((b for b in gt.get(f, []) if b.pid == v.pid), None)
                if box is None or box.visibility < settings.min_visibility:
                    continue
                if box.box_xyxy[3] - box.box_xyxy[1] < settings.min_box_height_px:
                    continue
                frames.append((f, box.box_xyxy))
            if len(frames) < settings.min_images:
                continue
            if len(frames) > settings.max_images:
                pick = np.sort(rng.choice(len(frames), settings.max_images, replace=False))
                frames = [frames[i] for i in pick]
            idx = len(kept)
            kept.append(v)
            for f, box in frames:
                wanted.setdefault(cam, {}).setdefault(f, []).append((idx, box))
    return kept, wanted


def _crop(frame_bgr: np.ndarray, box_xyxy: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h_img, w_img = frame_bgr.shape[:2]
    x0, y0, x1, y1 = (int(round(float(c))) for c in box_xyxy)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w_img, x1), min(h_img, y1)
    crop = frame_bgr[y0:y1, x0:x1]
    if crop.size == 0:
        raise DatasetError(f"empty crop for box {box_xyxy.tolist()} in a {w_img}x{h_img} frame")
    crop = cv2.resize(crop, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)


def extract_crops(world, settings: CropSettings) -> dict[str, np.ndarray]:
    """Decode every camera once and crop the planned boxes; arrays ready for ``np.savez``."""
    kept, wanted = _plan(world, settings)
    images, owner = [], []
    for cam, by_frame in wanted.items():
        cap = cv2.VideoCapture(str(world.video_path(cam)))
        if not cap.isOpened():
            raise DatasetError(f"{world.video_path(cam)}: cannot open video")
        last = max(by_frame)
        try:
            for frame_no in range(1, last + 1):        # ground-truth frames are 1-based
                ok, img = cap.read()
                if not ok:
                    raise DatasetError(f"{world.video_path(cam)}: ends at frame {frame_no - 1}, "
                                       f"ground truth needs frame {last}")
                for idx, box in by_frame.get(frame_no, ()):
                    images.append(_crop(img, box, settings.crop_hw))
                    owner.append(idx)
        finally:
            cap.release()
    h, w = settings.crop_hw
    return {"images": np.stack(images) if images else np.zeros((0, h, w, 3), np.uint8),
            "owner": np.asarray(owner, np.int64),
            "pid": np.array([v.pid for v in kept], np.int64),
            "camera_id": np.array([v.camera_id for v in kept]),
            "t_start_s": np.array([world.frame_time_s(v.first_frame) for v in kept]),
            "t_end_s": np.array([world.frame_time_s(v.last_frame) for v in kept]),
            "first_frame": np.array([v.first_frame for v in kept], np.int64)}


def load_world_tracklets(world_dir: str | os.PathLike, settings: CropSettings = CropSettings()
                         ) -> tuple[object, list[TrainTracklet]]:
    """(world, one tracklet per visit) with crops from the cache, extracting them on first use."""
    from ..datasets.synthetic import SyntheticWorld

    world = SyntheticWorld.open(world_dir)
    cache = Path(world_dir) / "cache" / f"train-crops-{settings.key()}.npz"
    arrays = None
    if cache.is_file():
        try:
            with np.load(cache) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            log.warning("crop cache unreadable; rebuilding", extra={"kv": {"path": cache, "error": exc}})
    if arrays is None:
        log.info("extracting ground-truth crops", extra={"kv": {"world": world_dir, "settings": settings}})
        arrays = extract_crops(world, settings)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.tmp-{os.getpid()}.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, cache)
    order = np.argsort(arrays["owner"], kind="stable")
    bounds = np.searchsorted(arrays["owner"][order], np.arange(len(arrays["pid"]) + 1))
    images = arrays["images"][order]
    out = []
    for i in range(len(arrays["pid"])):
        cam = str(arrays["camera_id"][i])
        out.append(TrainTracklet(f"{cam}:p{int(arrays['pid'][i])}f{int(arrays['first_frame'][i])}", cam,
                                 float(arrays["t_start_s"][i]), float(arrays["t_end_s"][i]),
                                 list(images[bounds[i]:bounds[i + 1]]), int(arrays["pid"][i])))
    return world, out


def world_experiment(world_dir: str | os.PathLike, settings: CropSettings = CropSettings(),
                     split_fraction: float = DEFAULT_SPLIT_FRACTION) -> ExperimentData:
    """Campus-4K protocol on a synthetic world: train = tracklets starting before the split."""
    world, tracklets = load_world_tracklets(world_dir, settings)
    if not tracklets:
        raise DatasetError(f"{world_dir}: no visit gave {settings.min_images} usable crops")
    split = campus4k_split([eval_meta(t) for t in tracklets], split_frame=None, split_fraction=split_fraction,
                           seed=settings.seed)
    by_id = {t.tracklet_id: t for t in tracklets}
    split_s = split.split_frame / EVAL_TICKS_PER_S
    return ExperimentData(train=[t for t in tracklets if t.t_start_s < split_s],
                          query=[by_id[m.tracklet_id] for m in split.query],
                          gallery=[by_id[m.tracklet_id] for m in split.gallery],
                          network=world.network, name=f"synthetic:{Path(world_dir).name}")
