"""One live training round: the store's tracklets and links in, a versioned checkpoint out.

The trainer daemon reads what the associator wrote (read-only; the associator is the single
writer): every live tracklet of the recent window as a :class:`TrainTracklet` whose images
are its stored crops, and the accepted cross-camera links between them. Then one round of the
progressive schedule (paper Fig. 5): round 0 (TSCCC, within camera) while no trained model
exists, else one TCCPC round on the links the live association accepted with the serving
model, which is what ``rounds.run_rounds`` does offline with its own batch association.

Two things differ from the offline schedule, both because a live round must not stall the
network: a round trains a copy of the serving model and only adopts it once its checkpoint
is published (a failed or aborted round leaves nothing half-trained behind), and an end-to-end
round (``trainer.recipe = "full"``) has a batch budget (``trainer.max_batches_per_round``)
besides ``epochs_per_round``, so its duration stays bounded however large the store grows. The
head recipe's round costs one descriptor pass over the window's crops (``max_images_per_tracklet``
each), then seconds.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from ..config.associator import Association
from ..config.trainer import TrainerConfig
from ..errors import ModelError, SamplerError, TastrError
from ..models.checkpoint import initial_model, model_from_checkpoint, sha256_file
from ..store import KV_MODEL_VERSION, Store
from ..wire.records import WeightsAnnouncement
from .data import TrainTracklet, subsample_indices
from .rounds import frozen_config, save_round
from .samplers import TCCPC, TSCCC, Batch
from .head import DescriptorsStopped
from .recipe import make_recipe
from .trainer import TrainStats

log = logging.getLogger(__name__)

_CKPT_NAME = re.compile(r"reid-v(\d+)\.ckpt")
TRAINED_LINK_STATUSES = ("provisional", "final")


class RoundAborted(TastrError):
    """The round was stopped (daemon shutting down) before it finished; nothing was published."""


class JpegImages(Sequence):
    """Stored crop JPEGs decoded to uint8 RGB on access (no caching: bounded memory)."""

    def __init__(self, crops_jpeg: Sequence[bytes], tracklet_id: str) -> None:
        self._crops = tuple(crops_jpeg)
        self._tracklet_id = tracklet_id

    def __len__(self) -> int:
        return len(self._crops)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return JpegImages(self._crops[i], self._tracklet_id)
        img = cv2.imdecode(np.frombuffer(self._crops[i], np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise TastrError(f"tracklet {self._tracklet_id}: stored crop {i} does not decode")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _decodes(data: bytes) -> bool:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8) is not None


def tracklets_from_store(store: Store, max_images: int, *, window_s: float | None = None,
                         seed: int = 0) -> list[TrainTracklet]:
    """Live tracklets with crops as training tracklets, at most ``max_images`` crops each (seeded).

    ``window_s``: only tracklets ending within that much event time of the newest one the
    associator saw (kv ``newest_event_s``); None: every live tracklet. Undecodable crops are
    dropped here, so a training batch never meets one; a tracklet left without crops is skipped.
    """
    newest = store.kv_get("newest_event_s", None)
    t_from = -1e18 if window_s is None or newest is None else float(newest) - window_s
    rng = np.random.default_rng(seed)
    out: list[TrainTracklet] = []
    skipped = 0
    for t in store.tracklets_between(t_from, 1e18):
        try:
            crops = store.crops(t.tracklet_id)
        except TastrError as exc:          # evicted between the two reads, or a torn pack
            log.warning("tracklet crops unreadable; skipped", extra={"kv": {"tracklet": t.tracklet_id,
                                                                          "error": exc}})
            skipped += 1
            continue
        crops = [c for c in crops if _decodes(c)]
        if not crops:
            skipped += 1
            continue
        keep = subsample_indices(len(crops), max_images, rng)
        out.append(TrainTracklet(t.tracklet_id, t.camera_id, t.t_start_s, t.t_end_s,
                                 JpegImages([crops[i] for i in keep], t.tracklet_id)))
    if skipped:
        log.info("tracklets without usable crops skipped", extra={"kv": {"skipped": skipped}})
    return out


def cross_camera_pairs(store: Store, tracklets: Sequence[TrainTracklet]) -> list[tuple[int, int]]:
    """The store's accepted links between two ``tracklets`` of different cameras, as index pairs.

    Within-camera relinks are links too, but TCCPC trains on camera pairs only.
    """
    index = {t.tracklet_id: i for i, t in enumerate(tracklets)}
    pairs = []
    for link in store.links(TRAINED_LINK_STATUSES):
        a, b = index.get(link.a), index.get(link.b)
        if a is not None and b is not None and tracklets[a].camera_id != tracklets[b].camera_id:
            pairs.append((a, b))
    return pairs


@dataclass(frozen=True)
class ServingModel:
    """The model a new round starts from, its version and (for a trained one) its announcement."""

    model: nn.Module
    version: int
    announcement: WeightsAnnouncement | None


def checkpoint_versions(checkpoint_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``reid-v<N>.ckpt`` files in the folder, newest first."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CKPT_NAME.fullmatch(p.name))]
    return sorted(found, reverse=True)


def announcement_for(path: str | os.PathLike, header: dict) -> WeightsAnnouncement:
    return WeightsAnnouncement(version=int(header["version"]), path=str(path), sha256=sha256_file(path),
                               backbone=str(header["backbone"]), emb_dim=int(header["emb_dim"]))


def serving_model(checkpoint_dir: str | os.PathLike, backbone: str, emb_dim: int,
                  weights_path: str = "", on_rejected=None) -> ServingModel:
    """The newest checkpoint in ``checkpoint_dir`` that verifies, else the extractors' starting
    model (``initial_model``: ``weights_path`` or the seeded version 0). A checkpoint that fails
    verification is logged, reported to ``on_rejected(path, error)`` and passed over."""
    for version, path in checkpoint_versions(checkpoint_dir):
        try:
            model, header = model_from_checkpoint(path, backbone=backbone, emb_dim=emb_dim)
        except ModelError as exc:
            log.error("checkpoint rejected; trying an older one", extra={"kv": {"path": path, "error": exc}})
            if on_rejected is not None:
                on_rejected(path, exc)
            continue
        return ServingModel(model, int(header["version"]), announcement_for(path, header))
    model, version = initial_model(backbone, emb_dim, weights_path)
    return ServingModel(model, version, None)


class BudgetedSampler:
    """A sampler cut to a batch budget shared by every epoch of a round, and stopped by ``stop``.

    ``train_epochs`` iterates its sampler once per epoch; with this wrapper the round ends when
    the budget is spent (0 = no budget) or when ``stop`` is set (then ``aborted`` is True).
    """

    def __init__(self, sampler, max_batches: int, stop: threading.Event | None = None) -> None:
        if max_batches < 0:
            raise SamplerError(f"batch budget must be >= 0 (0 = none), got {max_batches}")
        self.sampler = sampler
        self.left = max_batches if max_batches > 0 else None
        self.stop = stop
        self.aborted = False

    def __len__(self) -> int:
        n = len(self.sampler)
        return n if self.left is None else min(n, self.left)

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.sampler:
            if self.stop is not None and self.stop.is_set():
                self.aborted = True
                return
            if self.left is not None:
                if self.left <= 0:
                    return
                self.left -= 1
            yield batch


@dataclass(frozen=True)
class LiveRoundResult:
    kind: str                     # "within" (TSCCC, round 0) | "cross" (TCCPC)
    start_version: int
    announcement: WeightsAnnouncement
    model: nn.Module              # the newly trained model (already published)
    num_tracklets: int
    num_pairs: int
    stats: TrainStats


def run_live_round(start: ServingModel, new_version: int, tracklets: Sequence[TrainTracklet],
                   pairs: Sequence[tuple[int, int]], cfg: TrainerConfig, association: Association,
                   device: torch.device, checkpoint_dir: str | os.PathLike, *,
                   stop: threading.Event | None = None, extra_meta: dict | None = None) -> LiveRoundResult:
    """Train a copy of ``start.model`` for one round and publish it as ``new_version``.

    Round 0 (TSCCC) when ``start.version`` is 0 (no trained model yet), else TCCPC on ``pairs``.
    Raises SamplerError when the data cannot fill one batch (nothing published), RoundAborted
    when ``stop`` was set during training.
    """
    if new_version <= start.version:
        raise ModelError(f"new version {new_version} must be newer than the starting version {start.version}")
    if not tracklets:
        raise SamplerError("no stored tracklet with crops to train on")
    seed = cfg.seed + new_version
    kind = "within" if start.version == 0 else "cross"
    if kind == "within":
        sampler = TSCCC(tracklets, cfg.p, cfg.k, cfg.tsccc_gap_s, seed=seed)
    else:
        sampler = TCCPC(tracklets, pairs, cfg.p, cfg.k, seed=seed)
    # The batch budget bounds the end-to-end recipe's time; the head recipe's batches cost
    # microseconds (its time is the one descriptor pass), so only a stop ends it early.
    model = copy.deepcopy(start.model)
    recipe = make_recipe(cfg, device, model, progress=False, stop=stop)
    budget = BudgetedSampler(sampler, cfg.max_batches_per_round if recipe.name == "full" else 0, stop)
    try:
        stats = recipe.train(
            model, budget, tracklets, desc=f"live v{new_version} {'TSCCC' if kind == 'within' else 'TCCPC'}")
    except DescriptorsStopped as exc:
        raise RoundAborted(f"round for version {new_version}: {exc}") from exc
    if budget.aborted:
        raise RoundAborted(f"round for version {new_version} stopped after {stats.steps} batches")
    if stats.steps == 0:
        raise SamplerError(f"round for version {new_version}: the {kind} sampler yielded no batch "
                           f"from {len(tracklets)} tracklets and {len(pairs)} pairs")
    meta = frozen_config(cfg, association, {"round_kind": kind, "start_version": start.version,
                                            "num_pairs": len(pairs), "num_train_tracklets": len(tracklets),
                                            "steps": stats.steps, **(extra_meta or {})})
    path = save_round(model.cpu().eval(), checkpoint_dir, new_version, meta)
    ann = WeightsAnnouncement(version=new_version, path=path, sha256=sha256_file(path),
                              backbone=model.backbone_name, emb_dim=model.emb_dim)
    return LiveRoundResult(kind, start.version, ann, model, len(tracklets), len(pairs), stats)


def next_version(serving_version: int, store: Store | None, checkpoint_dir: str | os.PathLike) -> int:
    """One past every version anyone has seen: the serving model, the store's window, any file."""
    seen = [serving_version]
    if store is not None:
        stored = store.kv_get(KV_MODEL_VERSION, None)
        if stored is not None:
            seen.append(int(stored))
    seen += [v for v, _ in checkpoint_versions(checkpoint_dir)[:1]]
    return max(seen) + 1
