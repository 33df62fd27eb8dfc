"""Batch-hard triplet loss (Hermans, Beyer and Leibe, 2017), paper Eq. (1).

For every anchor a in a P x K batch: the hardest positive is the farthest sample with the
anchor's label, the hardest negative the nearest sample with another label, and the loss term
is ``[margin + d(a, p*) - d(a, n*)]_+`` with Euclidean distances. The paper writes a sum over
anchors; we average (as Hermans et al. and torchreid do) so the learning rate does not depend
on the batch size. Anchors without a positive (a label seen once) or without a negative (one
label in the batch) contribute no term; a batch where no anchor has both is an error, since
it would silently train nothing.

``batch_hard_triplet_loss_reference`` loops over anchors and reads like Eq. (1);
``batch_hard_triplet_loss`` is the vectorised path. A test holds the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import SamplerError

# Added under the square root: the gradient of sqrt is infinite at 0 (an image against itself).
_SQRT_EPS = 1e-12


@dataclass(frozen=True)
class TripletStats:
    """Diagnostics of one batch, as Python floats (detached)."""

    loss: float
    active_fraction: float       # share of anchors whose hinge is > 0
    mean_pos_dist: float         # mean hardest-positive distance
    mean_neg_dist: float         # mean hardest-negative distance


def _check(embeddings: torch.Tensor, labels: torch.Tensor) -> None:
    if embeddings.ndim != 2 or labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
        raise SamplerError(f"triplet loss needs (N, D) embeddings and (N,) labels, got "
                           f"{tuple(embeddings.shape)} and {tuple(labels.shape)}")


def pairwise_euclidean(x: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N, N) Euclidean distances, computed in float32 even under autocast."""
    x = x.float()
    sq = (x * x).sum(dim=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.t())
    return d2.clamp_min(_SQRT_EPS).sqrt()


def batch_hard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor,
                            margin: float = 0.3) -> tuple[torch.Tensor, TripletStats]:
    """Vectorised batch-hard triplet loss; returns (scalar loss, stats)."""
    _check(embeddings, labels)
    d = pairwise_euclidean(embeddings)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    pos_mask = same & ~eye
    neg_mask = ~same
    valid = pos_mask.any(dim=1) & neg_mask.any(dim=1)
    if not bool(valid.any()):
        raise SamplerError(f"no anchor has both a positive and a negative: {len(labels)} samples, "
                           f"{int(torch.unique(labels).numel())} distinct labels")
    hardest_pos = torch.where(pos_mask, d, torch.zeros_like(d)).max(dim=1).values
    hardest_neg = torch.where(neg_mask, d, torch.full_like(d, float("inf"))).min(dim=1).values
    hinge = torch.relu(margin + hardest_pos - hardest_neg)[valid]
    loss = hinge.mean()
    with torch.no_grad():
        stats = TripletStats(float(loss), float((hinge > 0).float().mean()),
                             float(hardest_pos[valid].mean()), float(hardest_neg[valid].mean()))
    return loss, stats


def batch_hard_triplet_loss_reference(embeddings: torch.Tensor, labels: torch.Tensor,
                                      margin: float = 0.3) -> torch.Tensor:
    """Plain loop over anchors, Eq. (1) term by term (averaged); the vectorised path's yardstick."""
    _check(embeddings, labels)
    x = embeddings.float()
    n = x.shape[0]
    terms = []
    for a in range(n):
        pos = [torch.sqrt(((x[a] - x[p]) ** 2).sum() + _SQRT_EPS)
               for p in range(n) if p != a and labels[p] == labels[a]]
        neg = [torch.sqrt(((x[a] - x[q]) ** 2).sum() + _SQRT_EPS)
               for q in range(n) if labels[q] != labels[a]]
        if not pos or not neg:
            continue
        terms.append(torch.relu(margin + torch.stack(pos).max() - torch.stack(neg).min()))
    if not terms:
        raise SamplerError(f"no anchor has both a positive and a negative: {n} samples")
    return torch.stack(terms).mean()
