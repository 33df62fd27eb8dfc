"""Augmentation: the one-gather device path equals a step-by-step numpy crop/flip, seeded."""

import numpy as np
import torch

from tastr_stream.models.preprocess import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB
from tastr_stream.train.augment import TrainAugment, augment_reference, augment_tensor


def _denorm(t: torch.Tensor) -> np.ndarray:
    mean = torch.tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD_RGB).view(1, 3, 1, 1) * 255
    return (t * std + mean).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def test_gather_equals_reference_crop_and_flip():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (6, 20, 12, 3), dtype=np.uint8)
    oy = np.array([0, 20, 10, 3, 17, 10])
    ox = np.array([0, 20, 10, 19, 1, 10])
    flip = np.array([False, True, False, True, True, False])
    out = _denorm(augment_tensor(torch.from_numpy(imgs), oy, ox, flip, 10))
    for i in range(6):
        np.testing.assert_array_equal(out[i], augment_reference(imgs[i], oy[i], ox[i], flip[i], 10))
    # offset (10, 10) without flip is the identity; (0, 0) shifts the image right/down by 10 (zero border)
    np.testing.assert_array_equal(out[5], imgs[5])
    assert (out[0][:10] == 0).all() and (out[0][:, :10] == 0).all()


def test_seeded_and_shaped():
    imgs = np.random.default_rng(1).integers(0, 256, (8, 32, 16, 3), dtype=np.uint8)
    a = TrainAugment(seed=3)(imgs, torch.device("cpu"))
    b = TrainAugment(seed=3)(imgs, torch.device("cpu"))
    c = TrainAugment(seed=4)(imgs, torch.device("cpu"))
    assert a.shape == (8, 3, 32, 16) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    cl = TrainAugment(seed=3)(imgs, torch.device("cpu"), channels_last=True)
    assert cl.is_contiguous(memory_format=torch.channels_last) and torch.equal(cl, a)


def test_flip_rate_near_half():
    _, _, flip = TrainAugment(seed=0).draw(4000)
    assert 0.45 < flip.mean() < 0.55
