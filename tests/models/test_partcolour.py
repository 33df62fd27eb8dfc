"""The zero-label head (``<trunk>+partcolour``): shape, determinism, checkpoints, training, and that it
tells colours apart where the old head does not.

Guards against: a version 0 that differs between an edge box and the centre (embeddings of one
version must compare across processes without exchanging a file), a crop's embedding that
depends on the other crops of its batch, a checkpoint that reloads into a head with other
constants, a head the trainer cannot move, and a colour block that silently stops mattering.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct

import numpy as np
import pytest
import torch

from tastr_stream.errors import ModelError
from tastr_stream.models import (BACKBONES, DEFAULT_BACKBONE, PartColourNet, build_reid_model, initial_model,
                                 model_from_checkpoint, parse_architecture, save_checkpoint)
from tastr_stream.models.checkpoint import MAGIC, load_checkpoint
from tastr_stream.models.preprocess import to_input
from tastr_stream.train.trainer import make_optimizer, train_step


def _x(n=4, hw=(128, 64), seed=1):
    return torch.randn(n, 3, *hw, generator=torch.Generator().manual_seed(seed))


def test_architecture_names():
    assert parse_architecture("mobilenetv2+partcolour") == ("mobilenetv2", "partcolour")
    assert parse_architecture("mobilenetv2") == ("mobilenetv2", "fc-bn")
    assert DEFAULT_BACKBONE in BACKBONES
    with pytest.raises(ModelError, match="unknown backbone 'mobilenetv2\\+colour'"):
        build_reid_model("mobilenetv2+colour", 64)


def test_served_shape_and_scale():
    model = build_reid_model("tiny+partcolour", 512, pretrained=False, seed=0)
    assert isinstance(model, PartColourNet) and not model.training
    x = _x(2, (256, 128))
    with torch.no_grad():
        out, natural = model(x), model.natural(x)
    assert out.shape == (2, 512) and torch.isfinite(out).all()
    assert natural.shape == (2, 4 * 64 + 6 * 144) and model.natural_dim == natural.shape[1]
    # The fused descriptor is unit length; the projection keeps it about so; scale sqrt(emb_dim).
    torch.testing.assert_close(natural.norm(dim=1), torch.ones(2), atol=1e-4, rtol=0)
    norms = out.norm(dim=1) / np.sqrt(512)
    assert torch.all((norms > 0.7) & (norms < 1.3)), norms


def test_emb_dim_larger_than_the_descriptor_is_an_isometry():
    model = build_reid_model("tiny+partcolour", 2048, pretrained=False, seed=0)    # natural 4*64 + 864 = 1120
    x = _x(3)
    with torch.no_grad():
        nat, out = model.natural(x), model(x) / model.out_scale
    torch.testing.assert_close(torch.cdist(out, out), torch.cdist(nat, nat), atol=1e-5, rtol=1e-5)


def test_same_seed_same_model_and_batch_independent():
    a, b = (build_reid_model("tiny+partcolour", 32, pretrained=False, seed=0) for _ in range(2))
    c = build_reid_model("tiny+partcolour", 32, pretrained=False, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.proj.weight, c.proj.weight)
    x = _x(5)
    with torch.no_grad():
        full = a(x)
        torch.testing.assert_close(b(x), full, atol=0, rtol=0)
        one = torch.cat([a(x[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(one, full, atol=1e-5, rtol=1e-5)


def test_initial_model_is_the_same_in_every_process():
    (m1, v1), (m2, v2) = initial_model("tiny+partcolour", 32), initial_model("tiny+partcolour", 32)
    assert v1 == v2 == 0
    with torch.no_grad():
        torch.testing.assert_close(m1(_x()), m2(_x()), atol=0, rtol=0)


def test_checkpoint_round_trip_gives_identical_embeddings(tmp_path):
    model = build_reid_model("tiny+partcolour", 48, pretrained=False, seed=3)
    with torch.no_grad():
        model.proj.weight.mul_(1.5)                       # not what a fresh build would draw
    path = tmp_path / "reid-v2.ckpt"
    digest = save_checkpoint(model, path, 2)
    back, header = model_from_checkpoint(path, digest, backbone="tiny+partcolour", emb_dim=48)
    assert header["backbone"] == "tiny+partcolour" and header["architecture"] == model.spec()
    x = _x()
    with torch.no_grad():
        np.testing.assert_array_equal(back(x).numpy(), model(x).numpy())


def test_checkpoint_with_other_head_constants_is_refused(tmp_path):
    model = build_reid_model("tiny+partcolour", 48, pretrained=False, seed=3)
    model.colour_weight = 0.5                              # as if a later version changed the constant
    path = tmp_path / "reid-v2.ckpt"
    save_checkpoint(model, path, 2)
    with pytest.raises(ModelError, match="architecture .* is not what this code builds"):
        model_from_checkpoint(path)


def test_checkpoint_written_before_the_architecture_key_still_loads(tmp_path):
    model = build_reid_model("tiny", 32, seed=0)
    path = tmp_path / "old.ckpt"
    save_checkpoint(model, path, 1)
    state, header = load_checkpoint(path)
    del header["architecture"]                                          # rewrite the file as an old one
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    header.update(payload_bytes=len(payload), payload_sha256=hashlib.sha256(payload).hexdigest())
    hb = json.dumps(header).encode()
    path.write_bytes(MAGIC + struct.pack("<I", len(hb)) + hb + payload)
    back, _ = model_from_checkpoint(path)
    with torch.no_grad():
        np.testing.assert_array_equal(back(_x()).numpy(), model(_x()).numpy())


def test_a_training_step_moves_the_projection_and_the_trunk_only():
    torch.manual_seed(0)
    model = build_reid_model("tiny+partcolour", 32, pretrained=False, seed=0)
    assert not list(model.colour.parameters())            # the colour block is fixed
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    opt = make_optimizer(model, 3e-4)
    labels = torch.arange(4).repeat_interleave(2)
    stats = train_step(model, opt, _x(8), labels, margin=0.3, device=torch.device("cpu"))
    assert np.isfinite(stats.loss)
    after = model.state_dict()
    assert not torch.equal(before["proj.weight"], after["proj.weight"])
    assert not torch.equal(before["trunk.0.weight"], after["trunk.0.weight"])


def _figure(top_rgb, bottom_rgb, gain=(1.0, 1.0, 1.0), shift_px=0, seed=0) -> np.ndarray:
    """A flat 'person' (top and bottom colours) on a grey wall, through a camera's gains and noise."""
    rng = np.random.default_rng(seed)
    img = np.full((256, 128, 3), 150.0)
    x0, x1 = 40 + shift_px, 88 + shift_px
    img[30:60, x0 + 8:x1 - 8] = (200, 170, 140)           # head
    img[60:140, x0:x1] = top_rgb
    img[140:240, x0 + 4:x1 - 4] = bottom_rgb
    img = img * np.asarray(gain) + rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _separation(model) -> float:
    """d(A, B) / d(A, A'): B wears A's colours the other way round, A' is A in another camera."""
    crops = np.stack([_figure((180, 40, 40), (40, 50, 160)),
                      _figure((180, 40, 40), (40, 50, 160), gain=(0.9, 1.0, 1.12), shift_px=5, seed=1),
                      _figure((40, 50, 160), (180, 40, 40), seed=2)])
    with torch.no_grad():
        a, a2, b = model(to_input(crops, channels_last=False))
    return float((a - b).norm() / (a - a2).norm())


def test_fused_head_separates_swapped_colours_better_than_the_old_head():
    old = build_reid_model("mobilenetv2", 128, seed=0)
    new = build_reid_model("mobilenetv2+partcolour", 128, seed=0)
    s_old, s_new = _separation(old), _separation(new)
    assert s_new > 1.5 * s_old and s_new > 2.0, (s_old, s_new)
