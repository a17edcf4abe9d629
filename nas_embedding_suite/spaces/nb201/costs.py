"""Closed-form parameter counts and FLOPs of the NB201 network, for the whole space.

Params and FLOPs in millions, FLOPs as tensorwatch counts them (NASLib's ``zc_nasbench201.json``);
params equal NAS-Bench-201's. The formulas follow :mod:`.network` and the counting conventions of
:mod:`nas_embedding_suite.networks.cost_counting`. Ops on paths of a cell that do not reach the
output still exist and run, so they count.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ...analytic_costs import CostTable, bn_cost, check_ids, conv_cost, flops_only, linear_cost, relu_cost
from .network import (
    NB201_CELLS_PER_STAGE,
    NB201_EDGES,
    NB201_OPS,
    NB201_STAGE_CHANNELS,
    NB201_STEM_CHANNELS,
)

NB201_INPUT_SIZE = 32
NB201_NUM_CLASSES = 10


def nb201_stage_sizes() -> Tuple[int, ...]:
    """Input side length of each of the 3 stages (32, 16, 8)."""
    return tuple(NB201_INPUT_SIZE >> stage for stage in range(len(NB201_STAGE_CHANNELS)))


def nb201_op_cost_table() -> CostTable:
    """Cost of one edge op in one NB201 cell, per (stage, op id): arrays of shape [3, 5].

    Op ids follow :data:`NB201_OPS` (none, skip_connect, nor_conv_1x1, nor_conv_3x3,
    avg_pool_3x3). ``nor_conv_kxk`` costs ReLU + conv + BN; ``avg_pool_3x3`` costs 9 per output
    element (tensorwatch); ``none`` and ``skip_connect`` are free. Counts are plain, not millions.
    """
    n_stages, n_ops = len(NB201_STAGE_CHANNELS), len(NB201_OPS)
    table = np.zeros((n_stages, n_ops, 2), dtype=np.int64)
    for stage, (c, size) in enumerate(zip(NB201_STAGE_CHANNELS, nb201_stage_sizes())):
        hw = size * size
        for kernel, name in ((1, "nor_conv_1x1"), (3, "nor_conv_3x3")):
            cost = relu_cost(c, hw) + conv_cost(c, c, kernel, hw) + bn_cost(c, hw)
            table[stage, NB201_OPS.index(name)] = cost
        table[stage, NB201_OPS.index("avg_pool_3x3")] = flops_only(9 * c * hw)
    return CostTable(params=table[..., 0], flops=table[..., 1])


def nb201_fixed_cost(num_classes: int = NB201_NUM_CLASSES) -> Tuple[int, int]:
    """(params, flops) of the NB201 network outside its cells: stem, reductions, head."""
    sizes = nb201_stage_sizes()
    c0 = NB201_STEM_CHANNELS
    total = conv_cost(3, c0, 3, sizes[0] ** 2) + bn_cost(c0, sizes[0] ** 2)
    for stage in range(1, len(NB201_STAGE_CHANNELS)):
        c_in, c_out = NB201_STAGE_CHANNELS[stage - 1], NB201_STAGE_CHANNELS[stage]
        hw_in, hw = sizes[stage - 1] ** 2, sizes[stage] ** 2
        total += relu_cost(c_in, hw_in) + conv_cost(c_in, c_out, 3, hw) + bn_cost(c_out, hw)
        total += relu_cost(c_out, hw) + conv_cost(c_out, c_out, 3, hw) + bn_cost(c_out, hw)
        # Shortcut: 2x2 average pooling (4 per output element), then a 1x1 conv.
        total += flops_only(4 * c_in * hw) + conv_cost(c_in, c_out, 1, hw)
    c, size = NB201_STAGE_CHANNELS[-1], sizes[-1]
    total += bn_cost(c, size * size) + relu_cost(c, size * size)
    # tensorwatch charges a global pool (window + 1)^2 per channel.
    total += flops_only(c * (size + 1) ** 2) + linear_cost(c, num_classes)
    return int(total[0]), int(total[1])


def nb201_params_flops(op_ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Parameters and FLOPs (both in millions) of NB201 CIFAR-10 networks.

    Args:
        op_ids: integer array [N, 6] of op ids (none=0, skip_connect=1, nor_conv_1x1=2,
            nor_conv_3x3=3, avg_pool_3x3=4) in arch-string edge order e0..e5.

    Returns:
        ``(params_millions, flops_millions)``, float arrays of shape [N]. Params equal
        NAS-Bench-201's; FLOPs follow tensorwatch, as in NASLib's ``zc_nasbench201.json``.
    """
    ids = check_ids(op_ids, len(NB201_EDGES), len(NB201_OPS), "op_ids")
    table = nb201_op_cost_table()
    fixed_params, fixed_flops = nb201_fixed_cost()
    # Every stage holds the same cell, repeated NB201_CELLS_PER_STAGE times.
    cell_params = table.params.sum(axis=0)[ids].sum(axis=1)
    cell_flops = table.flops.sum(axis=0)[ids].sum(axis=1)
    params = fixed_params + NB201_CELLS_PER_STAGE * cell_params
    flops = fixed_flops + NB201_CELLS_PER_STAGE * cell_flops
    return params / 1e6, flops / 1e6
