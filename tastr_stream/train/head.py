"""The CPU-budget training recipe (``trainer.recipe = "head"``): frozen trunk, cached descriptors.

Training MobileNetV2 end to end on 256x128 crops runs at 3-36 images/s on a 2-core CPU, so one
round of the schedule costs about an hour, and measured on rendered video two epochs of it
lowered an ImageNet start's rank-1 (RESULTS.md, "Table IV"). The zero-label model
(``models.partcolour``) already puts a fixed descriptor -- GeM stripes of the trunk's map fused
with a colour histogram -- in front of ONE linear projection. This recipe trains only that
projection: every crop's descriptor, and its mirror image's (the flip augmentation, precomputed),
is computed once in inference mode, and the triplet rounds then run on those rows -- a round
costs one forward pass per crop, then seconds. It is metric learning on a fixed descriptor, the
way KISSME/XQDA are trained on LOMO, with the TASTR samplers deciding which pairs are "same".

Choices, each measured on the quality world (``benchmarks/bench_rounds.py``, RESULTS.md
"Training recipe"):

- the batch-hard triplet loss on unit-length outputs: scale-free, so the margin means the same
  for any projection; after training the projection is rescaled so the served embeddings keep
  the mean length they had (the associator's absolute settings are on that scale);
- L2-SP (Li et al. 2018): ``l2sp * ||W - W_start||^2`` pulls the projection towards the one the
  round started from; a few hundred tracklets cannot pin 3 million weights, and without it
  within-camera training overfits the cameras' own tracklets;
- Adam with the linear warm-up of ``trainer.warmup_steps``.

Tracklet features are means of crop embeddings, and the head is linear, so a tracklet's
feature is the projection of its mean descriptor: evaluation and association cost nothing more.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..config.trainer import TrainerConfig
from ..errors import DatasetError, ModelError, TastrError
from ..models.inference import fixed_slices
from ..models.preprocess import to_input
from .data import TrainTracklet, fetch_images
from .loss import batch_hard_triplet_loss
from .samplers import Batch
from .trainer import TrainStats, set_lr, warmup_factor

log = logging.getLogger(__name__)


def has_head(model: nn.Module) -> bool:
    """Whether ``model`` is a fixed descriptor (``natural``) followed by one bias-free Linear ``proj``."""
    proj = getattr(model, "proj", None)
    return callable(getattr(model, "natural", None)) and isinstance(proj, nn.Linear) and proj.bias is None


def check_head_model(model: nn.Module) -> nn.Linear:
    """The trainable projection of a model with a fixed descriptor (``natural``), or ModelError."""
    if not has_head(model):
        raise ModelError(f"trainer.recipe = 'head' needs a model with a fixed descriptor and a linear projection "
                         f"(mobilenetv2+partcolour, resnet50+partcolour); {getattr(model, 'backbone_name', model)!r} "
                         f"has none: use trainer.recipe = 'full'")
    return model.proj


@dataclass(frozen=True)
class Descriptors:
    """Every crop's descriptor and its mirror image's, rows grouped by tracklet (in the order given)."""

    plain: torch.Tensor        # (crops, natural_dim) float32
    mirrored: torch.Tensor     # (crops, natural_dim) float32
    offsets: np.ndarray        # (tracklets + 1,): tracklet i owns rows offsets[i]:offsets[i + 1]

    @property
    def num_tracklets(self) -> int:
        return len(self.offsets) - 1

    def rows(self, items: Sequence[tuple[int, int]]) -> torch.Tensor:
        """Row index of each (tracklet index, image index)."""
        return torch.as_tensor([int(self.offsets[t]) + i for t, i in items], dtype=torch.long)

    def tracklet_means(self) -> torch.Tensor:
        """(tracklets, natural_dim) mean descriptor of each tracklet's plain crops."""
        owner = torch.from_numpy(np.repeat(np.arange(self.num_tracklets), np.diff(self.offsets)))
        sums = torch.zeros(self.num_tracklets, self.plain.shape[1]).index_add_(0, owner, self.plain)
        return sums / torch.from_numpy(np.diff(self.offsets)).float().clamp_min(1)[:, None]


class DescriptorsStopped(TastrError):
    """``stop`` was set during the descriptor pass (a daemon shutting down); nothing was returned."""


def compute_descriptors(model: nn.Module, tracklets: Sequence[TrainTracklet], device: torch.device,
                        height: int, width: int, *, batch_size: int = 64, progress: bool = True,
                        stop: threading.Event | None = None) -> Descriptors:
    """One inference pass over every crop (and its mirror image) of ``tracklets``; ``stop`` ends it early."""
    check_head_model(model)
    items = [(ti, ii) for ti, t in enumerate(tracklets) for ii in range(t.num_images)]
    if not items:
        raise DatasetError("no crops to compute descriptors of")
    offsets = np.concatenate([[0], np.cumsum([t.num_images for t in tracklets])]).astype(np.int64)
    was_training = model.training
    model.to(device).eval()
    plain, mirrored = [], []
    bar = tqdm(total=len(items), desc="descriptors", unit="crop", file=sys.stderr, disable=not progress,
               dynamic_ncols=True, leave=False)
    try:
        with torch.inference_mode():
            for chunk in fixed_slices(len(items), batch_size):     # few batch shapes: bounded oneDNN caches
                if stop is not None and stop.is_set():
                    raise DescriptorsStopped(f"descriptor pass stopped after {chunk.start} of {len(items)} crops")
                x = to_input(fetch_images(tracklets, items[chunk], height, width), device)
                plain.append(model.natural(x).float().cpu())
                mirrored.append(model.natural(torch.flip(x, [3])).float().cpu())
                bar.update(len(x))
    finally:
        bar.close()
        model.train(was_training)
    return Descriptors(torch.cat(plain), torch.cat(mirrored), offsets)


def served_features(model: nn.Module, descriptors: Descriptors) -> np.ndarray:
    """(tracklets, emb_dim) tracklet features, equal to ``embed.embed_tracklets`` for the same model."""
    proj = check_head_model(model)
    with torch.no_grad():
        return (descriptors.tracklet_means() @ proj.weight.detach().cpu().T * model.out_scale).numpy()


def train_head(model: nn.Module, sampler: Iterable[Batch], descriptors: Descriptors, config: TrainerConfig,
               epochs: int | None = None, *, progress: bool = True, desc: str = "train head") -> TrainStats:
    """Train ``model.proj`` in place on cached descriptors for ``epochs`` (default ``config.head_epochs``)."""
    epochs = config.head_epochs if epochs is None else epochs
    proj = check_head_model(model)
    start = proj.weight.detach().cpu().clone()
    w = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([{"params": [w], "lr": config.lr * config.head_lr_scale,
                                   "base_lr": config.lr * config.head_lr_scale}])
    rng = torch.Generator().manual_seed(config.seed)
    steps = n_images = 0
    epoch_losses: list[float] = []
    active = 0.0
    bar = tqdm(total=epochs * len(sampler) if hasattr(sampler, "__len__") else None, desc=desc, unit="batch",
               file=sys.stderr, disable=not progress, dynamic_ncols=True, leave=False)
    t0 = time.perf_counter()
    try:
        for _ in range(epochs):
            losses, actives = [], []
            for batch in sampler:
                rows = descriptors.rows(batch.items)
                flip = torch.rand(len(rows), generator=rng) < 0.5
                x = torch.where(flip[:, None], descriptors.mirrored[rows], descriptors.plain[rows])
                set_lr(optimizer, warmup_factor(steps, config.warmup_steps))
                loss, stats = batch_hard_triplet_loss(F.normalize(x @ w.T, dim=1), torch.as_tensor(batch.labels),
                                                      config.margin)
                if config.l2sp > 0:
                    loss = loss + config.l2sp * (w - start).pow(2).sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(stats.loss)
                actives.append(stats.active_fraction)
                steps += 1
                n_images += len(rows)
                bar.update(1)
            epoch_losses.append(float(np.mean(losses)) if losses else float("nan"))
            active = float(np.mean(actives)) if actives else 0.0
    finally:
        bar.close()
    with torch.no_grad():
        # The triplet loss above does not see the projection's scale: give back the served mean length.
        before = (descriptors.plain @ start.T).norm(dim=1).mean()
        after = (descriptors.plain @ w.T).norm(dim=1).mean()
        proj.weight.copy_((w * (before / after.clamp_min(1e-12))).to(proj.weight.device, proj.weight.dtype))
    model.eval()
    seconds = time.perf_counter() - t0
    stats = TrainStats(steps, n_images, seconds, epoch_losses[0] if epoch_losses else float("nan"),
                       epoch_losses[-1] if epoch_losses else float("nan"), active)
    log.info("trained head", extra={"kv": {"desc": desc, "epochs": epochs, "steps": steps,
                                           "loss_last": round(stats.loss_last, 4),
                                           "weight_change": round(float((w.detach() - start).norm() / start.norm()), 4)}})
    return stats
