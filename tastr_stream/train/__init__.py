"""Unsupervised progressive Re-ID training (paper IV-B, IV-D): TSCCC round 0, then rounds of
cross-camera association and TCCPC training with the batch-hard triplet loss.

With ``models/``, the only part of the package that imports torch.
"""

from .augment import TrainAugment
from .data import LazyImages, TrainTracklet, cap_images, fetch_images, from_campus4k, from_campus4k_labelled
from .embed import embed_tracklets
from .evaluation import ExperimentData, evaluate_reid, pair_quality
from .loss import batch_hard_triplet_loss, batch_hard_triplet_loss_reference
from .rounds import RoundResult, association_ablation, run_rounds
from .samplers import TCCPC, TSCCC, Batch, groups_from_pairs
from .trainer import TrainStats, train_epochs

__all__ = [
    "Batch", "ExperimentData", "LazyImages", "RoundResult", "TCCPC", "TSCCC", "TrainAugment", "TrainStats",
    "TrainTracklet", "association_ablation", "batch_hard_triplet_loss", "batch_hard_triplet_loss_reference",
    "cap_images", "embed_tracklets", "evaluate_reid", "fetch_images", "from_campus4k", "from_campus4k_labelled",
    "groups_from_pairs", "pair_quality", "run_rounds", "train_epochs",
]
