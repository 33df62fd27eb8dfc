"""Crops to network input: JPEG bytes -> uint8 RGB (N, H, W, 3) -> normalised (N, 3, H, W).

Decoding stays in numpy/OpenCV and yields uint8, so the batch crosses to the device at a
quarter of the float32 size and is normalised there (``to_input``). A crop that does not
decode is skipped and counted, never a crash: one bad JPEG must not cost the tracklet.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..errors import ModelError
from .backbones import INPUT_HW

log = logging.getLogger(__name__)

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DecodedCrops:
    """Decoded crops of one job. ``index[i]`` is the input position of ``images[i]``."""

    images: np.ndarray      # (M, H, W, 3) uint8 RGB
    index: np.ndarray       # (M,) int64 positions in the input that decoded
    n_failed: int


def _fit(img: np.ndarray, height: int, width: int) -> np.ndarray:
    if img.shape[0] == height and img.shape[1] == width:
        return img
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)


def decode_crops(crops_jpeg: Sequence[bytes], height: int = INPUT_HW[0],
                 width: int = INPUT_HW[1]) -> DecodedCrops:
    """Decode JPEG crops to RGB uint8, resizing any crop not already ``height`` x ``width``."""
    images: list[np.ndarray] = []
    index: list[int] = []
    failed = 0
    for i, data in enumerate(crops_jpeg):
        img = None
        if isinstance(data, (bytes, bytearray, memoryview)) and len(data) > 0:
            img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            failed += 1
            log.debug("undecodable crop skipped", extra={"kv": {"index": i, "bytes": len(data or b"")}})
            continue
        images.append(cv2.cvtColor(_fit(img, height, width), cv2.COLOR_BGR2RGB))
        index.append(i)
    stack = np.stack(images) if images else np.zeros((0, height, width, 3), np.uint8)
    return DecodedCrops(stack, np.asarray(index, dtype=np.int64), failed)


def check_images(images: np.ndarray, height: int = INPUT_HW[0], width: int = INPUT_HW[1]) -> np.ndarray:
    """Validate an already decoded uint8 RGB batch (N, H, W, 3); resize it if H x W differ."""
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3:
        raise ModelError(f"images must be uint8 (N, H, W, 3) RGB, got {arr.dtype} {arr.shape}")
    if arr.shape[1:3] != (height, width):
        arr = np.stack([_fit(a, height, width) for a in arr]) if len(arr) else \
            np.zeros((0, height, width, 3), np.uint8)
    return arr


def to_input(images: np.ndarray, device: torch.device | str = "cpu",
             channels_last: bool = True) -> torch.Tensor:
    """uint8 (N, H, W, 3) RGB -> float32 (N, 3, H, W) normalised with ImageNet mean/std on ``device``.

    ``channels_last`` keeps the NHWC memory layout the decoder produced (no copy on the way),
    which is also the layout cuDNN prefers for these convolutions.
    """
    t = torch.from_numpy(np.ascontiguousarray(images)).to(device, non_blocking=True)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    # NHWC memory viewed as NCHW; one copy converts dtype and layout, then two in-place passes.
    x = t.permute(0, 3, 1, 2).to(dtype=torch.float32, memory_format=fmt)
    mean = torch.tensor(IMAGENET_MEAN_RGB, device=x.device).view(1, 3, 1, 1) * 255.0
    inv_std = 1.0 / (torch.tensor(IMAGENET_STD_RGB, device=x.device).view(1, 3, 1, 1) * 255.0)
    return x.sub_(mean).mul_(inv_std)
