"""The training recipe's pieces on tiny models: BatchNorm handling, warm-up, trunk rate, random
erasing, and the head recipe (cached descriptors, L2-SP, kept scale, features equal to the model's)."""

import math

import numpy as np
import pytest
import torch

from tastr_stream.config.trainer import TrainerConfig
from tastr_stream.errors import ModelError
from tastr_stream.models import build_reid_model
from tastr_stream.train.augment import ERASE_AREA, TrainAugment, erase
from tastr_stream.train.embed import embed_tracklets
from tastr_stream.train.head import compute_descriptors, served_features, train_head
from tastr_stream.train.recipe import EndToEnd, HeadOnly, make_recipe, resolve_recipe
from tastr_stream.train.samplers import TSCCC
from tastr_stream.train.toyset import ToyWorldSpec, make_toy_world
from tastr_stream.train.trainer import make_optimizer, train_epochs, warmup_factor

CPU = torch.device("cpu")
CFG = TrainerConfig(backbone="tiny", emb_dim=32, p=6, k=3, tsccc_gap_s=30.0, epochs_per_round=1,
                    image_height=32, image_width=16, seed=5, warmup_steps=0, erase_p=0.0)


def _data():
    return make_toy_world(ToyWorldSpec(seed=4, walkers=40, distractors=5, images_per_tracklet=5, image_hw=(32, 16),
                                       duration_s=1200.0))


class OneBatch:
    def __init__(self, batch):
        self.batch = batch

    def __len__(self):
        return 1

    def __iter__(self):
        return iter([self.batch])


def _bn_stats(module):
    return [m.running_mean.clone() for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]


@pytest.mark.parametrize("pretrained", [True, False])
def test_pretrained_trunk_keeps_its_batchnorm_statistics_and_a_fresh_one_learns_them(pretrained):
    data = _data()
    model = build_reid_model("tiny", 32, seed=0)
    model.pretrained_trunk = pretrained
    before, head_before = _bn_stats(model.trunk), model.bn.running_mean.clone()
    train_epochs(model, TSCCC(data.train, CFG.p, CFG.k, CFG.tsccc_gap_s, seed=0), data.train, CFG, CPU,
                 progress=False)
    after = _bn_stats(model.trunk)
    assert all(torch.equal(a, b) for a, b in zip(before, after)) == pretrained
    assert not torch.equal(head_before, model.bn.running_mean)      # the head's BatchNorm always learns


def test_warm_up_ramps_the_rate_linearly_and_the_trunk_learns_at_its_scale():
    assert [warmup_factor(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == warmup_factor(0, 1) == 1.0
    model = build_reid_model("tiny", 32, seed=0)
    opt = make_optimizer(model, 1e-3, trunk_lr_scale=0.1)
    trunk_ids = {id(p) for p in model.trunk.parameters()}
    for group in opt.param_groups:
        in_trunk = {id(p) in trunk_ids for p in group["params"]}
        assert len(in_trunk) == 1
        assert group["lr"] == pytest.approx(1e-4 if in_trunk.pop() else 1e-3)
    data = _data()
    batch = next(iter(TSCCC(data.train, CFG.p, CFG.k, CFG.tsccc_gap_s, seed=0)))
    cfg = CFG.model_copy(update={"warmup_steps": 10})
    train_epochs(model, OneBatch(batch), data.train, cfg, CPU, epochs=1, optimizer=opt, progress=False)
    assert sorted(g["lr"] for g in opt.param_groups) == pytest.approx([1e-5, 1e-4])   # step 0: a tenth


def test_random_erasing_blanks_one_rectangle_of_the_drawn_size():
    h, w = 64, 32
    aug = TrainAugment(seed=3, erase_p=1.0)
    boxes = aug.draw_erase(500, h, w)
    y0, x0, y1, x1 = boxes.T
    assert (y0 >= 0).all() and (x0 >= 0).all() and (y1 <= h).all() and (x1 <= w).all()
    area = (y1 - y0) * (x1 - x0) / (h * w)
    assert (area > 0).all() and area.min() >= ERASE_AREA[0] / 2 and area.max() <= ERASE_AREA[1] * 1.5
    assert not TrainAugment(seed=3, erase_p=0.0).draw_erase(50, h, w).any()
    half = TrainAugment(seed=3, erase_p=0.5).draw_erase(2000, h, w)
    assert 0.45 < (half[:, 2] > 0).mean() < 0.55
    t = torch.randn(len(boxes[:8]), 3, h, w)
    out = erase(t, boxes[:8])
    for i, (a, b, c, d) in enumerate(boxes[:8]):
        ref = t[i].clone()
        ref[:, a:c, b:d] = 0.0
        assert torch.equal(out[i], ref)
    images = np.random.default_rng(0).integers(0, 256, size=(4, h, w, 3), dtype=np.uint8)
    x = TrainAugment(seed=1, pad_px=0, flip_p=0.0, erase_p=1.0)(images, CPU)
    assert ((x == 0).all(dim=1).flatten(1).sum(1) > 0).all()           # every image has an erased block


def test_auto_recipe_is_the_head_recipe_for_models_with_a_projection_only():
    tiny, fused = build_reid_model("tiny", 32, seed=0), build_reid_model("tiny+partcolour", 32, seed=0)
    assert resolve_recipe(CFG, tiny) == "full" and resolve_recipe(CFG, fused) == "head"
    assert isinstance(make_recipe(CFG, CPU, fused), HeadOnly)
    assert isinstance(make_recipe(CFG.model_copy(update={"recipe": "full"}), CPU, fused), EndToEnd)
    with pytest.raises(ModelError, match="recipe = 'full'"):
        make_recipe(CFG.model_copy(update={"recipe": "head"}), CPU, tiny)


def test_head_features_equal_the_models_own_tracklet_features():
    data = _data()
    model = build_reid_model("tiny+partcolour", 32, seed=0)
    recipe = HeadOnly(CFG, CPU, progress=False)
    head = recipe.features(model, data.train[:12])
    full = embed_tracklets(model, data.train[:12], CPU, CFG.image_height, CFG.image_width)
    assert np.allclose(head, full, rtol=1e-4, atol=1e-4)
    again = recipe.features(model, data.train[5:9])                  # from the cache, in the order asked
    assert np.allclose(again, head[5:9], rtol=1e-5, atol=1e-5)


def test_head_training_moves_only_the_projection_keeps_the_scale_and_l2sp_holds_it_back():
    data = _data()
    sampler = TSCCC(data.train, CFG.p, CFG.k, CFG.tsccc_gap_s, seed=0)
    start = build_reid_model("tiny+partcolour", 32, seed=0)
    desc = compute_descriptors(start, data.train, CPU, CFG.image_height, CFG.image_width, progress=False)
    changes = []
    for l2sp in (0.0, 10.0):
        model = build_reid_model("tiny+partcolour", 32, seed=0)
        trunk = {k: v.clone() for k, v in model.trunk.state_dict().items()}
        cfg = CFG.model_copy(update={"l2sp": l2sp})
        stats = train_head(model, sampler, desc, cfg, epochs=15, progress=False)
        assert stats.steps > 0 and stats.images == stats.steps * CFG.p * CFG.k
        assert all(torch.equal(trunk[k], v) for k, v in model.trunk.state_dict().items())
        with torch.no_grad():                  # every crop's served embedding keeps its mean length
            before = (desc.plain @ start.proj.weight.T).norm(dim=1).mean()
            after = (desc.plain @ model.proj.weight.T).norm(dim=1).mean()
        assert float(after) == pytest.approx(float(before), rel=1e-4)
        assert np.allclose(served_features(model, desc), embed_tracklets(model, data.train, CPU, 32, 16),
                           rtol=1e-4, atol=1e-4)
        changes.append(float((model.proj.weight - start.proj.weight).detach().norm() / start.proj.weight.detach().norm()))
        if l2sp == 0.0:
            assert stats.loss_last < stats.loss_first
    assert changes[1] < changes[0] / 2 and changes[0] > 0
    assert math.isfinite(changes[1])


def test_a_shared_head_recipe_trains_with_the_callers_settings():
    """Runs that share one recipe's descriptors (Table IV seeds, ablations) still train with their own config."""
    data = _data()
    recipe = HeadOnly(CFG, CPU, progress=False)
    weights = []
    for l2sp in (0.0, 10.0):
        model = build_reid_model("tiny+partcolour", 32, seed=0)
        recipe.train(model, TSCCC(data.train, CFG.p, CFG.k, CFG.tsccc_gap_s, seed=0), data.train, 5,
                     config=CFG.model_copy(update={"l2sp": l2sp}))
        weights.append(model.proj.weight.detach().clone())
    assert not torch.allclose(weights[0], weights[1])
