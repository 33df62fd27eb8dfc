"""A fixed colour descriptor in torch: per-stripe soft Lab histograms after grey-world balance.

What it computes, for each ImageNet-normalised crop (N, 3, H, W):

1. back to RGB in [0, 1] and area-averaged to a small grid (``10 * stripes`` rows x 32 columns):
   colour histograms need no detail, and the grid makes the cost independent of the crop size;
2. grey-world balance: each channel is scaled so that the crop's mean colour is grey (the mean of
   its three channel means). A camera's white balance and the colour of its light act on the
   three channels as gains (von Kries); this divides them out. The crop's background takes part
   in the mean, which is what makes it work on a person in a bright coat;
3. CIE Lab (sRGB, D65): perceptually even bins, lightness apart from chroma;
4. a joint soft histogram per horizontal stripe (``bins`` = L x a x b centres, triangular weights
   so that a colour on a bin edge is shared, not flipped), each pixel weighted by a Gaussian
   across the width (``centre_sigma`` of the width): pose-derived boxes put the person in the
   middle columns and the background at the sides;
5. per stripe: L1-normalised, square root (Hellinger: the Euclidean distance of the result is the
   Hellinger distance of the histograms), so each stripe has unit length; the stripes are
   concatenated and divided by sqrt(stripes), so the whole block has unit length.

The block has no parameters and runs in float32 even under autocast (bf16 bins are too coarse).
``lab_stripe_histograms_reference`` is the same descriptor written pixel loop by pixel loop in
numpy; a test holds the two equal.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)     # same as preprocess.py (kept here: no import cycle)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
GRID_WIDTH = 32
ROWS_PER_STRIPE = 10
# sRGB (linear) -> XYZ, D65 white; Lab ranges mapped to [0, 1]: L / 100, (a + 100) / 200, (b + 100) / 200.
_RGB_TO_XYZ = ((0.4124, 0.3576, 0.1805), (0.2126, 0.7152, 0.0722), (0.0193, 0.1192, 0.9505))
_WHITE_XYZ = (0.9505, 1.0, 1.089)


def rgb_to_lab01(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) sRGB in [0, 1] -> CIE Lab, each channel mapped to about [0, 1]."""
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = torch.tensor(_RGB_TO_XYZ, dtype=rgb.dtype, device=rgb.device)
    white = torch.tensor(_WHITE_XYZ, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    xyz = torch.einsum("ij,njhw->nihw", m, lin) / white
    f = torch.where(xyz > 0.008856, xyz.clamp(min=1e-6) ** (1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    lightness = 116.0 * f[:, 1] - 16.0
    a = 500.0 * (f[:, 0] - f[:, 1])
    b = 200.0 * (f[:, 1] - f[:, 2])
    return torch.stack([lightness / 100.0, (a + 100.0) / 200.0, (b + 100.0) / 200.0], 1)


def soft_bins(v: torch.Tensor, bins: int) -> torch.Tensor:
    """(N, ...) values in [0, 1] -> (N, bins, ...) triangular weights around ``bins`` even centres."""
    centres = (torch.arange(bins, dtype=v.dtype, device=v.device) + 0.5) / bins
    diff = v.unsqueeze(1) - centres.view(1, bins, *([1] * (v.dim() - 1)))
    return (1.0 - diff.abs() * bins).clamp(min=0.0)


def grey_world(rgb: torch.Tensor) -> torch.Tensor:
    """Scale each channel so the image's mean colour is grey; (N, 3, H, W) in [0, 1] -> same."""
    mean = rgb.mean((2, 3), keepdim=True)
    gain = mean.mean(1, keepdim=True) / mean.clamp(min=1e-3)
    return (rgb * gain).clamp(0.0, 1.0)


class LabStripeHistogram(nn.Module):
    """ImageNet-normalised crops (N, 3, H, W) -> (N, stripes * prod(bins)) colour descriptor."""

    def __init__(self, stripes: int = 6, bins: tuple[int, int, int] = (4, 6, 6), centre_sigma: float = 0.15,
                 balance: bool = True) -> None:
        super().__init__()
        if not 1 <= stripes <= 32 or len(bins) != 3 or not all(2 <= b <= 32 for b in bins):
            raise ModelError(f"colour histogram needs 1..32 stripes and three bin counts in 2..32, "
                             f"got stripes={stripes!r} bins={bins!r}")
        if not 0.0 < centre_sigma <= 10.0:
            raise ModelError(f"centre_sigma must be in (0, 10] (a share of the width), got {centre_sigma!r}")
        self.stripes, self.bins = int(stripes), tuple(int(b) for b in bins)
        self.centre_sigma, self.balance = float(centre_sigma), bool(balance)
        self.out_dim = self.stripes * math.prod(self.bins)
        xs = (torch.arange(GRID_WIDTH, dtype=torch.float32) + 0.5) / GRID_WIDTH - 0.5
        self.register_buffer("column_weight", torch.exp(-xs ** 2 / (2 * self.centre_sigma ** 2)), persistent=False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD_RGB).view(1, 3, 1, 1), persistent=False)

    def spec(self) -> dict:
        return {"space": "lab", "stripes": self.stripes, "bins": list(self.bins),
                "centre_sigma": self.centre_sigma, "grey_world": self.balance}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            rgb = (x.float() * self.std + self.mean).clamp(0.0, 1.0)
            rgb = F.adaptive_avg_pool2d(rgb, (ROWS_PER_STRIPE * self.stripes, GRID_WIDTH))
            if self.balance:
                rgb = grey_world(rgb)
            lab = rgb_to_lab01(rgb)
            n = lab.shape[0]
            # (N, bins_c, stripes, pixels per stripe) per channel; the column weight on the first.
            w = [soft_bins(lab[:, c], self.bins[c]).reshape(n, self.bins[c], self.stripes, -1) for c in range(3)]
            cw = self.column_weight.repeat(ROWS_PER_STRIPE).view(1, 1, 1, -1)
            ab = (w[0] * cw).unsqueeze(2) * w[1].unsqueeze(1)                  # (N, L, a, S, P)
            hist = torch.einsum("nlasp,nbsp->nslab", ab, w[2]).reshape(n, self.stripes, -1)
            hist = hist / hist.sum(2, keepdim=True).clamp(min=1e-12)
            return hist.sqrt().flatten(1) / math.sqrt(self.stripes)


def lab_stripe_histograms_reference(rgb_uint8: np.ndarray, stripes: int = 6, bins=(4, 6, 6),
                                    centre_sigma: float = 0.15, balance: bool = True) -> np.ndarray:
    """Plain numpy reference for one uint8 RGB image already on the (10 * stripes, 32) grid."""
    rgb = rgb_uint8.astype(np.float64) / 255.0
    rows, cols = rgb.shape[:2]
    if (rows, cols) != (ROWS_PER_STRIPE * stripes, GRID_WIDTH):
        raise ModelError(f"reference wants a {ROWS_PER_STRIPE * stripes}x{GRID_WIDTH} image, got {rows}x{cols}")
    if balance:
        mean = rgb.reshape(-1, 3).mean(0)
        rgb = np.clip(rgb * (mean.mean() / np.maximum(mean, 1e-3)), 0.0, 1.0)
    lab = rgb_to_lab01(torch.from_numpy(rgb.transpose(2, 0, 1)[None].copy())).numpy()[0]
    hist = np.zeros((stripes,) + tuple(bins))
    for y in range(rows):
        for x in range(cols):
            weight = math.exp(-((x + 0.5) / cols - 0.5) ** 2 / (2 * centre_sigma ** 2))
            per_channel = []
            for c in range(3):
                centres = (np.arange(bins[c]) + 0.5) / bins[c]
                per_channel.append(np.clip(1.0 - np.abs(lab[c, y, x] - centres) * bins[c], 0.0, None))
            hist[y // ROWS_PER_STRIPE] += weight * np.einsum("i,j,k->ijk", *per_channel)
    hist = hist.reshape(stripes, -1)
    hist /= np.maximum(hist.sum(1, keepdims=True), 1e-12)
    return (np.sqrt(hist) / math.sqrt(stripes)).ravel()
