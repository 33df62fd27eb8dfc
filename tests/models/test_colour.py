"""The colour block: the batched torch descriptor equals its plain per-pixel reference, it is
balanced against a camera's colour gains, and the configs offer exactly the architectures the
model code builds.

Guards against: a vectorisation slip in the soft histogram (wrong axis, stripe or bin order) that
would still give unit-length vectors, and a config that accepts a backbone name the model code
rejects (or hides one it builds).
"""

from __future__ import annotations

import typing

import numpy as np
import pytest
import torch

from tastr_stream.config.ingest import EmbedConfig
from tastr_stream.config.model import ModelConfig
from tastr_stream.config.trainer import TrainerConfig
from tastr_stream.errors import ModelError
from tastr_stream.models import BACKBONES, DEFAULT_BACKBONE
from tastr_stream.models.colour import GRID_WIDTH, ROWS_PER_STRIPE, LabStripeHistogram, lab_stripe_histograms_reference
from tastr_stream.models.preprocess import to_input


def _grid_images(n: int, stripes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, ROWS_PER_STRIPE * stripes, GRID_WIDTH, 3), dtype=np.uint8)


@pytest.mark.parametrize("balance", [True, False])
def test_batched_histogram_equals_the_reference(balance):
    imgs = _grid_images(3, 6, seed=4)
    block = LabStripeHistogram(balance=balance)
    with torch.no_grad():
        fast = block(to_input(imgs, channels_last=False)).double().numpy()
    for i, img in enumerate(imgs):
        ref = lab_stripe_histograms_reference(img, balance=balance)
        np.testing.assert_allclose(fast[i], ref, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)


def test_grey_world_cancels_a_camera_colour_gain():
    rng = np.random.default_rng(0)
    img = rng.integers(40, 200, size=(1, 256, 128, 3)).astype(np.float64)
    tinted = np.clip(img * np.array([1.1, 0.95, 0.88]), 0, 255)
    x = to_input(np.concatenate([img, tinted]).astype(np.uint8), channels_last=False)
    with torch.no_grad():
        balanced = LabStripeHistogram(balance=True)(x)
        raw = LabStripeHistogram(balance=False)(x)
    d_balanced = float((balanced[0] - balanced[1]).norm())
    d_raw = float((raw[0] - raw[1]).norm())
    assert d_balanced < 0.3 * d_raw, (d_balanced, d_raw)


def test_bad_settings_are_refused():
    with pytest.raises(ModelError, match="stripes"):
        LabStripeHistogram(stripes=0)
    with pytest.raises(ModelError, match="centre_sigma"):
        LabStripeHistogram(centre_sigma=0.0)


def test_configs_offer_exactly_the_built_architectures():
    for section in (ModelConfig, TrainerConfig):
        field = section.model_fields["backbone"]
        assert set(typing.get_args(field.annotation)) == set(BACKBONES), section.__name__
        assert field.default == DEFAULT_BACKBONE
    # [ingest.embed] backbone is a deprecated alias of [model]: unset unless written, same choices.
    alias = EmbedConfig.model_fields["backbone"]
    assert alias.default is None
    assert set(typing.get_args(typing.get_args(alias.annotation)[0])) == set(BACKBONES)


def test_train_command_offers_every_architecture():
    from tastr_stream.commands.train import BACKBONE_CHOICES
    from tastr_stream.models.backbones import BACKBONES

    assert set(BACKBONE_CHOICES) == set(BACKBONES)
