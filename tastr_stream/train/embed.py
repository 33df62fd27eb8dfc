"""Tracklet features for association and evaluation: the mean of its crops' embeddings.

The paper extracts one feature per tracklet with the current model (IV-C); we use the raw
mean of the per-crop embeddings (``associate.features.tracklet_feature``), so training,
association and the live associator agree on what a tracklet feature is. Crops from many
tracklets are packed into batches of a few fixed sizes (``models.inference.fixed_chunks``: a
long-lived trainer would otherwise keep oneDNN plans for every last-batch size it meets); no augmentation; eval mode; on CUDA bf16
autocast and channels-last, as in the live extractor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..associate.features import tracklet_feature
from ..errors import DatasetError
from ..models.inference import fixed_slices
from ..models.preprocess import to_input
from .data import TrainTracklet, fetch_images


def embed_tracklets(model: nn.Module, tracklets: Sequence[TrainTracklet], device: torch.device,
                    height: int, width: int, batch_size: int = 256) -> np.ndarray:
    """(num_tracklets, emb_dim) float32 mean embeddings, in the order given."""
    if batch_size < 1:
        raise DatasetError(f"embedding batch size must be >= 1, got {batch_size}")
    if not tracklets:
        return np.zeros((0, int(getattr(model, "emb_dim", 0))), np.float32)
    items = [(ti, ii) for ti, t in enumerate(tracklets) for ii in range(t.num_images)]
    bounds = np.cumsum([0] + [t.num_images for t in tracklets])      # tracklet ti owns rows bounds[ti]:bounds[ti+1]
    fast = device.type == "cuda"
    was_training = model.training
    model.to(device=device, memory_format=torch.channels_last if fast else torch.contiguous_format)
    model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            for chunk in fixed_slices(len(items), batch_size):     # few batch shapes: bounded oneDNN caches
                x = to_input(fetch_images(tracklets, items[chunk], height, width), device, channels_last=fast)
                if fast:
                    with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                        out = model(x)
                else:
                    out = model(x)
                chunks.append(out.float().cpu().numpy())
    finally:
        model.train(was_training)
    emb = np.concatenate(chunks)
    return np.stack([tracklet_feature(emb[bounds[ti]:bounds[ti + 1]]) for ti in range(len(tracklets))])
