"""Re-ID networks, their packaged starting weights, checkpoints, preprocessing and inference.

With ``train/``, the only part of the package that imports torch. The names below load their
module on first use (PEP 562), so importing ``tastr_stream.models.checkpoint`` or ``.lifecycle``
for a header check or a refusal count does not import torch and torchvision (about 4 s).
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "BACKBONES": "backbones", "DEFAULT_BACKBONE": "backbones", "INPUT_HW": "backbones",
    "PACKAGED_PRETRAINED": "backbones", "TRUNKS": "backbones", "ReIDNet": "backbones",
    "build_reid_model": "backbones", "parse_architecture": "backbones",
    "initial_model": "checkpoint", "load_checkpoint": "checkpoint", "model_from_checkpoint": "checkpoint",
    "publish_checkpoint": "checkpoint", "save_checkpoint": "checkpoint", "sha256_file": "checkpoint",
    "embed_batch": "inference", "embed_reference": "inference", "prepare_model": "inference",
    "resolve_device": "inference", "resolve_precision": "inference",
    "PartColourNet": "partcolour",
    "DecodedCrops": "preprocess", "check_images": "preprocess", "decode_crops": "preprocess", "to_input": "preprocess",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value          # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
