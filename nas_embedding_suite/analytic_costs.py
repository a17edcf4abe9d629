"""Closed-form parameter counts and FLOPs of the NB201 and FBNet networks, for whole spaces.

No network is built: each network is a fixed part plus a sum of per-op costs that depend only on
where the op sits, so a small cost table indexed by the op ids gives every architecture at once.
The formulas follow the networks of :mod:`nas_embedding_suite.networks` and the counting
conventions of the published references (see :mod:`nas_embedding_suite.networks.cost_counting`):

- NB201: params and FLOPs in millions, FLOPs as tensorwatch counts them (NASLib's
  ``zc_nasbench201.json``); params equal NAS-Bench-201's.
- FBNet: params and FLOPs as plain counts, FLOPs as flopth counts them
  (``nasflat_latency/fbnet_zcp/zc_fbnet.json``).

Ops on paths of an NB201 cell that do not reach the output still exist and run, so they count.
"""
from __future__ import annotations

from typing import NamedTuple, Tuple

import numpy as np

from .networks.fbnet_network import (
    FBNET_CHOICES,
    FBNET_NUM_LAYERS,
    FBNET_STEM_CHANNELS,
    fbnet_layer_shapes,
    fbnet_setting,
    parse_fbnet_choice,
)
from .networks.nb201_network import (
    NB201_CELLS_PER_STAGE,
    NB201_EDGES,
    NB201_OPS,
    NB201_STAGE_CHANNELS,
    NB201_STEM_CHANNELS,
)

NB201_INPUT_SIZE = 32
NB201_NUM_CLASSES = 10
FBNET_NUM_CLASSES = 100


class CostTable(NamedTuple):
    """Parameter and FLOP counts, as plain counts, of one op per (position, op id)."""

    params: np.ndarray
    flops: np.ndarray


# Elementary layer costs as (params, flops) for one sample; ``hw`` is the number of output
# positions. Counting follows tensorwatch/flopth: conv and linear multiply-adds without bias,
# affine batch norm 2 per element, ReLU 1 per element.
def _conv(c_in: int, c_out: int, kernel: int, hw: int, groups: int = 1) -> np.ndarray:
    weights = kernel * kernel * c_in * c_out // groups
    return np.array([weights, weights * hw], dtype=np.int64)


def _bn(channels: int, hw: int) -> np.ndarray:
    return np.array([2 * channels, 2 * channels * hw], dtype=np.int64)


def _relu(channels: int, hw: int) -> np.ndarray:
    return np.array([0, channels * hw], dtype=np.int64)


def _linear(c_in: int, c_out: int) -> np.ndarray:
    return np.array([c_in * c_out + c_out, c_in * c_out], dtype=np.int64)


def _flops_only(flops: int) -> np.ndarray:
    return np.array([0, flops], dtype=np.int64)


def _check_ids(ids: np.ndarray, width: int, n_choices: int, what: str) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2 or ids.shape[1] != width:
        raise ValueError(f"{what} must have shape [N, {width}], got {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{what} must be integer op ids, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= n_choices):
        raise ValueError(f"{what} must lie in 0..{n_choices - 1}")
    return ids


def _nb201_stage_sizes() -> Tuple[int, ...]:
    return tuple(NB201_INPUT_SIZE >> stage for stage in range(len(NB201_STAGE_CHANNELS)))


def nb201_op_cost_table() -> CostTable:
    """Cost of one edge op in one NB201 cell, per (stage, op id): arrays of shape [3, 5].

    Op ids follow :data:`NB201_OPS` (none, skip_connect, nor_conv_1x1, nor_conv_3x3,
    avg_pool_3x3). ``nor_conv_kxk`` costs ReLU + conv + BN; ``avg_pool_3x3`` costs 9 per output
    element (tensorwatch); ``none`` and ``skip_connect`` are free. Counts are plain, not millions.
    """
    n_stages, n_ops = len(NB201_STAGE_CHANNELS), len(NB201_OPS)
    table = np.zeros((n_stages, n_ops, 2), dtype=np.int64)
    for stage, (c, size) in enumerate(zip(NB201_STAGE_CHANNELS, _nb201_stage_sizes())):
        hw = size * size
        for kernel, name in ((1, "nor_conv_1x1"), (3, "nor_conv_3x3")):
            cost = _relu(c, hw) + _conv(c, c, kernel, hw) + _bn(c, hw)
            table[stage, NB201_OPS.index(name)] = cost
        table[stage, NB201_OPS.index("avg_pool_3x3")] = _flops_only(9 * c * hw)
    return CostTable(params=table[..., 0], flops=table[..., 1])


def nb201_fixed_cost(num_classes: int = NB201_NUM_CLASSES) -> Tuple[int, int]:
    """(params, flops) of the NB201 network outside its cells: stem, reductions, head."""
    sizes = _nb201_stage_sizes()
    c0 = NB201_STEM_CHANNELS
    total = _conv(3, c0, 3, sizes[0] ** 2) + _bn(c0, sizes[0] ** 2)
    for stage in range(1, len(NB201_STAGE_CHANNELS)):
        c_in, c_out = NB201_STAGE_CHANNELS[stage - 1], NB201_STAGE_CHANNELS[stage]
        hw_in, hw = sizes[stage - 1] ** 2, sizes[stage] ** 2
        total += _relu(c_in, hw_in) + _conv(c_in, c_out, 3, hw) + _bn(c_out, hw)
        total += _relu(c_out, hw) + _conv(c_out, c_out, 3, hw) + _bn(c_out, hw)
        # Shortcut: 2x2 average pooling (4 per output element), then a 1x1 conv.
        total += _flops_only(4 * c_in * hw) + _conv(c_in, c_out, 1, hw)
    c, size = NB201_STAGE_CHANNELS[-1], sizes[-1]
    total += _bn(c, size * size) + _relu(c, size * size)
    # tensorwatch charges a global pool (window + 1)^2 per channel.
    total += _flops_only(c * (size + 1) ** 2) + _linear(c, num_classes)
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
    ids = _check_ids(op_ids, len(NB201_EDGES), len(NB201_OPS), "op_ids")
    table = nb201_op_cost_table()
    fixed_params, fixed_flops = nb201_fixed_cost()
    # Every stage holds the same cell, repeated NB201_CELLS_PER_STAGE times.
    cell_params = table.params.sum(axis=0)[ids].sum(axis=1)
    cell_flops = table.flops.sum(axis=0)[ids].sum(axis=1)
    params = fixed_params + NB201_CELLS_PER_STAGE * cell_params
    flops = fixed_flops + NB201_CELLS_PER_STAGE * cell_flops
    return params / 1e6, flops / 1e6


def _fbnet_spatial_sizes(dataset: str, resolution: int) -> Tuple[int, np.ndarray]:
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
    _, sizes = _fbnet_spatial_sizes(dataset, resolution)
    table = np.zeros((FBNET_NUM_LAYERS, len(FBNET_CHOICES), 2), dtype=np.int64)
    for layer, (shape, (size_in, size_out)) in enumerate(zip(shapes, sizes)):
        hw_in, hw = int(size_in) ** 2, int(size_out) ** 2
        for choice, name in enumerate(FBNET_CHOICES):
            spec = parse_fbnet_choice(name)
            if spec is None:
                if shape.stride != 1 or shape.c_in != shape.c_out:
                    table[layer, choice] = (
                        _conv(shape.c_in, shape.c_out, 1, hw)
                        + _bn(shape.c_out, hw)
                        + _relu(shape.c_out, hw)
                    )
                continue
            mid = shape.c_in * spec.expansion
            table[layer, choice] = (
                _conv(shape.c_in, mid, 1, hw_in, spec.groups)
                + _bn(mid, hw_in)
                + _conv(mid, mid, spec.kernel, hw, groups=mid)
                + _bn(mid, hw)
                + _relu(mid, hw)
                + _conv(mid, shape.c_out, 1, hw, spec.groups)
                + _bn(shape.c_out, hw)
            )
    return CostTable(params=table[..., 0], flops=table[..., 1])


def fbnet_fixed_cost(
    num_classes: int = FBNET_NUM_CLASSES, dataset: str = "cifar100", resolution: int = 32
) -> Tuple[int, int]:
    """(params, flops) of the FBNet network outside its 22 layers: stem, head, classifier."""
    setting = fbnet_setting(dataset)
    stem_size, sizes = _fbnet_spatial_sizes(dataset, resolution)
    c0, c_head = FBNET_STEM_CHANNELS, setting.head_channels
    c_last = fbnet_layer_shapes(dataset)[-1].c_out
    hw0, hw = stem_size**2, int(sizes[-1, 1]) ** 2
    total = _conv(3, c0, 3, hw0) + _bn(c0, hw0) + _relu(c0, hw0)
    total += _conv(c_last, c_head, 1, hw) + _bn(c_head, hw) + _relu(c_head, hw)
    # flopth charges pooling 1 per input element.
    total += _flops_only(c_head * hw) + _linear(c_head, num_classes)
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
    ids = _check_ids(choices, FBNET_NUM_LAYERS, len(FBNET_CHOICES), "choices")
    table = fbnet_layer_cost_table(dataset, resolution)
    fixed_params, fixed_flops = fbnet_fixed_cost(num_classes, dataset, resolution)
    layers = np.arange(FBNET_NUM_LAYERS)
    params = fixed_params + table.params[layers, ids].sum(axis=1)
    flops = fixed_flops + table.flops[layers, ids].sum(axis=1)
    return params, flops
