"""The FBNet network of the HW-NAS-Bench / HELP search space, built from 22 layer choices.

Layout: a 3x3 stem convolution to 16 channels (+ BN + ReLU); 7 stages of [1, 4, 4, 4, 4, 4, 1]
searchable layers with [16, 24, 32, 64, 112, 184, 352] output channels, where the first layer of a
stage carries the stage stride; a 1x1 head convolution (+ BN + ReLU); global average pooling; a
linear classifier. CIFAR uses stage strides [1, 1, 2, 2, 1, 2, 1], a stride-1 stem and a
1504-channel head; ImageNet uses [1, 2, 2, 2, 1, 2, 1], a stride-2 stem and 1984 channels.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn

FBNET_CHOICES: Tuple[str, ...] = (
    "k3_e1",
    "k3_e1_g2",
    "k3_e3",
    "k3_e6",
    "k5_e1",
    "k5_e1_g2",
    "k5_e3",
    "k5_e6",
    "skip",
)
"""Layer choices in id order 0..8 (the order of HELP's ``arch.pt``)."""

FBNET_NUM_LAYERS = 22
FBNET_LAYERS_PER_STAGE: Tuple[int, ...] = (1, 4, 4, 4, 4, 4, 1)
FBNET_STAGE_CHANNELS: Tuple[int, ...] = (16, 24, 32, 64, 112, 184, 352)
FBNET_STEM_CHANNELS = 16


class FBNetSetting(NamedTuple):
    """Dataset-dependent layout of the FBNet network."""

    stage_strides: Tuple[int, ...]
    stem_stride: int
    head_channels: int


FBNET_SETTINGS = {
    "cifar": FBNetSetting((1, 1, 2, 2, 1, 2, 1), 1, 1504),
    "imagenet": FBNetSetting((1, 2, 2, 2, 1, 2, 1), 2, 1984),
}


class BlockSpec(NamedTuple):
    """Kernel size, expansion ratio and group count of an inverted residual choice."""

    kernel: int
    expansion: int
    groups: int


class LayerShape(NamedTuple):
    """Input channels, output channels and stride of one searchable layer."""

    c_in: int
    c_out: int
    stride: int


def fbnet_setting(dataset: str) -> FBNetSetting:
    """The layout for ``dataset``: any name containing "cifar", or "imagenet"."""
    key = "cifar" if "cifar" in dataset.lower() else dataset.lower()
    if key not in FBNET_SETTINGS:
        raise ValueError(f"unknown FBNet dataset '{dataset}'; use a CIFAR name or 'imagenet'")
    return FBNET_SETTINGS[key]


def parse_fbnet_choice(name: str) -> Optional[BlockSpec]:
    """The :class:`BlockSpec` of a choice name like ``k5_e1_g2``; ``None`` for ``skip``."""
    if name not in FBNET_CHOICES:
        raise ValueError(f"unknown FBNet choice '{name}'; valid: {', '.join(FBNET_CHOICES)}")
    if name == "skip":
        return None
    parts = name.split("_")
    groups = int(parts[2][1:]) if len(parts) == 3 else 1
    return BlockSpec(kernel=int(parts[0][1:]), expansion=int(parts[1][1:]), groups=groups)


def fbnet_layer_shapes(dataset: str = "cifar100") -> List[LayerShape]:
    """Channels and stride of the 22 searchable layers, in network order."""
    strides = fbnet_setting(dataset).stage_strides
    shapes = []
    c_prev = FBNET_STEM_CHANNELS
    for n_layers, c_out, stride in zip(FBNET_LAYERS_PER_STAGE, FBNET_STAGE_CHANNELS, strides):
        for i in range(n_layers):
            shapes.append(LayerShape(c_prev, c_out, stride if i == 0 else 1))
            c_prev = c_out
    return shapes


class ConvBNReLU(nn.Sequential):
    """Bias-free KxK convolution, batch norm, ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1):
        super().__init__(
            nn.Conv2d(
                c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
            ),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )


class ChannelShuffle(nn.Module):
    """Interleaves the channels of ``groups`` groups (ShuffleNet)."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class InvertedResidual(nn.Module):
    """1x1 (grouped) expansion, KxK depthwise conv with the stride, 1x1 (grouped) projection.

    One ReLU module serves both activations, as in the reference implementation; per-module FLOP
    counters (flopth) therefore count only its second call, and the reference numbers rely on that.
    """

    def __init__(self, c_in: int, c_out: int, spec: BlockSpec, stride: int):
        super().__init__()
        mid = c_in * spec.expansion
        self.use_residual = c_in == c_out and stride == 1
        self.expand = nn.Conv2d(c_in, mid, 1, groups=spec.groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.shuffle = ChannelShuffle(spec.groups) if spec.groups > 1 else nn.Identity()
        self.depthwise = nn.Conv2d(
            mid, mid, spec.kernel, stride=stride, padding=spec.kernel // 2, groups=mid, bias=False
        )
        self.bn2 = nn.BatchNorm2d(mid)
        self.project = nn.Conv2d(mid, c_out, 1, groups=spec.groups, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.shuffle(self.act(self.bn1(self.expand(x))))
        out = self.act(self.bn2(self.depthwise(out)))
        out = self.bn3(self.project(out))
        return out + x if self.use_residual else out


def make_fbnet_layer(name: str, shape: LayerShape) -> nn.Module:
    """One searchable layer: an inverted residual block, or ``skip``.

    ``skip`` is the identity, or a 1x1 conv + BN + ReLU when the stride is 2 or the channel
    count changes.
    """
    spec = parse_fbnet_choice(name)
    if spec is not None:
        return InvertedResidual(shape.c_in, shape.c_out, spec, shape.stride)
    if shape.stride == 1 and shape.c_in == shape.c_out:
        return nn.Identity()
    return ConvBNReLU(shape.c_in, shape.c_out, 1, stride=shape.stride)


class FBNetNetwork(nn.Module):
    """The full FBNet network for one architecture (see the module docstring)."""

    def __init__(self, layer_ops: Sequence[str], num_classes: int = 100, dataset: str = "cifar100"):
        super().__init__()
        if len(layer_ops) != FBNET_NUM_LAYERS:
            raise ValueError(f"an FBNet arch needs {FBNET_NUM_LAYERS} layers, got {len(layer_ops)}")
        setting = fbnet_setting(dataset)
        shapes = fbnet_layer_shapes(dataset)
        self.layer_ops = tuple(layer_ops)
        self.stem = ConvBNReLU(3, FBNET_STEM_CHANNELS, 3, stride=setting.stem_stride)
        self.layers = nn.Sequential(*(make_fbnet_layer(n, s) for n, s in zip(layer_ops, shapes)))
        self.head = ConvBNReLU(shapes[-1].c_out, setting.head_channels, 1)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(setting.head_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.layers(self.stem(x)))
        return self.classifier(self.global_pool(out).flatten(1))


def build_fbnet_network(
    layer_ops: Sequence[str], num_classes: int = 100, dataset: str = "cifar100"
) -> nn.Module:
    """Build the FBNet network for 22 layer choices.

    Args:
        layer_ops: 22 choice names from :data:`FBNET_CHOICES`, in network order.
        num_classes: size of the classifier output (100 for CIFAR-100, the HW-NAS-Bench setting).
        dataset: a CIFAR name (32x32 setting) or ``"imagenet"`` (ImageNet strides, stem and head).

    Returns:
        An :class:`FBNetNetwork` returning [B, num_classes].
    """
    for name in layer_ops:
        parse_fbnet_choice(name)
    return FBNetNetwork(tuple(layer_ops), num_classes=num_classes, dataset=dataset)
