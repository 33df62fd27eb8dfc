"""The model every daemon starts from, identical everywhere without any file exchange.

Version 0 is the packaged ImageNet backbone with a head initialised from a fixed seed, so an
ingest process on an edge box and the associator at the centre compute the same embeddings
before the first training round. A user checkpoint (``weights_path``) starts at its own version.
"""

from __future__ import annotations

from ..models.backbones import build_reid_model
from ..models.checkpoint import model_from_checkpoint

INITIAL_SEED = 0


def initial_model(backbone: str, emb_dim: int, weights_path: str = ""):
    """(model, version): a checkpoint's model and version, or the seeded version-0 model."""
    if weights_path:
        model, header = model_from_checkpoint(weights_path, backbone=backbone, emb_dim=emb_dim)
        return model, int(header.get("version", 0))
    return build_reid_model(backbone, emb_dim, pretrained=True, seed=INITIAL_SEED), 0
