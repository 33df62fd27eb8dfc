"""Batch-hard triplet loss: the vectorised path equals the per-anchor loop, and Eq. (1) by hand."""

import pytest
import torch

from tastr_stream.errors import SamplerError
from tastr_stream.train.loss import batch_hard_triplet_loss, batch_hard_triplet_loss_reference


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_equals_reference_value_and_gradient(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(24, 16, generator=g)
    labels = torch.arange(6).repeat_interleave(4)[torch.randperm(24, generator=g)]
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    fast, stats = batch_hard_triplet_loss(xa, labels, margin=0.5)
    ref = batch_hard_triplet_loss_reference(xb, labels, margin=0.5)
    fast.backward()
    ref.backward()
    assert torch.allclose(fast, ref, atol=1e-5)
    assert torch.allclose(xa.grad, xb.grad, atol=1e-5)
    assert 0.0 <= stats.active_fraction <= 1.0


def test_hand_computed_batch():
    # Two identities on a line: a0=0, a1=1 (label 0); b0=3, b1=10 (label 1).
    x = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
    labels = torch.tensor([0, 0, 1, 1])
    # anchors: 0: pos 1, neg 3 -> [0.3+1-3]+ = 0 ; 1: pos 1, neg 2 -> 0 ; 2: pos 7, neg 2 -> 5.3 ; 3: pos 7, neg 9 -> 0
    loss, stats = batch_hard_triplet_loss(x, labels, margin=0.3)
    assert loss.item() == pytest.approx(5.3 / 4, abs=1e-5)
    assert stats.active_fraction == pytest.approx(0.25)


def test_anchor_without_positive_is_left_out():
    x = torch.tensor([[0.0], [1.0], [5.0]])
    labels = torch.tensor([0, 0, 1])           # label 1 seen once: no positive for anchor 2
    loss, _ = batch_hard_triplet_loss(x, labels, margin=0.3)
    ref = batch_hard_triplet_loss_reference(x, labels, margin=0.3)
    assert loss.item() == pytest.approx(ref.item())
    assert loss.item() == pytest.approx(0.0)


def test_single_identity_batch_is_an_error():
    with pytest.raises(SamplerError, match="4 samples, 1 distinct"):
        batch_hard_triplet_loss(torch.randn(4, 8), torch.zeros(4, dtype=torch.long))
