"""train_epochs learns, is reproducible and counts what it did; tracklet embedding equals a plain loop."""

import numpy as np
import torch

from tastr_stream.config.trainer import TrainerConfig
from tastr_stream.models import build_reid_model
from tastr_stream.models.inference import embed_reference
from tastr_stream.train.data import fetch_images
from tastr_stream.train.embed import embed_tracklets
from tastr_stream.train.samplers import TSCCC
from tastr_stream.train.toyset import ToyWorldSpec, make_toy_world
from tastr_stream.train.trainer import train_epochs

CPU = torch.device("cpu")
CFG = TrainerConfig(backbone="tiny", emb_dim=32, p=6, k=3, tsccc_gap_s=30.0, epochs_per_round=3,
                    image_height=32, image_width=16, seed=5)


def _data():
    return make_toy_world(ToyWorldSpec(seed=4, walkers=40, distractors=5, images_per_tracklet=5, image_hw=(32, 16),
                                       duration_s=1200.0))


def test_loss_falls_and_counts_add_up():
    data = _data()
    sampler = TSCCC(data.train, CFG.p, CFG.k, CFG.tsccc_gap_s, seed=0)
    model = build_reid_model("tiny", 32, seed=0)
    stats = train_epochs(model, sampler, data.train, CFG, CPU, epochs=4, progress=False)
    assert stats.steps > 0 and stats.images == stats.steps * CFG.p * CFG.k
    assert stats.loss_last < stats.loss_first
    assert stats.images_per_s > 0 and 0 <= stats.active_fraction <= 1
    assert not model.training


def test_same_seed_same_weights():
    data = _data()
    states = []
    for _ in range(2):
        model = build_reid_model("tiny", 32, seed=0)
        train_epochs(model, TSCCC(data.train, CFG.p, CFG.k, CFG.tsccc_gap_s, seed=1), data.train, CFG, CPU,
                     epochs=1, progress=False)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_embed_tracklets_is_the_mean_of_per_image_embeddings():
    data = _data()
    model = build_reid_model("tiny", 32, seed=0)
    tracks = data.train[:7]
    fast = embed_tracklets(model, tracks, CPU, 32, 16, batch_size=4)      # batches straddle tracklets
    for t, row in zip(tracks, fast):
        imgs = fetch_images([t], [(0, i) for i in range(t.num_images)], 32, 16)
        np.testing.assert_allclose(row, embed_reference(model, imgs).mean(axis=0), atol=1e-4)
