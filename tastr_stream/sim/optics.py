"""What the camera does to a drawn frame: lens/defocus blur, then sensor noise.

Flat-shaded, anti-aliased figures have edges sharper than any real camera produces, and pose
networks trained on real footage score them low (YOLO11n-pose found 60 % of crisp single
figures, 88 % after a 1.5 px blur at 720p). So every frame goes through a Gaussian point-spread
function whose width scales with the image height (``BLUR_SIGMA_720P`` pixels at 720 rows, so
the same world looks the same at any resolution), then gets grain.

Drawing fresh Gaussian noise for every frame costs more than the drawing itself, so a camera
keeps a small pool of pre-drawn noise fields (slightly larger than the frame) and each frame
takes one at a frame-dependent offset: cheap, seeded, and with no visible fixed pattern.
Optics only change pixels; ground truth is computed from the primitives and is unaffected.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import ConfigError

BLUR_SIGMA_720P = 1.5     # Gaussian PSF sigma in pixels at 720 rows
NOISE_SIGMA = 3.0         # sensor noise, grey levels (independent per channel)
_POOL_SIZE = 2
_POOL_MARGIN_PX = 32


class CameraOptics:
    """Blur + grain for one camera's frames; ``apply`` is deterministic in (seed, frame index)."""

    def __init__(self, size_wh: tuple[int, int], seed: int, *, background: np.ndarray | None = None,
                 blur_sigma_720p: float = BLUR_SIGMA_720P, noise_sigma: float = NOISE_SIGMA) -> None:
        w, h = size_wh
        if w <= 0 or h <= 0:
            raise ConfigError(f"frame size must be positive, got {w}x{h}")
        if blur_sigma_720p < 0 or noise_sigma < 0:
            raise ConfigError(f"blur and noise sigmas must be >= 0, got {blur_sigma_720p}, {noise_sigma}")
        self._size_wh = (w, h)
        self.blur_sigma_px = blur_sigma_720p * h / 720.0
        # Kernel cut at 2.5 sigma (1 % of the mass lost) instead of OpenCV's 3-4: a third less work.
        self._radius_px = int(math.ceil(2.5 * self.blur_sigma_px))
        self._blurred_background = None
        if background is not None:
            if background.shape != (h, w, 3):
                raise ConfigError(f"background shape {background.shape} does not match the camera size {w}x{h}")
            self._blurred_background = self.blur(background)
        self._seed = seed
        # Positive and negative parts kept separately as uint8, so that adding signed noise is two
        # saturating OpenCV calls instead of an int16 round trip over the whole frame.
        self._pos: list[np.ndarray] = []
        self._neg: list[np.ndarray] = []
        if noise_sigma > 0:
            rng = np.random.default_rng([seed, 7])
            shape = (h + _POOL_MARGIN_PX, w + _POOL_MARGIN_PX, 3)
            for _ in range(_POOL_SIZE):
                field = np.rint(rng.standard_normal(shape, dtype=np.float32) * noise_sigma)
                field = np.clip(field, -127, 127)
                self._pos.append(np.maximum(field, 0).astype(np.uint8))
                self._neg.append(np.maximum(-field, 0).astype(np.uint8))

    def blur(self, img: np.ndarray) -> np.ndarray:
        """Reference path: the whole frame through the PSF (returns ``img`` itself when sigma ~ 0)."""
        if self.blur_sigma_px < 0.2:
            return img
        k = 2 * self._radius_px + 1
        return cv2.GaussianBlur(img, (k, k), self.blur_sigma_px)

    def blur_dirty(self, img: np.ndarray, dirty_xyxy) -> np.ndarray:
        """Same pixels as ``blur(img)`` when ``img`` equals the background outside ``dirty_xyxy``.

        The static background is blurred once; per frame only the regions drawn over it (figure
        boxes) are blurred, each with a kernel radius of context, and pasted in. Exact, because a
        pixel's blurred value depends only on its neighbourhood within the kernel radius.
        """
        if self._blurred_background is None or self.blur_sigma_px < 0.2:
            return self.blur(img)
        out = self._blurred_background.copy()
        w, h = self._size_wh
        r = self._radius_px
        k = 2 * r + 1
        for box in dirty_xyxy:
            # Pixels whose kernel touches the box, and the context their kernels need.
            x0, y0 = max(0, int(math.floor(box[0])) - 1 - r), max(0, int(math.floor(box[1])) - 1 - r)
            x1, y1 = min(w, int(math.ceil(box[2])) + 2 + r), min(h, int(math.ceil(box[3])) + 2 + r)
            if x1 <= x0 or y1 <= y0:
                continue
            cx0, cy0, cx1, cy1 = max(0, x0 - r), max(0, y0 - r), min(w, x1 + r), min(h, y1 + r)
            part = cv2.GaussianBlur(img[cy0:cy1, cx0:cx1], (k, k), self.blur_sigma_px)
            out[y0:y1, x0:x1] = part[y0 - cy0: y1 - cy0, x0 - cx0: x1 - cx0]
        return out

    def add_noise(self, img: np.ndarray, frame_index: int) -> np.ndarray:
        """Add a pooled noise field, cropped at an offset picked by the frame index, in place."""
        if not self._pos:
            return img
        w, h = self._size_wh
        if img.shape != (h, w, 3):
            raise ConfigError(f"frame shape {img.shape} does not match the camera size {w}x{h}")
        r = np.random.default_rng([self._seed, 8, frame_index])
        k = int(r.integers(_POOL_SIZE))
        dx, dy = (int(v) for v in r.integers(_POOL_MARGIN_PX + 1, size=2))
        cv2.add(img, self._pos[k][dy:dy + h, dx:dx + w], dst=img)
        cv2.subtract(img, self._neg[k][dy:dy + h, dx:dx + w], dst=img)
        return img

    def apply(self, img: np.ndarray, frame_index: int, dirty_xyxy=None) -> np.ndarray:
        """Blurred, noisy copy of a drawn frame (the input is not modified).

        ``dirty_xyxy``: boxes of everything drawn over the background passed at construction;
        then only those regions are blurred (same result, much cheaper with few people).
        """
        out = self.blur(img) if dirty_xyxy is None else self.blur_dirty(img, dirty_xyxy)
        if out is img:
            out = img.copy()
        return self.add_noise(out, frame_index)
