"""Evaluation: Re-ID ranking metrics, the Campus-4K protocol, association quality and MTMC IDF1."""

from .association import ClusterMetrics, PairCounts, PairMetrics, evaluate_clusters, evaluate_pairs
from ..errors import EvalError
from .mtmc import MtmcScores, multi_camera_idf1
from .protocol import (
    CAMPUS4K_NUM_FRAMES, CAMPUS4K_SPLIT_FRAME, DEFAULT_SPLIT_FRACTION, Split, TrackletMeta,
    campus4k_split, split_frame_from_fraction,
)
from .reid import RankResult, distance_matrix, evaluate_rank, evaluate_rank_reference

__all__ = [
    "CAMPUS4K_NUM_FRAMES", "CAMPUS4K_SPLIT_FRAME", "ClusterMetrics", "DEFAULT_SPLIT_FRACTION",
    "EvalError", "MtmcScores", "PairCounts", "PairMetrics", "RankResult", "Split", "TrackletMeta",
    "campus4k_split", "distance_matrix", "evaluate_clusters", "evaluate_pairs", "evaluate_rank",
    "evaluate_rank_reference", "multi_camera_idf1", "split_frame_from_fraction",
]
