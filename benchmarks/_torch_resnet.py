"""ResNet-50 in plain torch for machines without the OpenMMLab stack (tools/gpu_check.sh).

The layout of mmseg's ``ResNetV1c`` (depth 50): a three-conv 3x3 stem (``stem_channels // 2``,
``// 2``, ``stem_channels``), max-pool, four stages of (3, 4, 6, 3) bottlenecks with the stride on
the 3x3 conv; every bottleneck conv (1x1, 3x3, 1x1) from ``conv(in, out, k, stride, padding)``,
stem and downsample convs plain, as the mmfreq configs build ResNet-50 with FDConv. Returns the
four stage outputs.
"""
from typing import Callable

from torch import nn

ConvFactory = Callable[..., nn.Module]


def _plain(in_channels, out_channels, kernel_size, stride=1, padding=0):
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)


def _conv_bn_relu(conv: nn.Module, channels: int, relu: bool = True) -> list:
    return [conv, nn.BatchNorm2d(channels)] + ([nn.ReLU(inplace=True)] if relu else [])


class Bottleneck(nn.Module):
    def __init__(self, in_channels: int, planes: int, stride: int, conv: ConvFactory):
        super().__init__()
        out_channels = planes * 4
        self.body = nn.Sequential(
            *_conv_bn_relu(conv(in_channels, planes, 1), planes),
            *_conv_bn_relu(conv(planes, planes, 3, stride, 1), planes),
            *_conv_bn_relu(conv(planes, out_channels, 1), out_channels, relu=False))
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                *_conv_bn_relu(_plain(in_channels, out_channels, 1, stride), out_channels,
                               relu=False))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.body(x) + identity)


class ResNet50(nn.Module):
    def __init__(self, conv: ConvFactory = _plain, base_channels: int = 64,
                 stem_channels: int = 64):
        super().__init__()
        half = stem_channels // 2
        self.stem = nn.Sequential(
            *_conv_bn_relu(_plain(3, half, 3, 2, 1), half),
            *_conv_bn_relu(_plain(half, half, 3, 1, 1), half),
            *_conv_bn_relu(_plain(half, stem_channels, 3, 1, 1), stem_channels),
            nn.MaxPool2d(3, 2, 1))
        stages, in_channels = [], stem_channels
        for index, blocks in enumerate((3, 4, 6, 3)):
            planes = base_channels * 2 ** index
            layers = []
            for block in range(blocks):
                stride = 2 if block == 0 and index > 0 else 1
                layers.append(Bottleneck(in_channels, planes, stride, conv))
                in_channels = planes * 4
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return tuple(outs)
