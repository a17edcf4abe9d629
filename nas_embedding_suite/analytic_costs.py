"""Building blocks of closed-form parameter counts and FLOPs, shared by the spaces' cost formulas.

No network is built: each network is a fixed part plus a sum of per-op costs that depend only on
where the op sits, so a small cost table indexed by the op ids gives every architecture at once.
Each space's formulas (``spaces/<space>/costs.py``) follow its network builder and the counting
convention of its published reference (see :mod:`nas_embedding_suite.networks.cost_counting`);
this module holds the elementary layer costs they are sums of.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class CostTable(NamedTuple):
    """Parameter and FLOP counts, as plain counts, of one op per (position, op id)."""

    params: np.ndarray
    flops: np.ndarray


# Elementary layer costs as (params, flops) for one sample; ``hw`` is the number of output
# positions. Counting follows tensorwatch/flopth: conv and linear multiply-adds without bias,
# affine batch norm 2 per element, ReLU 1 per element.
def conv_cost(c_in: int, c_out: int, kernel: int, hw: int, groups: int = 1) -> np.ndarray:
    """(params, flops) of a bias-free KxK convolution with ``hw`` output positions."""
    weights = kernel * kernel * c_in * c_out // groups
    return np.array([weights, weights * hw], dtype=np.int64)


def bn_cost(channels: int, hw: int) -> np.ndarray:
    """(params, flops) of an affine batch norm over ``channels`` x ``hw`` elements."""
    return np.array([2 * channels, 2 * channels * hw], dtype=np.int64)


def relu_cost(channels: int, hw: int) -> np.ndarray:
    """(params, flops) of a ReLU over ``channels`` x ``hw`` elements."""
    return np.array([0, channels * hw], dtype=np.int64)


def linear_cost(c_in: int, c_out: int) -> np.ndarray:
    """(params, flops) of a linear layer with bias (the bias is free in FLOPs)."""
    return np.array([c_in * c_out + c_out, c_in * c_out], dtype=np.int64)


def flops_only(flops: int) -> np.ndarray:
    """(0, ``flops``): a parameter-free cost such as pooling."""
    return np.array([0, flops], dtype=np.int64)


def check_ids(ids: np.ndarray, width: int, n_choices: int, what: str) -> np.ndarray:
    """``ids`` as a 2-d integer array ``[N, width]`` of values in ``0..n_choices-1``, or a
    ``ValueError`` naming ``what``."""
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
