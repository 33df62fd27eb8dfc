"""How well each model version a run swapped in re-identifies the people of its synthetic world.

The live loop trains without labels; the world's ground truth says whether a round helped. Every
visit of a person to a camera becomes one tracklet of ground-truth crops (``train.world_crops``,
cut at the Re-ID input size); each visit queries the visits of the other cameras (the Market
protocol: same person in the same camera does not count), ranked by the distance of mean
embeddings (Euclidean, as the evaluation and the linker use). Version 0 is the model every daemon starts from; later versions are read from the
trainer's verified checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .reid import distance_matrix, evaluate_rank


@dataclass(frozen=True)
class VersionScore:
    version: int
    rank1: float
    mAP: float
    queries: int


def checkpoint_paths(checkpoint_dir: str | os.PathLike) -> dict[int, Path]:
    """``{version: path}`` of the trainer's ``reid-v000001.ckpt`` files."""
    out = {}
    for path in Path(checkpoint_dir).glob("reid-v*.ckpt"):
        try:
            out[int(path.stem.removeprefix("reid-v"))] = path
        except ValueError:
            continue
    return dict(sorted(out.items()))


def score_versions(world_dir: str | os.PathLike, checkpoint_dir: str | os.PathLike, versions: list[int],
                   backbone: str, emb_dim: int, weights_path: str = "") -> list[VersionScore]:
    """Rank-1 / mAP of each version in ``versions`` (0 = the initial model) on the world's visits."""
    from ..models.checkpoint import initial_model, model_from_checkpoint
    from ..models.backbones import INPUT_HW
    from ..train.embed import embed_tracklets
    from ..train.world_crops import CropSettings, load_world_tracklets

    _, tracklets = load_world_tracklets(world_dir, CropSettings(crop_hw=INPUT_HW, max_images=16))
    if len(tracklets) < 2:
        return []
    pids = np.array([t.pid_gt for t in tracklets])
    cams = np.array([t.camera_id for t in tracklets])
    # Only visits whose person was seen by another camera can be found there: a short run where
    # nobody crossed two cameras has nothing to score.
    if not any(((pids == p) & (cams != c)).any() for p, c in zip(pids, cams)):
        return []
    paths = checkpoint_paths(checkpoint_dir)
    out = []
    for v in versions:
        if v == 0:
            model, _ = initial_model(backbone, emb_dim, weights_path)
        elif v in paths:
            model, _ = model_from_checkpoint(paths[v])
        else:
            continue
        feats = embed_tracklets(model, tracklets, torch.device("cpu"), *INPUT_HW)
        res = evaluate_rank(distance_matrix(feats, feats), pids, pids, cams, cams, max_rank=1)
        out.append(VersionScore(v, float(res.cmc[0]), float(res.mAP), int(res.num_valid_queries)))
    return out
