"""One interface for the two training recipes, so the schedule and the live trainer need not care.

A round needs two things from a recipe: tracklet features with the current model (for NN-CCTA
and for evaluation) and one training pass over a sampler. :class:`EndToEnd` (``trainer.recipe
= "full"``) runs images through the whole model for both. :class:`HeadOnly` (``"head"``, see
:mod:`.head`) computes each tracklet's crop descriptors once -- the trunk never changes under
this recipe -- and keeps them by tracklet id, so the rounds, the evaluation and every variant of
an ablation that starts from one model reuse one forward pass per crop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..config.trainer import TrainerConfig
from .data import TrainTracklet
from .embed import embed_tracklets
from .head import Descriptors, check_head_model, compute_descriptors, has_head, served_features, train_head
from .samplers import Batch
from .trainer import TrainStats, train_epochs


class EndToEnd:
    """Trunk and head trained together on augmented images (``trainer.recipe = "full"``)."""

    name = "full"

    def __init__(self, config: TrainerConfig, device: torch.device, progress: bool = True) -> None:
        self.config, self.device, self.progress = config, device, progress

    def features(self, model: nn.Module, tracklets: Sequence[TrainTracklet]) -> np.ndarray:
        return embed_tracklets(model, tracklets, self.device, self.config.image_height, self.config.image_width)

    def train(self, model: nn.Module, sampler: Iterable[Batch], tracklets: Sequence[TrainTracklet],
              epochs: int | None = None, desc: str = "train", config: TrainerConfig | None = None) -> TrainStats:
        """One training pass; ``config`` (default: the recipe's) lets runs that share a recipe differ."""
        config = config or self.config
        return train_epochs(model, sampler, tracklets, config, self.device,
                            config.epochs_per_round if epochs is None else epochs, progress=self.progress, desc=desc)


class HeadOnly:
    """The projection trained on cached descriptors (``trainer.recipe = "head"``).

    Descriptors are cached by tracklet id; the cache is only valid for models that share one
    trunk, which holds for every model this recipe trains from one start.
    """

    name = "head"

    def __init__(self, config: TrainerConfig, device: torch.device, progress: bool = True,
                 stop: threading.Event | None = None) -> None:
        self.config, self.device, self.progress, self.stop = config, device, progress, stop
        self._rows: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def descriptors(self, model: nn.Module, tracklets: Sequence[TrainTracklet]) -> Descriptors:
        """The descriptors of ``tracklets`` in order, computing those not cached yet in one pass."""
        missing = list({t.tracklet_id: t for t in tracklets if t.tracklet_id not in self._rows}.values())
        if missing:
            new = compute_descriptors(model, missing, self.device, self.config.image_height,
                                      self.config.image_width, progress=self.progress, stop=self.stop)
            for i, t in enumerate(missing):
                a, b = int(new.offsets[i]), int(new.offsets[i + 1])
                self._rows[t.tracklet_id] = (new.plain[a:b], new.mirrored[a:b])
        parts = [self._rows[t.tracklet_id] for t in tracklets]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p, _ in parts])]).astype(np.int64)
        return Descriptors(torch.cat([p for p, _ in parts]), torch.cat([m for _, m in parts]), offsets)

    def cached(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Tracklet id -> (plain, mirrored) descriptor rows computed so far (to save across runs)."""
        return dict(self._rows)

    def add_cached(self, rows: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Rows ``cached`` returned earlier for the same trunk and crops: they are not computed again."""
        self._rows.update(rows)

    def features(self, model: nn.Module, tracklets: Sequence[TrainTracklet]) -> np.ndarray:
        return served_features(model, self.descriptors(model, tracklets))

    def train(self, model: nn.Module, sampler: Iterable[Batch], tracklets: Sequence[TrainTracklet],
              epochs: int | None = None, desc: str = "train", config: TrainerConfig | None = None) -> TrainStats:
        """One training pass; ``config`` (default: the recipe's) lets runs that share descriptors differ."""
        return train_head(model, sampler, self.descriptors(model, tracklets), config or self.config, epochs,
                          progress=self.progress, desc=desc)


def resolve_recipe(config: TrainerConfig, model: nn.Module) -> str:
    """``config.recipe`` with "auto" decided for ``model``; ModelError if "head" cannot train it."""
    if config.recipe == "head":
        check_head_model(model)
        return "head"
    if config.recipe == "auto":
        return "head" if has_head(model) else "full"
    return "full"


def make_recipe(config: TrainerConfig, device: torch.device, model: nn.Module, progress: bool = True,
                stop: threading.Event | None = None) -> EndToEnd | HeadOnly:
    """The recipe ``config.recipe`` names for ``model`` ("auto": the head recipe where the model has one).

    ``stop`` ends the head recipe's descriptor pass early (``head.DescriptorsStopped``); the
    caller's sampler handles it during training."""
    if resolve_recipe(config, model) == "head":
        return HeadOnly(config, device, progress, stop)
    return EndToEnd(config, device, progress)
