"""Scoring a model on an experiment: Re-ID ranking on the test split, association vs ground truth.

This is the only module of ``train/`` that reads ``pid_gt``. Re-ID is scored tracklet to
tracklet (mean embeddings; Campus-4K's query/gallery are tracklets) with Market-style
same-identity same-camera removal (:func:`tastr_stream.eval.evaluate_rank`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..config.network import Network
from ..eval import PairCounts, RankResult, TrackletMeta, distance_matrix, evaluate_pairs, evaluate_rank
from .data import TrainTracklet
from .embed import embed_tracklets

log = logging.getLogger(__name__)

# Tracklet times become integer "frames" for the eval records, at this many per second.
EVAL_TICKS_PER_S = 1000


@dataclass(frozen=True)
class ExperimentData:
    """Training tracklets (unlabelled for training), the labelled test split and the camera network."""

    train: list[TrainTracklet]
    query: list[TrainTracklet] = field(default_factory=list)
    gallery: list[TrainTracklet] = field(default_factory=list)
    network: Network | None = None
    name: str = "experiment"


def evaluate_reid(model: nn.Module, data: ExperimentData, device: torch.device, height: int, width: int,
                  max_rank: int = 20) -> RankResult | None:
    """CMC / mAP of query against gallery tracklets; None when the data has no test split."""
    if not data.query or not data.gallery:
        return None
    q = embed_tracklets(model, data.query, device, height, width)
    g = embed_tracklets(model, data.gallery, device, height, width)
    return evaluate_rank(distance_matrix(q, g),
                         np.array([t.pid_gt for t in data.query]), np.array([t.pid_gt for t in data.gallery]),
                         np.array([t.camera_id for t in data.query]), np.array([t.camera_id for t in data.gallery]),
                         max_rank=max_rank)


def evaluate_features(q_feats: np.ndarray, g_feats: np.ndarray, query: Sequence, gallery: Sequence,
                      max_rank: int = 20) -> RankResult:
    """CMC / mAP of precomputed features; ``query``/``gallery`` items carry ``pid_gt``/``camera_id``."""
    return evaluate_rank(distance_matrix(q_feats, g_feats),
                         np.array([t.pid_gt for t in query]), np.array([t.pid_gt for t in gallery]),
                         np.array([t.camera_id for t in query]), np.array([t.camera_id for t in gallery]),
                         max_rank=max_rank)


def eval_meta(t: TrainTracklet) -> TrackletMeta:
    return TrackletMeta(t.tracklet_id, int(t.pid_gt), t.camera_id,
                        int(round(t.t_start_s * EVAL_TICKS_PER_S)), int(round(t.t_end_s * EVAL_TICKS_PER_S)))


def pair_quality(pairs: Sequence[tuple[int, int]], tracklets: Sequence[TrainTracklet]) -> PairCounts | None:
    """Precision / recall / count of index pairs against ``pid_gt``; None when nothing is labelled."""
    if not any(t.pid_gt >= 0 for t in tracklets):
        return None
    metas = [eval_meta(t) for t in tracklets]
    ids = [(tracklets[a].tracklet_id, tracklets[b].tracklet_id) for a, b in pairs]
    return evaluate_pairs(ids, metas).overall
