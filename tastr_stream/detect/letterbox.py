"""Letterboxing: fit a frame into the network's fixed input without distorting people.

The frame is scaled by one factor (keeping its aspect ratio, up or down), centred and padded with
grey 114 (the value YOLO models were trained with) to the input size, whose sides must be
multiples of the network stride (32). :func:`unletterbox_points` is the exact inverse for
coordinates, so boxes and keypoints come back in the caller's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ConfigError

PAD_VALUE = 114
STRIDE = 32


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed into the input: ``input = image * scale + (pad_left, pad_top)``."""

    scale: float
    pad_left: int
    pad_top: int
    input_wh: tuple[int, int]
    image_wh: tuple[int, int]


def stride_aligned(size: int, stride: int = STRIDE) -> int:
    """The smallest multiple of ``stride`` that is >= size."""
    return -(-int(size) // stride) * stride


def check_input_size(width: int, height: int, stride: int = STRIDE) -> None:
    if width % stride or height % stride or width <= 0 or height <= 0:
        raise ConfigError(f"letterbox input {width}x{height}: both sides must be positive multiples of {stride}")


def plan_letterbox(image_wh: tuple[int, int], input_wh: tuple[int, int]) -> Letterbox:
    """Compute scale and padding without touching pixels (tests and the decoder share it)."""
    check_input_size(*input_wh)
    w, h = image_wh
    in_w, in_h = input_wh
    scale = min(in_w / w, in_h / h)
    new_w, new_h = min(in_w, round(w * scale)), min(in_h, round(h * scale))
    return Letterbox(scale=scale, pad_left=(in_w - new_w) // 2, pad_top=(in_h - new_h) // 2,
                     input_wh=(in_w, in_h), image_wh=(w, h))


def letterbox(image_bgr: np.ndarray, input_wh: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """(input image (in_h, in_w, 3) uint8, placement) for a BGR frame."""
    h, w = image_bgr.shape[:2]
    plan = plan_letterbox((w, h), input_wh)
    in_w, in_h = input_wh
    new_w, new_h = min(in_w, round(w * plan.scale)), min(in_h, round(h * plan.scale))
    if (new_w, new_h) != (w, h):
        interp = cv2.INTER_AREA if plan.scale < 1 else cv2.INTER_LINEAR
        image_bgr = cv2.resize(image_bgr, (new_w, new_h), interpolation=interp)
    out = np.full((in_h, in_w, 3), PAD_VALUE, dtype=np.uint8)
    out[plan.pad_top:plan.pad_top + new_h, plan.pad_left:plan.pad_left + new_w] = image_bgr
    return out, plan


def letterbox_points(xy: np.ndarray, plan: Letterbox) -> np.ndarray:
    """Image pixels -> input pixels for an (..., 2) array of x, y."""
    xy = np.asarray(xy, dtype=np.float32)
    return xy * plan.scale + np.array([plan.pad_left, plan.pad_top], dtype=np.float32)


def unletterbox_points(xy: np.ndarray, plan: Letterbox) -> np.ndarray:
    """Input pixels -> image pixels for an (..., 2) array of x, y (inverse of letterbox_points)."""
    xy = np.asarray(xy, dtype=np.float32)
    return (xy - np.array([plan.pad_left, plan.pad_top], dtype=np.float32)) / plan.scale
