"""Re-ID networks, their packaged starting weights, checkpoints, preprocessing and inference.

With ``train/``, the only part of the package that imports torch.
"""

from .backbones import (BACKBONES, DEFAULT_BACKBONE, INPUT_HW, PACKAGED_PRETRAINED, TRUNKS, ReIDNet, build_reid_model,
                        parse_architecture)
from .checkpoint import (initial_model, load_checkpoint, model_from_checkpoint, publish_checkpoint,
                         save_checkpoint, sha256_file)
from .inference import embed_batch, embed_reference, prepare_model, resolve_device, resolve_precision
from .partcolour import PartColourNet
from .preprocess import DecodedCrops, check_images, decode_crops, to_input

__all__ = [
    "BACKBONES", "DEFAULT_BACKBONE", "INPUT_HW", "PACKAGED_PRETRAINED", "TRUNKS", "ReIDNet", "PartColourNet",
    "build_reid_model", "parse_architecture",
    "initial_model", "load_checkpoint", "model_from_checkpoint", "publish_checkpoint", "save_checkpoint", "sha256_file",
    "embed_batch", "embed_reference", "prepare_model", "resolve_device", "resolve_precision",
    "DecodedCrops", "check_images", "decode_crops", "to_input",
]
