"""MobileNetV2 and ResNet-50 trunks in torchvision's layout, without importing torchvision.

Why not torchvision itself: ``import torchvision`` loads its detection ops, and those import
``torch._dynamo`` (with sympy, triton and torch.distributed behind it). That is about 3 s of
a 2-core box's start-up for every daemon and every ``train`` run, and none of it is used: the
Re-ID networks need two plain CNN definitions.

What stays torchvision's, so that nothing else changes:

- parameter and buffer names (``0.0.weight``, ``1.conv.0.0.weight``, ``layer1.0.conv1.weight``,
  ...), so packaged ImageNet weights, a user's torchvision state dict and every stored
  checkpoint load as before;
- the modules built and the random numbers drawn, in the same order, including the ImageNet
  classifier that is built and then dropped. A seeded build therefore gives the same weights,
  bit for bit, as ``torchvision.models.mobilenet_v2(weights=None).features`` (or ResNet-50
  without ``fc``), and so does everything built after it from the same generator (the
  partcolour head's projection). ``tests/models/test_trunks.py`` checks both against
  torchvision.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGENET_CLASSES = 1000

# MobileNetV2 at width 1.0: (expand ratio, output channels, blocks, first block's stride).
MOBILENETV2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                      (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
MOBILENETV2_STEM = 32
MOBILENETV2_CHANNELS = 1280
# ResNet-50: Bottleneck blocks per stage; each block's output is 4x its width.
RESNET50_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))
BOTTLENECK_EXPANSION = 4
RESNET50_CHANNELS = 512 * BOTTLENECK_EXPANSION


def _conv_bn_relu6(ch_in: int, ch_out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias) + BatchNorm + ReLU6: torchvision's ``Conv2dNormActivation`` as MobileNetV2 uses it."""
    return nn.Sequential(
        nn.Conv2d(ch_in, ch_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(ch_out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection; residual when shapes allow."""

    def __init__(self, ch_in: int, ch_out: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = ch_in * expand_ratio
        self.use_res_connect = stride == 1 and ch_in == ch_out
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu6(ch_in, hidden, kernel=1))
        layers += [_conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, ch_out, 1, 1, 0, bias=False), nn.BatchNorm2d(ch_out)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def mobilenetv2_features() -> nn.Sequential:
    """MobileNetV2's ``features`` (stem, 17 inverted residuals, 1x1 to 1280 channels), randomly initialised."""
    layers: list[nn.Module] = [_conv_bn_relu6(3, MOBILENETV2_STEM, stride=2)]
    ch_in = MOBILENETV2_STEM
    for expand, ch_out, blocks, first_stride in MOBILENETV2_BLOCKS:
        for i in range(blocks):
            layers.append(InvertedResidual(ch_in, ch_out, first_stride if i == 0 else 1, expand))
            ch_in = ch_out
    layers.append(_conv_bn_relu6(ch_in, MOBILENETV2_CHANNELS, kernel=1))
    features = nn.Sequential(*layers)
    # torchvision builds the classifier here and initialises it last; built and dropped for the
    # random numbers it draws (module docstring).
    classifier = nn.Linear(MOBILENETV2_CHANNELS, IMAGENET_CLASSES)
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    nn.init.normal_(classifier.weight, 0, 0.01)
    return features


class Bottleneck(nn.Module):
    """ResNet-50 block: 1x1 reduce, 3x3 (carries the stride), 1x1 expand by 4, plus the shortcut."""

    def __init__(self, ch_in: int, width: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        ch_out = width * BOTTLENECK_EXPANSION
        self.conv1 = nn.Conv2d(ch_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, ch_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(ch_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet50Trunk(nn.Module):
    """ResNet-50 up to ``layer4`` (no pooling, no ``fc``): its keys are a torchvision state dict's minus ``fc.*``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        ch_in = 64
        for index, (width, blocks, stride) in enumerate(RESNET50_STAGES, start=1):
            ch_out = width * BOTTLENECK_EXPANSION
            downsample = None
            if stride != 1 or ch_in != ch_out:
                downsample = nn.Sequential(nn.Conv2d(ch_in, ch_out, 1, stride, bias=False), nn.BatchNorm2d(ch_out))
            stage = [Bottleneck(ch_in, width, stride, downsample)]
            stage += [Bottleneck(ch_out, width) for _ in range(1, blocks)]
            setattr(self, f"layer{index}", nn.Sequential(*stage))
            ch_in = ch_out
        # torchvision's fc, built and dropped for the random numbers it draws (module docstring).
        nn.Linear(RESNET50_CHANNELS, IMAGENET_CLASSES)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))
