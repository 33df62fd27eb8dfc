"""Training-time augmentation (paper V-A): random crop, horizontal flip, normalisation, erasing.

Random crop = zero-pad ``pad_px`` on every side, then crop a random window of the original
size back out (torchreid's ``random_crop``-style translation); flip with probability 0.5;
normalise with the ImageNet mean/std the backbones were trained with. All of it runs as ONE
gather on the device over the whole uint8 batch, so augmentation costs about as much as the
host-to-device copy. The random offsets come from a seeded numpy generator on the host, so a
run is reproducible on any device.

Random erasing (Zhong et al. 2020; the "bag of tricks" baseline uses p = 0.5, area 2-40 % of the
crop, aspect 0.3-3.3) blanks one rectangle per chosen image with the ImageNet mean, i.e. zero after
normalisation: it stands in for the occlusions the tracker's crops have (another walker, a pole)
and keeps the model from leaning on any one region. Off by default here (``erase_p = 0``); the
trainer turns it on from ``trainer.erase_p``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import DatasetError
from ..models.preprocess import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB

DEFAULT_PAD_PX = 10
DEFAULT_FLIP_P = 0.5
ERASE_AREA = (0.02, 0.4)          # share of the crop one erased rectangle covers
ERASE_ASPECT = (0.3, 1 / 0.3)     # height / width of the rectangle (log-uniform)


class TrainAugment:
    """uint8 (N, H, W, 3) RGB numpy batch -> augmented, normalised float (N, 3, H, W) tensor."""

    def __init__(self, seed: int = 0, pad_px: int = DEFAULT_PAD_PX, flip_p: float = DEFAULT_FLIP_P,
                 erase_p: float = 0.0) -> None:
        if pad_px < 0 or not 0.0 <= flip_p <= 1.0 or not 0.0 <= erase_p <= 1.0:
            raise DatasetError(f"augment needs pad_px >= 0, 0 <= flip_p <= 1 and 0 <= erase_p <= 1, "
                               f"got {pad_px}, {flip_p}, {erase_p}")
        self.pad_px = pad_px
        self.flip_p = flip_p
        self.erase_p = erase_p
        self._rng = np.random.default_rng(seed)

    def draw(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-image (y offset, x offset, flip) in the padded image; exposed for tests."""
        oy = self._rng.integers(0, 2 * self.pad_px + 1, size=n)
        ox = self._rng.integers(0, 2 * self.pad_px + 1, size=n)
        flip = self._rng.random(n) < self.flip_p
        return oy, ox, flip

    def draw_erase(self, n: int, h: int, w: int) -> np.ndarray:
        """Per-image erased rectangle (y0, x0, y1, x1), all zero where nothing is erased; for tests too."""
        boxes = np.zeros((n, 4), np.int64)
        chosen = self._rng.random(n) < self.erase_p
        area = self._rng.uniform(*ERASE_AREA, size=n) * h * w
        aspect = np.exp(self._rng.uniform(np.log(ERASE_ASPECT[0]), np.log(ERASE_ASPECT[1]), size=n))
        eh = np.clip(np.round(np.sqrt(area * aspect)), 1, h).astype(np.int64)
        ew = np.clip(np.round(np.sqrt(area / aspect)), 1, w).astype(np.int64)
        y0 = (self._rng.random(n) * (h - eh + 1)).astype(np.int64)
        x0 = (self._rng.random(n) * (w - ew + 1)).astype(np.int64)
        boxes[chosen] = np.stack([y0, x0, y0 + eh, x0 + ew], 1)[chosen]
        return boxes

    def __call__(self, images: np.ndarray, device: torch.device, channels_last: bool = False) -> torch.Tensor:
        arr = np.asarray(images)
        if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3:
            raise DatasetError(f"augment needs uint8 (N, H, W, 3) RGB, got {arr.dtype} {arr.shape}")
        n, h, w, _ = arr.shape
        oy, ox, flip = self.draw(n)
        x = torch.from_numpy(np.ascontiguousarray(arr)).to(device, non_blocking=True)
        t = augment_tensor(x, oy, ox, flip, self.pad_px, channels_last)
        return erase(t, self.draw_erase(n, h, w)) if self.erase_p > 0 else t


def erase(t: torch.Tensor, boxes: np.ndarray) -> torch.Tensor:
    """Zero (= the ImageNet mean once normalised) each image's rectangle (y0, x0, y1, x1), as one mask."""
    n, _, h, w = t.shape
    b = torch.as_tensor(boxes, device=t.device)
    ys = torch.arange(h, device=t.device)[None, :, None]
    xs = torch.arange(w, device=t.device)[None, None, :]
    inside = ((ys >= b[:, 0, None, None]) & (ys < b[:, 2, None, None])
              & (xs >= b[:, 1, None, None]) & (xs < b[:, 3, None, None]))
    return t.masked_fill(inside[:, None], 0.0)


def augment_tensor(x: torch.Tensor, oy: np.ndarray, ox: np.ndarray, flip: np.ndarray, pad_px: int,
                   channels_last: bool = False) -> torch.Tensor:
    """Pad + crop at (oy, ox) + optional flip, as one gather; then normalise. x: uint8 NHWC."""
    n, h, w, _ = x.shape
    dev = x.device
    p = pad_px
    hp, wp = h + 2 * p, w + 2 * p
    xp = torch.zeros((n, hp, wp, 3), dtype=x.dtype, device=dev)     # zero border, NHWC
    xp[:, p:p + h, p:p + w] = x
    rows = torch.as_tensor(oy, device=dev)[:, None] + torch.arange(h, device=dev)[None, :]
    cols_fwd = torch.arange(w, device=dev)[None, :]
    cols = torch.where(torch.as_tensor(flip, device=dev)[:, None], (w - 1) - cols_fwd, cols_fwd)
    cols = cols + torch.as_tensor(ox, device=dev)[:, None]
    lin = (rows[:, :, None] * wp + cols[:, None, :]).reshape(n, h * w, 1).expand(-1, -1, 3)
    out = torch.gather(xp.reshape(n, hp * wp, 3), 1, lin).view(n, h, w, 3)   # (N, H, W, 3) uint8
    t = out.permute(0, 3, 1, 2).float()
    mean = torch.tensor(IMAGENET_MEAN_RGB, device=dev).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD_RGB, device=dev).view(1, 3, 1, 1) * 255.0
    t = (t - mean) / std
    return t.contiguous(memory_format=torch.channels_last) if channels_last else t.contiguous()


def augment_reference(img: np.ndarray, oy: int, ox: int, flip: bool, pad_px: int) -> np.ndarray:
    """One image, step by step in numpy (uint8 HWC, before normalisation): the gather's yardstick."""
    h, w, _ = img.shape
    padded = np.zeros((h + 2 * pad_px, w + 2 * pad_px, 3), np.uint8)
    padded[pad_px:pad_px + h, pad_px:pad_px + w] = img
    crop = padded[oy:oy + h, ox:ox + w]
    return crop[:, ::-1].copy() if flip else crop.copy()
