"""Closed-form parameter counts and FLOPs of the FBNet network, for the whole space.

Params and FLOPs as plain counts, FLOPs as flopth counts them
(``nasflat_latency/fbnet_zcp/zc_fbnet.json``). The formulas follow :mod:`.network` and the
counting conventions of :mod:`nas_embedding_suite.networks.cost_counting`.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ...analytic_costs import CostTable, bn_cost, check_ids, conv_cost, flops_only, linear_cost, relu_cost
from .network import (
    FBNET_CHOICES,
    FBNET_NUM_LAYERS,
    FBNET_STEM_CHANNELS,
    fbnet_layer_shapes,
    fbnet_setting,
    parse_fbnet_choice,
)

FBNET_NUM_CLASSES = 100


def fbnet_spatial_sizes(dataset: str, resolution: int) -> Tuple[int, np.ndarray]:
    """Stem output size and the (input, output) size of each searchable layer."""
    setting = fbnet_setting(dataset)
    size = (resolution - 1) // setting.stem_stride + 1
    stem_size = size
    sizes = []
    for shape in fbnet_layer_shapes(dataset):
        out = (size - 1) // shape.stride + 1
        sizes.append((size, out))
        size = out
    return stem_size, np.array(sizes)


def fbnet_layer_cost_table(dataset: str = "cifar100", resolution: int = 32) -> CostTable:
    """Cost of each choice at each FBNet layer: arrays of shape [22, 9], plain counts.

    Choice ids follow :data:`FBNET_CHOICES`. An inverted residual costs its three convs and
    three batch norms plus one ReLU over the depthwise output: the block's single ReLU module
    runs twice and flopth keeps only its last call. ``skip`` is free, or 1x1 conv + BN + ReLU.
    """
    shapes = fbnet_layer_shapes(dataset)
    _, sizes = fbnet_spatial_sizes(dataset, resolution)
    table = np.zeros((FBNET_NUM_LAYERS, len(FBNET_CHOICES), 2), dtype=np.int64)
    for layer, (shape, (size_in, size_out)) in enumerate(zip(shapes, sizes)):
        hw_in, hw = int(size_in) ** 2, int(size_out) ** 2
        for choice, name in enumerate(FBNET_CHOICES):
            spec = parse_fbnet_choice(name)
            if spec is None:
                if shape.stride != 1 or shape.c_in != shape.c_out:
                    table[layer, choice] = (
                        conv_cost(shape.c_in, shape.c_out, 1, hw)
                        + bn_cost(shape.c_out, hw)
                        + relu_cost(shape.c_out, hw)
                    )
                continue
            mid = shape.c_in * spec.expansion
            table[layer, choice] = (
                conv_cost(shape.c_in, mid, 1, hw_in, spec.groups)
                + bn_cost(mid, hw_in)
                + conv_cost(mid, mid, spec.kernel, hw, groups=mid)
                + bn_cost(mid, hw)
                + relu_cost(mid, hw)
                + conv_cost(mid, shape.c_out, 1, hw, spec.groups)
                + bn_cost(shape.c_out, hw)
            )
    return CostTable(params=table[..., 0], flops=table[..., 1])


def fbnet_fixed_cost(
    num_classes: int = FBNET_NUM_CLASSES, dataset: str = "cifar100", resolution: int = 32
) -> Tuple[int, int]:
    """(params, flops) of the FBNet network outside its 22 layers: stem, head, classifier."""
    setting = fbnet_setting(dataset)
    stem_size, sizes = fbnet_spatial_sizes(dataset, resolution)
    c0, c_head = FBNET_STEM_CHANNELS, setting.head_channels
    c_last = fbnet_layer_shapes(dataset)[-1].c_out
    hw0, hw = stem_size**2, int(sizes[-1, 1]) ** 2
    total = conv_cost(3, c0, 3, hw0) + bn_cost(c0, hw0) + relu_cost(c0, hw0)
    total += conv_cost(c_last, c_head, 1, hw) + bn_cost(c_head, hw) + relu_cost(c_head, hw)
    # flopth charges pooling 1 per input element.
    total += flops_only(c_head * hw) + linear_cost(c_head, num_classes)
    return int(total[0]), int(total[1])


def fbnet_params_flops(
    choices: np.ndarray,
    num_classes: int = FBNET_NUM_CLASSES,
    dataset: str = "cifar100",
    resolution: int = 32,
) -> Tuple[np.ndarray, np.ndarray]:
    """Parameters and FLOPs (plain counts) of FBNet networks.

    Args:
        choices: integer array [N, 22] of choice ids 0..8 (k3_e1, k3_e1_g2, k3_e3, k3_e6, k5_e1,
            k5_e1_g2, k5_e3, k5_e6, skip; the order of HELP's ``arch.pt``).
        num_classes, dataset, resolution: the network setting; the defaults are HW-NAS-Bench's
            CIFAR-100 network at 32x32, the setting of the reference ``zc_fbnet.json``.

    Returns:
        ``(params, flops)``, int64 arrays of shape [N], in the units of ``zc_fbnet.json``
        (plain counts; FLOPs as flopth counts them).
    """
    ids = check_ids(choices, FBNET_NUM_LAYERS, len(FBNET_CHOICES), "choices")
    table = fbnet_layer_cost_table(dataset, resolution)
    fixed_params, fixed_flops = fbnet_fixed_cost(num_classes, dataset, resolution)
    layers = np.arange(FBNET_NUM_LAYERS)
    params = fixed_params + table.params[layers, ids].sum(axis=1)
    flops = fixed_flops + table.flops[layers, ids].sum(axis=1)
    return params, flops
