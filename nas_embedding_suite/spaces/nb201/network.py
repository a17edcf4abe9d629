"""The NAS-Bench-201 CIFAR network built from a 6-edge cell.

Layout (NAS-Bench-201's own "infer" network): a 3x3 stem convolution to 16 channels with batch
norm; three stages of five identical cells at 16, 32 and 64 channels, separated by a ResNet basic
block with stride 2; batch norm and ReLU; global average pooling; a linear classifier. Convolutions
have no bias and every batch norm is affine, as in NAS-Bench-201, so that parameter counts match the
benchmark's published ones.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import nn

NB201_OPS: Tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
"""Op names in the canonical id order (none=0 ... avg_pool_3x3=4, also LatBench's order)."""

NB201_EDGES: Tuple[Tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""(source node, target node) of edges e0..e5, in arch-string order."""

NB201_STAGE_CHANNELS: Tuple[int, ...] = (16, 32, 64)
NB201_CELLS_PER_STAGE = 5
NB201_STEM_CHANNELS = 16


class ReLUConvBN(nn.Sequential):
    """ReLU, then a bias-free KxK convolution, then affine batch norm."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
            ),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    """The ``none`` op: outputs zeros shaped like its input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_nb201_op(name: str, channels: int) -> nn.Module:
    """One cell edge op at ``channels`` channels (stride 1, channel count preserved)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op '{name}'; valid: {', '.join(NB201_OPS)}")


class NB201Cell(nn.Module):
    """A 4-node cell; node j is the sum of its incoming edge ops, node 3 is the output.

    Every edge op is built and run, also those on paths that do not reach the output, as in
    NAS-Bench-201 itself.
    """

    def __init__(self, ops: Sequence[str], channels: int):
        super().__init__()
        if len(ops) != len(NB201_EDGES):
            raise ValueError(f"an NB201 cell needs {len(NB201_EDGES)} ops, got {len(ops)}")
        self.ops = tuple(ops)
        self.edges = nn.ModuleList(make_nb201_op(name, channels) for name in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in (1, 2, 3):
            nodes.append(
                sum(
                    edge(nodes[source])
                    for edge, (source, dest) in zip(self.edges, NB201_EDGES)
                    if dest == target
                )
            )
        return nodes[3]


class ResidualReduction(nn.Module):
    """ResNet basic block with stride 2; the shortcut is 2x2 average pooling and a 1x1 conv."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The full NAS-Bench-201 network for one cell (see the module docstring)."""

    def __init__(self, ops: Sequence[str], num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, NB201_STEM_CHANNELS, 3, padding=1, bias=False),
            nn.BatchNorm2d(NB201_STEM_CHANNELS),
        )
        layers = []
        c_prev = NB201_STEM_CHANNELS
        for stage, channels in enumerate(NB201_STAGE_CHANNELS):
            if stage > 0:
                layers.append(ResidualReduction(c_prev, channels))
            layers.extend(NB201Cell(ops, channels) for _ in range(NB201_CELLS_PER_STAGE))
            c_prev = channels
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lastact(self.cells(self.stem(x)))
        return self.classifier(self.global_pool(out).flatten(1))


def build_nb201_network(ops: Sequence[str], num_classes: int = 10) -> nn.Module:
    """Build the NAS-Bench-201 CIFAR network whose cells use ``ops``.

    Args:
        ops: 6 op names from :data:`NB201_OPS`, in arch-string edge order
            (e0: 0->1, e1: 0->2, e2: 1->2, e3: 0->3, e4: 1->3, e5: 2->3).
        num_classes: size of the classifier output (10 for CIFAR-10).

    Returns:
        An :class:`NB201Network` taking [B, 3, 32, 32] inputs and returning [B, num_classes].
    """
    unknown = [name for name in ops if name not in NB201_OPS]
    if unknown:
        raise ValueError(f"unknown NB201 op(s) {unknown}; valid: {', '.join(NB201_OPS)}")
    return NB201Network(tuple(ops), num_classes=num_classes)
