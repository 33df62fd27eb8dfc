"""The training tracklet set: what the trainer, samplers and rounds see of a tracklet.

A :class:`TrainTracklet` is an id, a camera, an event-time span and its images. Images are any
sequence of uint8 HxWx3 **RGB** arrays: a list held in memory, or :class:`LazyImages`, which
reads files on access. RGB (not OpenCV's BGR) because that is what ``models/`` consumes
(``decode_crops`` and ``to_input``); converting once at the boundary means no code in the
training path has to know where an image came from.

``pid_gt`` is the ground-truth identity when one exists (-1 otherwise). It is NEVER read by
training (samplers, association, loss); only evaluation looks at it.

Builders here: from Campus-4K training-tracklet folders and from image folders / generic
lists. A synthetic world's ground truth goes through :mod:`tastr_stream.train.world_crops`;
the store will get a builder returning the same records (the hook is simply: produce
``TrainTracklet`` objects whose ``images`` is a sequence).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DatasetError

log = logging.getLogger(__name__)


class LazyImages(Sequence):
    """A read-on-access sequence of image files as uint8 RGB arrays (no caching: bounded memory)."""

    def __init__(self, paths: Sequence[str | os.PathLike]) -> None:
        self._paths = tuple(Path(p) for p in paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return LazyImages(self._paths[i])
        img = cv2.imread(str(self._paths[i]), cv2.IMREAD_COLOR)
        if img is None:
            raise DatasetError(f"{self._paths[i]}: cannot read image")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    @property
    def paths(self) -> tuple[Path, ...]:
        return self._paths


@dataclass(frozen=True)
class TrainTracklet:
    """One tracklet for training or evaluation. ``images``: uint8 HxWx3 RGB, any size."""

    tracklet_id: str
    camera_id: str
    t_start_s: float
    t_end_s: float
    images: Sequence[np.ndarray]
    pid_gt: int = -1

    def __post_init__(self) -> None:
        if not self.tracklet_id or not self.camera_id:
            raise DatasetError(f"tracklet needs an id and a camera, got {self.tracklet_id!r}, {self.camera_id!r}")
        if not (np.isfinite(self.t_start_s) and np.isfinite(self.t_end_s)) or self.t_end_s < self.t_start_s:
            raise DatasetError(f"tracklet {self.tracklet_id}: need finite t_start_s <= t_end_s, "
                               f"got {self.t_start_s}, {self.t_end_s}")
        if len(self.images) == 0:
            raise DatasetError(f"tracklet {self.tracklet_id}: no images")

    @property
    def num_images(self) -> int:
        return len(self.images)


def subsample_indices(n: int, max_n: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``max_n`` of ``n`` indices chosen at random (paper V-A: <= 60 a tracklet), sorted."""
    if max_n < 1:
        raise DatasetError(f"max images per tracklet must be >= 1, got {max_n}")
    if n <= max_n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=max_n, replace=False))


def cap_images(tracklets: Sequence[TrainTracklet], max_n: int, seed: int = 0) -> list[TrainTracklet]:
    """Each tracklet with at most ``max_n`` randomly kept images (seeded, order kept)."""
    rng = np.random.default_rng(seed)
    out = []
    for t in tracklets:
        keep = subsample_indices(t.num_images, max_n, rng)
        if len(keep) == t.num_images:
            out.append(t)
            continue
        imgs = t.images
        kept = LazyImages([imgs.paths[i] for i in keep]) if isinstance(imgs, LazyImages) \
            else [imgs[i] for i in keep]
        out.append(TrainTracklet(t.tracklet_id, t.camera_id, t.t_start_s, t.t_end_s, kept, t.pid_gt))
    return out


def fetch_images(tracklets: Sequence[TrainTracklet], items: Sequence[tuple[int, int]],
                 height: int, width: int) -> np.ndarray:
    """(tracklet index, image index) pairs -> uint8 (N, height, width, 3) RGB, resized as needed."""
    out = np.empty((len(items), height, width, 3), dtype=np.uint8)
    for n, (ti, ii) in enumerate(items):
        img = np.asarray(tracklets[ti].images[ii])
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise DatasetError(f"tracklet {tracklets[ti].tracklet_id} image {ii}: need uint8 HxWx3, "
                               f"got {img.dtype} {img.shape}")
        if img.shape[0] != height or img.shape[1] != width:
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
        out[n] = img
    return out


def from_campus4k(root: str | os.PathLike, max_images: int = 60, seed: int = 0,
                  min_images: int | None = None) -> list[TrainTracklet]:
    """Campus-4K ``tracklet/cam*/<tracklet>/`` folders as unlabelled training tracklets."""
    from ..datasets.campus4k import MIN_TRAIN_IMAGES, read_training_tracklets

    dirs = read_training_tracklets(root, MIN_TRAIN_IMAGES if min_images is None else min_images)
    out = [TrainTracklet(d.tracklet_id, d.camera_id, d.t_start_s, d.t_end_s, LazyImages(d.image_paths))
           for d in dirs]
    return cap_images(out, max_images, seed)


def from_campus4k_labelled(root: str | os.PathLike, split: str, max_images: int = 60,
                           seed: int = 0) -> list[TrainTracklet]:
    """Campus-4K ``query`` or ``gallery`` tracklets, with their identities (evaluation only)."""
    from ..datasets.campus4k import read_labelled

    out = [TrainTracklet(d.tracklet_id, d.camera_id, d.t_start_s, d.t_end_s, LazyImages(d.image_paths), d.pid)
           for d in read_labelled(root, split)]
    return cap_images(out, max_images, seed)


def describe(tracklets: Sequence[TrainTracklet]) -> dict[str, int]:
    """Counts for logs: tracklets and images per camera."""
    out: dict[str, int] = {}
    for t in tracklets:
        out[t.camera_id] = out.get(t.camera_id, 0) + 1
    return dict(sorted(out.items()))
