"""Cross-camera association (paper IV-C): STR prior, NN-CCTA, re-linking, identities.

``nn_ccta.batch_associate`` is the plain reference; ``incremental.IncrementalAssociator`` is
the live version that must give the same answer; ``faiss_index.CameraIndex`` is the pruned
exact search behind it, held equal to ``faiss_index.BruteForceIndex``.
"""

from .faiss_index import BruteForceIndex, CameraIndex
from .features import distance_matrix, distances_to, tracklet_feature
from .identities import IdentityBook, batch_identities, same_partition
from .incremental import Changes, Finalized, IncrementalAssociator
from .kmeans1d import KMeans1D, kmeans_1d, lowest_cluster_mask
from .nn_ccta import BatchResult, batch_associate, nn_ccta, reciprocal_nn, relink_within_camera
from .records import AssociatedPair, AssociationError, Match, Relink, TrackletMeta
from .str_prior import TransferPrior, joint_distance, str_r, tracklet_dt_s

__all__ = [
    "AssociatedPair", "AssociationError", "BatchResult", "BruteForceIndex", "CameraIndex", "Changes",
    "Finalized", "IdentityBook", "IncrementalAssociator", "KMeans1D", "Match", "Relink", "TrackletMeta",
    "TransferPrior", "batch_associate", "batch_identities", "distance_matrix", "distances_to",
    "joint_distance", "kmeans_1d", "lowest_cluster_mask", "nn_ccta", "reciprocal_nn",
    "relink_within_camera", "same_partition", "str_r", "tracklet_dt_s", "tracklet_feature",
]
