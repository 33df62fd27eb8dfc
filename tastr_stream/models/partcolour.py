"""The zero-label starting model: CNN stripes fused with a colour descriptor (issue 11, item 2).

The old version 0 (``ReIDNet``: global average pooling, then a randomly initialised Linear + BN)
averages the feature map over the whole crop, so "red top, blue trousers" and "blue top, red
trousers" pool to nearly the same vector, and the random projection adds nothing. This head
keeps the layout and adds the cue a person's clothes give before any training:

- CNN block: the trunk's last feature map GeM-pooled (p = 3) over ``cnn_stripes`` horizontal
  stripes (head/torso/legs land in their own stripe on pose-derived crops), each stripe L2-
  normalised, concatenated, divided by sqrt(stripes): unit length, ``cnn_stripes * feat_dim``.
- colour block: ``colour.LabStripeHistogram`` (grey-world balanced Lab histograms per stripe,
  centre-weighted), unit length, no parameters.
- fusion: ``[w_cnn * cnn, w_colour * colour]`` with ``w_cnn^2 + w_colour^2 = 1``, so the fused
  vector has unit length and its squared distance is the weighted sum of the blocks' squared
  distances. ``w_colour = 0.9`` (chosen on the quality world: ``benchmarks/bench_zero_label.py``).
- to ``emb_dim``: one bias-free ``Linear(natural_dim, emb_dim)`` initialised, from the model
  seed, to a random *orthogonal* projection (orthonormal rows scaled by sqrt(natural/emb_dim)
  when emb_dim is smaller, which keeps distances in expectation; orthonormal columns, an exact
  isometry, when it is larger). It is the trainable head: training moves it and the trunk; the
  colour block stays fixed but its dimensions reach the output through it.
- scale: the output is multiplied by sqrt(emb_dim), so each dimension has about unit RMS, as the
  old head's BatchNorm output had: absolute settings tuned on that scale (the triplet margin,
  ``relink_max_distance``) keep the meaning they had.

No BatchNorm: in train mode it would renormalise by batch statistics on the first step and
throw the zero-label geometry away.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .colour import LabStripeHistogram

HEAD_NAME = "partcolour"
CNN_STRIPES = 4
GEM_P = 3.0
COLOUR_WEIGHT = 0.9


def gem_stripes(fm: torch.Tensor, stripes: int, p: float = GEM_P) -> torch.Tensor:
    """(N, C, H, W) -> (N, stripes * C): GeM per horizontal stripe, each stripe unit length, / sqrt(stripes)."""
    pooled = F.adaptive_avg_pool2d(fm.clamp(min=1e-6).pow(p), (stripes, 1)).pow(1.0 / p)   # (N, C, S, 1)
    parts = F.normalize(pooled.squeeze(3).transpose(1, 2), dim=2)                            # (N, S, C)
    return parts.flatten(1) / math.sqrt(stripes)


def orthogonal_projection(natural_dim: int, emb_dim: int) -> torch.Tensor:
    """(emb_dim, natural_dim) random orthogonal projection from the global RNG (see module doc)."""
    big, small = max(natural_dim, emb_dim), min(natural_dim, emb_dim)
    q, r = torch.linalg.qr(torch.randn(big, small, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)          # unique QR: Haar-distributed q
    w = q.T * math.sqrt(natural_dim / emb_dim) if emb_dim < natural_dim else q
    return w.float().contiguous()


class PartColourNet(nn.Module):
    """Trunk -> [GeM stripes | colour histograms] -> fixed-weight fusion -> Linear to emb_dim.

    ``forward`` maps (N, 3, H, W) ImageNet-normalised crops (256 x 128 in service) to (N, emb_dim).
    """

    def __init__(self, backbone: str, trunk: nn.Module, feat_dim: int, emb_dim: int, *,
                 cnn_stripes: int = CNN_STRIPES, colour_weight: float = COLOUR_WEIGHT,
                 colour: LabStripeHistogram | None = None) -> None:
        super().__init__()
        self.backbone_name = backbone
        self.feat_dim = feat_dim
        self.emb_dim = emb_dim
        self.cnn_stripes = int(cnn_stripes)
        self.colour_weight = float(colour_weight)
        self.cnn_weight = math.sqrt(max(0.0, 1.0 - self.colour_weight ** 2))
        self.trunk = trunk
        self.colour = colour if colour is not None else LabStripeHistogram()
        self.natural_dim = self.cnn_stripes * feat_dim + self.colour.out_dim
        self.out_scale = math.sqrt(emb_dim)
        self.proj = nn.Linear(self.natural_dim, emb_dim, bias=False)
        with torch.no_grad():
            self.proj.weight.copy_(orthogonal_projection(self.natural_dim, emb_dim))

    def spec(self) -> dict:
        """Everything that fixes the architecture beyond the weights (recorded in checkpoints)."""
        return {"head": HEAD_NAME, "feat_dim": self.feat_dim, "cnn_stripes": self.cnn_stripes, "gem_p": GEM_P,
                "colour_weight": self.colour_weight, "colour": self.colour.spec(), "natural_dim": self.natural_dim,
                "out_scale": "sqrt(emb_dim)"}

    def natural(self, x: torch.Tensor) -> torch.Tensor:
        """The unit-length fused descriptor before the projection, (N, natural_dim)."""
        cnn = gem_stripes(self.trunk(x), self.cnn_stripes).float()
        return torch.cat([self.cnn_weight * cnn, self.colour_weight * self.colour(x)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.natural(x)) * self.out_scale
