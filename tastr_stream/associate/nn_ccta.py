"""NN-CCTA, the batch reference (paper IV-C), written to read like the paper.

For every unordered camera pair (a, b):
  1. D = ||x_i - x_j|| between every tracklet i of a and j of b                (Eq. 2)
  2. R = STR prior of their time difference; D_joint = D / R                   (Eqs. 3, 4)
  3. candidates = 1-reciprocal nearest neighbours under D_joint: j is i's top-1 in b and
     i is j's top-1 in a. Ties go to the smallest tracklet id (tracklets are sorted by id and
     numpy's argmin returns the first minimum). A tracklet whose D_joint is infinite for every
     tracklet of the other camera (R underflowed to 0) has no nearest neighbour.
  4. 1-D k-means (k=3, centres evenly spaced between min and max) over the candidates' feature
     distances (or joint distances, ``kmeans_on="joint"``); keep the cluster with the smallest mean.
Switches for the paper's ablation: ``str_prior.enabled=False`` (R = 1) and ``kmeans_k=1`` (one
cluster: every candidate kept); both together give "1-reciprocal NN only".

Also here: within-camera re-linking of fragmented tracks and ``batch_associate``, which adds the
global identities. The incremental associator must reproduce exactly this output.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config.associator import Association
from .features import distance_matrix
from .identities import batch_identities
from .kmeans1d import lowest_cluster_mask
from .records import AssociatedPair, AssociationError, Relink, TrackletMeta
from .str_prior import TransferPrior, joint_distance


@dataclass(frozen=True)
class BatchResult:
    pairs: tuple[AssociatedPair, ...]
    relinks: tuple[Relink, ...]
    identities: dict[str, int]          # tracklet id -> identity label (batch labels: 0, 1, ...)


def by_camera(tracklets: Sequence[TrackletMeta]) -> dict[str, list[TrackletMeta]]:
    """Tracklets grouped per camera, each group sorted by tracklet id (the tie-break order)."""
    seen: set[str] = set()
    groups: dict[str, list[TrackletMeta]] = {}
    for t in tracklets:
        if t.tracklet_id in seen:
            raise AssociationError(f"duplicate tracklet id {t.tracklet_id!r}")
        seen.add(t.tracklet_id)
        groups.setdefault(t.camera_id, []).append(t)
    return {cam: sorted(g, key=lambda t: t.tracklet_id) for cam, g in sorted(groups.items())}


def reciprocal_nn(joint: np.ndarray) -> list[tuple[int, int]]:
    """(i, j) such that j = argmin_j' joint[i, j'] and i = argmin_i' joint[i', j], joint finite."""
    if joint.size == 0:
        return []
    nn_of_row = np.argmin(joint, axis=1)
    nn_of_col = np.argmin(joint, axis=0)
    return [(i, int(j)) for i, j in enumerate(nn_of_row)
            if np.isfinite(joint[i, j]) and nn_of_col[j] == i]


def associate_camera_pair(group_a: Sequence[TrackletMeta], group_b: Sequence[TrackletMeta],
                          prior: TransferPrior, cfg: Association) -> list[AssociatedPair]:
    """Steps 1-4 for one camera pair; ``group_a``/``group_b`` sorted by id, camera a < camera b."""
    if not group_a or not group_b:
        return []
    cam_a, cam_b = group_a[0].camera_id, group_b[0].camera_id
    xa = np.stack([t.feature for t in group_a])
    xb = np.stack([t.feature for t in group_b])
    d = distance_matrix(xa, xb, cfg.distance)                                    # step 1
    r = prior.r_between(np.array([t.t_start_s for t in group_a])[:, None],       # step 2
                        np.array([t.t_end_s for t in group_a])[:, None],
                        np.array([t.t_start_s for t in group_b])[None, :],
                        np.array([t.t_end_s for t in group_b])[None, :], cam_a, cam_b)
    r = np.broadcast_to(r, d.shape)
    joint = joint_distance(d, r)
    candidates = reciprocal_nn(joint)                                            # step 3
    source = d if cfg.kmeans_on == "feature" else joint
    keep = lowest_cluster_mask([source[i, j] for i, j in candidates], cfg.kmeans_k)  # step 4
    return [AssociatedPair(group_a[i].tracklet_id, group_b[j].tracklet_id, cam_a, cam_b,
                           float(d[i, j]), float(joint[i, j]), float(r[i, j]))
            for (i, j), k in zip(candidates, keep) if k]


def nn_ccta(tracklets: Sequence[TrackletMeta], prior: TransferPrior, cfg: Association) -> list[AssociatedPair]:
    """Accepted cross-camera pairs over all camera pairs, sorted."""
    prior.check_matches(cfg.str_prior)
    groups = by_camera(tracklets)
    out: list[AssociatedPair] = []
    for cam_a, cam_b in itertools.combinations(sorted(groups), 2):
        out.extend(associate_camera_pair(groups[cam_a], groups[cam_b], prior, cfg))
    return sorted(out)


def relink_within_camera(tracklets: Sequence[TrackletMeta], cfg: Association) -> list[Relink]:
    """Fragments i -> j of one camera's track: 0 <= start_j - end_i <= relink_max_gap_s,
    D(i, j) < relink_max_distance, j is i's best successor and i is j's best predecessor
    (best = smallest D, ties to the smallest id)."""
    if not cfg.relink_within_camera:
        return []
    out: list[Relink] = []
    for cam, group in by_camera(tracklets).items():
        if len(group) < 2:
            continue
        x = np.stack([t.feature for t in group])
        d = distance_matrix(x, x, cfg.distance)
        ts = np.array([t.t_start_s for t in group])
        te = np.array([t.t_end_s for t in group])
        gap = ts[None, :] - te[:, None]                       # gap[i, j] = start_j - end_i
        valid = (gap >= 0) & (gap <= cfg.relink_max_gap_s) & (d < cfg.relink_max_distance)
        np.fill_diagonal(valid, False)
        cost = np.where(valid, d, np.inf)
        succ, pred = np.argmin(cost, axis=1), np.argmin(cost, axis=0)
        for i, j in enumerate(succ):
            if np.isfinite(cost[i, j]) and pred[j] == i:
                out.append(Relink(group[i].tracklet_id, group[j].tracklet_id, cam, float(gap[i, j]), float(d[i, j])))
    return sorted(out)


def batch_associate(tracklets: Sequence[TrackletMeta], prior: TransferPrior, cfg: Association) -> BatchResult:
    """Cross-camera pairs, within-camera re-links and the identities they imply."""
    pairs = nn_ccta(tracklets, prior, cfg)
    relinks = relink_within_camera(tracklets, cfg)
    edges = [p.key for p in pairs] + [r.key for r in relinks]
    identities = batch_identities(tracklets, edges)
    return BatchResult(tuple(pairs), tuple(relinks), identities)
