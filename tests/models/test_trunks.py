"""The trunks defined without torchvision are torchvision's networks: same names, same weights, same outputs.

Guards against: a checkpoint or a user's torchvision state dict that no longer loads, a seeded
build whose weights (or the partcolour head's projection drawn after it) silently differ from
the ones every stored figure was measured with, a forward pass that differs from torchvision's,
and torchvision creeping back into a daemon's imports (seconds of start-up each).
"""

from __future__ import annotations

import subprocess
import sys
from collections import OrderedDict

import pytest
import torch
import torchvision

from tastr_stream.models import build_reid_model
from tastr_stream.models.trunks import ResNet50Trunk, mobilenetv2_features


def _seeded(build, seed=3):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = build()
        after = torch.rand(4)            # what the next module built from the same generator draws
    return module.eval(), after


def _torchvision_resnet50_trunk():
    """torchvision's ResNet-50 up to layer4, as a Sequential keyed by the same child names."""
    net = torchvision.models.resnet50(weights=None)
    return torch.nn.Sequential(OrderedDict((n, m) for n, m in net.named_children() if n not in ("avgpool", "fc")))


@pytest.mark.parametrize("ours, theirs", [
    (mobilenetv2_features, lambda: torchvision.models.mobilenet_v2(weights=None).features),
    (ResNet50Trunk, _torchvision_resnet50_trunk),
], ids=["mobilenetv2", "resnet50"])
def test_seeded_trunk_equals_torchvision_bit_for_bit(ours, theirs):
    mine, mine_next = _seeded(ours)
    ref, ref_next = _seeded(theirs)
    mine_state, ref_state = mine.state_dict(), ref.state_dict()
    assert list(mine_state) == list(ref_state)
    assert all(torch.equal(mine_state[k], ref_state[k]) for k in ref_state)
    assert torch.equal(mine_next, ref_next)
    x = torch.randn(2, 3, 128, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(mine(x), ref(x))


def test_a_torchvision_state_dict_loads_into_the_reid_trunk():
    ref = torchvision.models.mobilenet_v2(weights=None).features
    for p in ref.parameters():
        torch.nn.init.normal_(p)
    model = build_reid_model("mobilenetv2+partcolour", 64, pretrained=False, seed=0)
    model.trunk.load_state_dict(ref.state_dict(), strict=True)
    assert torch.equal(model.trunk[18][0].weight, ref[18][0].weight)


def test_building_a_reid_model_does_not_import_torchvision():
    code = ("import sys; from tastr_stream.models import build_reid_model; "
            "build_reid_model('mobilenetv2+partcolour', 64, seed=0); build_reid_model('resnet50', 64, seed=0); "
            "print('torchvision' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "False"
