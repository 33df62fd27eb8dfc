"""The progressive TASTR schedule (paper Fig. 5) and the association ablation (Table IV, group 3).

Round 0 (TASTR-S1): within-camera training with TSCCC batches. Rounds 1..n: embed every
training tracklet with the newest model (mean embedding), run batch NN-CCTA with STR and
k-means (``associate.nn_ccta``) -> cross-camera pairs, train with TCCPC batches on them. After
every round: Re-ID rank-1/5 and mAP on the test split, association precision / recall / pair
count against ground truth where it exists, and a versioned checkpoint (``reid-v00000N.ckpt``)
with the frozen config beside it (``reid-v00000N.config.json``) and inside its header.

Ground-truth identities (``pid_gt``) are read only by :mod:`.evaluation`, never here to train.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..associate.nn_ccta import nn_ccta
from ..associate.records import AssociatedPair
from ..associate.records import TrackletMeta as AssocMeta
from ..associate.str_prior import TransferPrior
from ..config.associator import Association
from ..config.network import Network
from ..config.trainer import TrainerConfig
from ..errors import DatasetError, SamplerError
from ..models.checkpoint import publish_checkpoint
from .data import TrainTracklet
from .embed import embed_tracklets
from .evaluation import ExperimentData, evaluate_features, pair_quality
from .recipe import EndToEnd, HeadOnly, make_recipe
from .samplers import TCCPC, TSCCC

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoundResult:
    """One row of the progressive schedule's report. NaN where there is no ground truth."""

    round: int
    kind: str                  # "within" (TSCCC) | "cross" (TCCPC)
    rank1: float
    rank5: float
    mAP: float
    num_pairs: int             # pairs the association fed this round's training (0 for round 0)
    pair_precision: float
    pair_recall: float
    steps: int
    loss_last: float
    images_per_s: float
    checkpoint: str

    def as_dict(self) -> dict:
        return asdict(self)


def associate_features(feats, tracklets: Sequence[TrainTracklet], network: Network, cfg: Association,
                       version: int = 0) -> list[tuple[int, int]]:
    """NN-CCTA over already computed tracklet features (rows in ``tracklets`` order)."""
    metas = [AssocMeta(t.tracklet_id, t.camera_id, t.t_start_s, t.t_end_s, f, version)
             for t, f in zip(tracklets, feats)]
    index = {t.tracklet_id: i for i, t in enumerate(tracklets)}
    pairs: list[AssociatedPair] = nn_ccta(metas, TransferPrior.from_network(network, cfg.str_prior), cfg)
    return [(index[p.tracklet_a], index[p.tracklet_b]) for p in pairs]


def frozen_config(trainer: TrainerConfig, association: Association, extra: dict | None = None) -> dict:
    """Everything that shaped a checkpoint, JSON-ready."""
    return {"trainer": trainer.model_dump(mode="json"),
            "association": association.model_dump(mode="json", by_alias=True), **(extra or {})}


def save_round(model: nn.Module, out_dir: str | os.PathLike, version: int, config: dict) -> str:
    """Checkpoint ``reid-v{version}.ckpt`` plus its frozen config JSON beside it; returns the path."""
    ann = publish_checkpoint(model, out_dir, version, meta={"config": config})
    cfg_path = Path(ann.path).with_suffix(".config.json")
    tmp = cfg_path.with_name(cfg_path.name + ".tmp")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True))
    os.replace(tmp, cfg_path)
    return ann.path


def evaluate_round(model: nn.Module, data: ExperimentData, recipe: EndToEnd | HeadOnly):
    """CMC / mAP of the test split with ``recipe``'s features; None without a test split."""
    if not data.query or not data.gallery:
        return None
    return evaluate_features(recipe.features(model, data.query), recipe.features(model, data.gallery),
                             data.query, data.gallery)


def run_rounds(model: nn.Module, data: ExperimentData, trainer_cfg: TrainerConfig, assoc_cfg: Association,
               device: torch.device, out_dir: str | os.PathLike, *, rounds: int | None = None,
               round0_epochs: int | None = None, first_round: int = 0, progress: bool = True,
               on_round: Callable[[RoundResult], None] | None = None,
               recipe: EndToEnd | HeadOnly | None = None) -> list[RoundResult]:
    """Round 0 (TSCCC) then ``rounds`` (default ``trainer_cfg.rounds``) association + TCCPC rounds.

    ``first_round=1`` continues from a model that already had its round 0 (the ablation runs
    every association variant from one shared TASTR-S1 model). ``recipe`` (default: the one
    ``trainer_cfg.recipe`` names) may be shared between runs from one start, so that the head
    recipe's descriptors are computed once.
    """
    recipe = recipe or make_recipe(trainer_cfg, device, model, progress)
    n_rounds = trainer_cfg.rounds if rounds is None else rounds
    if n_rounds >= max(first_round, 1) and data.network is None:
        raise DatasetError(f"{data.name}: cross-camera rounds need a camera network (cameras and walking paths)")
    train = data.train
    results: list[RoundResult] = []
    for r in range(first_round, n_rounds + 1):
        seed = trainer_cfg.seed + r
        pairs: list[tuple[int, int]] = []
        if r == 0:
            sampler = TSCCC(train, trainer_cfg.p, trainer_cfg.k, trainer_cfg.tsccc_gap_s, seed=seed)
            epochs = round0_epochs
        else:
            pairs = associate_features(recipe.features(model, train), train, data.network, assoc_cfg, version=r - 1)
            try:
                sampler = TCCPC(train, pairs, trainer_cfg.p, trainer_cfg.k, seed=seed)
            except SamplerError as exc:
                raise SamplerError(f"round {r}: {exc}") from exc
            epochs = None
        stats = recipe.train(model, sampler, train, epochs, desc=f"round {r} {'TSCCC' if r == 0 else 'TCCPC'}",
                             config=trainer_cfg)
        rank = evaluate_round(model, data, recipe)
        quality = pair_quality(pairs, train) if r > 0 else None
        config = frozen_config(trainer_cfg, assoc_cfg, {"round": r, "num_pairs": len(pairs),
                                                        "num_train_tracklets": len(train)})
        path = save_round(model, out_dir, r, config)
        row = RoundResult(
            round=r, kind="within" if r == 0 else "cross",
            rank1=rank.rank(1) if rank else float("nan"),
            rank5=rank.rank(min(5, len(rank.cmc))) if rank else float("nan"),
            mAP=rank.mAP if rank else float("nan"), num_pairs=len(pairs),
            pair_precision=quality.precision if quality else float("nan"),
            pair_recall=quality.recall if quality else float("nan"),
            steps=stats.steps, loss_last=stats.loss_last, images_per_s=stats.images_per_s, checkpoint=path)
        log.info("round done", extra={"kv": {k: (round(v, 4) if isinstance(v, float) else v)
                                             for k, v in row.as_dict().items()}})
        results.append(row)
        if on_round is not None:
            on_round(row)
    return results


ABLATIONS = {
    "1-NN": {"str": False, "kmeans_k": 1},
    "1-NN+k-means": {"str": False, "kmeans_k": None},
    "1-NN+STR": {"str": True, "kmeans_k": 1},
    "1-NN+STR+k-means": {"str": True, "kmeans_k": None},
}


def association_ablation(model: nn.Module, data: ExperimentData, assoc_cfg: Association, device: torch.device,
                         height: int, width: int) -> dict[str, dict]:
    """Association quality of one model under plain 1-reciprocal NN, +k-means, +STR, +STR+k-means.

    Returns per variant ``{"num_pairs", "precision", "recall"}`` (NaN without ground truth).
    ``None`` for k-means means the configured k (3 by default).
    """
    feats = embed_tracklets(model, data.train, device, height, width)
    out: dict[str, dict] = {}
    for name, sw in ABLATIONS.items():
        str_cfg = assoc_cfg.str_prior.model_copy(update={"enabled": sw["str"]})
        cfg = assoc_cfg.model_copy(update={"str_prior": str_cfg,
                                           "kmeans_k": sw["kmeans_k"] or assoc_cfg.kmeans_k})
        pairs = associate_features(feats, data.train, data.network, cfg)
        q = pair_quality(pairs, data.train)
        out[name] = {"num_pairs": len(pairs), "precision": q.precision if q else float("nan"),
                     "recall": q.recall if q else float("nan")}
    return out
