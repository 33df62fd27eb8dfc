"""The training loop: batch-hard triplet loss, Adam, one sampler, a few epochs.

``train_epochs`` steps the optimiser of the end-to-end recipe (``trainer.recipe = "full"``; the
CPU-budget recipe that trains the head on cached descriptors is :mod:`.head`). Three settings of
the "bag of tricks" baseline, each because of a failure seen on rendered video (RESULTS.md):

- a pretrained trunk's BatchNorm statistics stay frozen (``freeze_bn``): TSCCC batches hold 16 tracklets of ONE
  camera, so batch statistics are one camera's colours; updating the running means from them
  moved every camera's embedding and dropped an ImageNet start's rank-1 (41 -> 29).
- a linear learning-rate warm-up over ``warmup_steps``, so the first steps' large, noisy
  gradients (the triplet loss is hardest before anything is learned) do not wreck the
  pretrained trunk;
- a pretrained trunk learns at ``trunk_lr_scale`` times the head's rate (a fresh head and an
  ImageNet trunk need different step sizes), and random erasing (``erase_p``, in :mod:`.augment`).

A trunk trained from scratch (``tiny``, or ResNet-50 without the user's weights; the model's
``pretrained_trunk`` is False) gets neither of the first and third: its statistics and weights
have everything still to learn.
 On CUDA it runs the model in
channels-last layout under bf16 autocast (the loss is computed in float32); on CPU in plain
float32. The next batch's images are read and resized on a worker thread while the current
batch trains (numpy and torch release the GIL), so image loading hides behind compute; the
bench in ``benchmarks/bench_train.py`` holds it against a bare forward+backward loop.
Progress (loss, images/s) goes to a tqdm bar on stderr.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..config.trainer import TrainerConfig
from .augment import TrainAugment
from .data import TrainTracklet, fetch_images
from .loss import batch_hard_triplet_loss
from .samplers import Batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainStats:
    steps: int
    images: int
    seconds: float
    loss_first: float        # mean loss of the first epoch
    loss_last: float         # mean loss of the last epoch
    active_fraction: float   # share of anchors with a non-zero hinge, last epoch

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def use_cuda_fast_path(device: torch.device) -> bool:
    return device.type == "cuda"


def make_optimizer(model: nn.Module, lr: float, trunk_lr_scale: float = 1.0) -> torch.optim.Optimizer:
    """Adam; parameters under ``model.trunk`` (the pretrained part) at ``lr * trunk_lr_scale``."""
    trunk = getattr(model, "trunk", None)
    trunk_ids = {id(p) for p in trunk.parameters()} if isinstance(trunk, nn.Module) else set()
    groups = [{"params": [p for p in model.parameters() if id(p) not in trunk_ids], "lr": lr},
              {"params": [p for p in model.parameters() if id(p) in trunk_ids], "lr": lr * trunk_lr_scale}]
    for g in groups:
        g["base_lr"] = g["lr"]
    return torch.optim.Adam([g for g in groups if g["params"]], lr=lr)


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warm-up: step 0 trains at 1/warmup_steps of the rate, step warmup_steps-1 and later at all of it."""
    return 1.0 if warmup_steps <= 1 else min(1.0, (step + 1) / warmup_steps)


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = g.get("base_lr", g["lr"]) * factor


def train_mode(model: nn.Module, freeze_bn: bool) -> None:
    """``model.train()``, with the trunk's BatchNorm kept in eval mode (running statistics fixed) if ``freeze_bn``.

    Only the trunk's: a head's BatchNorm (``ReIDNet.bn``) starts untrained and must learn its statistics."""
    model.train()
    trunk = getattr(model, "trunk", None)
    if freeze_bn and isinstance(trunk, nn.Module):
        for m in trunk.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def _prefetched(batches: Iterable[Batch], tracklets: Sequence[TrainTracklet], height: int, width: int):
    """Yield (batch, uint8 images) with the next batch's images loaded on a worker thread."""
    it = iter(batches)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="train-fetch") as pool:
        nxt = next(it, None)
        fut = pool.submit(fetch_images, tracklets, nxt.items, height, width) if nxt is not None else None
        while nxt is not None:
            cur, images = nxt, fut.result()
            nxt = next(it, None)
            if nxt is not None:
                fut = pool.submit(fetch_images, tracklets, nxt.items, height, width)
            yield cur, images


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, labels: torch.Tensor,
               margin: float, device: torch.device):
    """One forward/backward/step; returns the loss stats."""
    optimizer.zero_grad(set_to_none=True)
    if use_cuda_fast_path(device):
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            emb = model(x)
    else:
        emb = model(x)
    loss, stats = batch_hard_triplet_loss(emb, labels, margin)
    loss.backward()
    optimizer.step()
    return stats


def train_epochs(model: nn.Module, sampler, tracklets: Sequence[TrainTracklet], config: TrainerConfig,
                 device: torch.device, epochs: int | None = None, *, optimizer: torch.optim.Optimizer | None = None,
                 progress: bool = True, desc: str = "train") -> TrainStats:
    """Train ``model`` in place for ``epochs`` (default ``config.epochs_per_round``) passes of ``sampler``."""
    epochs = config.epochs_per_round if epochs is None else epochs
    fast = use_cuda_fast_path(device)
    model.to(device=device, memory_format=torch.channels_last if fast else torch.contiguous_format)
    pretrained = bool(getattr(model, "pretrained_trunk", False))
    train_mode(model, config.freeze_bn and pretrained)
    for p in model.parameters():
        p.requires_grad_(True)
    optimizer = optimizer or make_optimizer(model, config.lr, config.trunk_lr_scale if pretrained else 1.0)
    augment = TrainAugment(seed=config.seed, erase_p=config.erase_p)
    h, w = config.image_height, config.image_width
    steps = n_images = 0
    epoch_losses: list[float] = []
    active = 0.0
    bar = tqdm(total=len(sampler) * epochs, desc=desc, unit="batch", file=sys.stderr,
               disable=not progress, dynamic_ncols=True, leave=False)
    t0 = time.perf_counter()
    try:
        for _ in range(epochs):
            losses, actives = [], []
            for batch, images in _prefetched(sampler, tracklets, h, w):
                x = augment(images, device, channels_last=fast)
                labels = torch.as_tensor(batch.labels, device=device)
                set_lr(optimizer, warmup_factor(steps, config.warmup_steps))
                stats = train_step(model, optimizer, x, labels, config.margin, device)
                losses.append(stats.loss)
                actives.append(stats.active_fraction)
                steps += 1
                n_images += len(images)
                bar.update(1)
                if steps % 5 == 0:
                    bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}",
                                    img_s=f"{n_images / (time.perf_counter() - t0):.0f}")
            epoch_losses.append(float(np.mean(losses)) if losses else float("nan"))
            active = float(np.mean(actives)) if actives else 0.0
    finally:
        bar.close()
    if fast:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    model.eval()
    stats = TrainStats(steps, n_images, seconds, epoch_losses[0] if epoch_losses else float("nan"),
                       epoch_losses[-1] if epoch_losses else float("nan"), active)
    log.info("trained", extra={"kv": {"desc": desc, "epochs": epochs, "steps": steps,
                                      "loss_first": round(stats.loss_first, 4),
                                      "loss_last": round(stats.loss_last, 4),
                                      "images_per_s": round(stats.images_per_s, 1)}})
    return stats
