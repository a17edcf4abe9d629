"""Hook-based parameter and FLOP counting, used to verify the analytic cost formulas.

Two counting conventions are reproduced, one per published reference. Both descend from
``torchstat`` and agree on most layers:

- convolution: ``k_h * k_w * C_in / groups * C_out`` per output position, plus ``C_out`` per
  output position when it has a bias;
- batch norm: 2 per input element when affine, else 1;
- ReLU: 1 per input element;
- linear: ``in_features * out_features`` (the bias is free);
- any other module (identity, element-wise sums, channel shuffle, zeros): free.

They differ on pooling:

- ``"tensorwatch"`` (NASLib's ``flops`` in ``zc_nasbench201.json``): ``AvgPool2d`` / ``MaxPool2d``
  cost ``k_h * k_w`` per output element; adaptive pooling costs, per channel and output cell,
  ``(rows + 1) * (cols + 1)`` of the window it covers (so a global pool over 8x8 costs 81 per
  channel).
- ``"flopth"`` (the ``flops`` of ``nasflat_latency/fbnet_zcp/zc_fbnet.json``): any 2-d pooling,
  adaptive included, costs 1 per input element.

Both tools keep one figure per leaf module and overwrite it on every call, so a module that runs
twice in a forward pass (a shared ReLU) counts only its last call; this is reproduced. Parameters
are the total size of ``module.parameters()``.
"""
from __future__ import annotations

import math
from typing import Dict, Sequence, Tuple

import torch
from torch import nn

CONVENTIONS: Tuple[str, ...] = ("tensorwatch", "flopth")

_POOLS = (nn.AvgPool2d, nn.MaxPool2d)
_ADAPTIVE_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def _pair(value) -> Tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _adaptive_window_sum(in_size: int, out_size: int) -> int:
    """Sum over output cells of (window length + 1) along one axis, as tensorwatch counts it."""
    return sum(
        math.ceil((i + 1) * in_size / out_size) - math.floor(i * in_size / out_size) + 1
        for i in range(out_size)
    )


def module_flops(module: nn.Module, inp: torch.Tensor, out: torch.Tensor, convention: str) -> int:
    """FLOPs of one call of a leaf ``module`` on ``inp`` giving ``out``, in ``convention`` (see the
    module docstring); 0 for modules that the conventions count as free."""
    if isinstance(module, nn.Conv2d):
        k_h, k_w = module.kernel_size
        positions = out.shape[0] * out.shape[2] * out.shape[3]
        flops = k_h * k_w * module.in_channels * (module.out_channels // module.groups) * positions
        if module.bias is not None:
            flops += module.out_channels * positions
        return flops
    if isinstance(module, nn.BatchNorm2d):
        return inp.numel() * (2 if module.affine else 1)
    if isinstance(module, (nn.ReLU, nn.ReLU6)):
        return inp.numel()
    if isinstance(module, nn.Linear):
        return inp.numel() // inp.shape[-1] * module.in_features * module.out_features
    if isinstance(module, _POOLS + _ADAPTIVE_POOLS) and convention == "flopth":
        return inp.numel()
    if isinstance(module, _POOLS):
        k_h, k_w = _pair(module.kernel_size)
        return out.numel() * k_h * k_w
    if isinstance(module, _ADAPTIVE_POOLS):
        rows = _adaptive_window_sum(inp.shape[2], out.shape[2])
        cols = _adaptive_window_sum(inp.shape[3], out.shape[3])
        return inp.shape[0] * inp.shape[1] * rows * cols
    return 0


def count_params_flops(
    module: nn.Module, input_shape: Sequence[int], convention: str = "tensorwatch"
) -> Tuple[int, int]:
    """Count the parameters and the per-sample FLOPs of ``module`` with forward hooks.

    Args:
        module: the network; it is run once in eval mode under ``torch.no_grad`` on a random input,
            and its training flag is restored afterwards.
        input_shape: shape of that input, batch dimension included (e.g. ``(1, 3, 32, 32)``).
        convention: ``"tensorwatch"`` (NB201 reference) or ``"flopth"`` (FBNet reference); see the
            module docstring.

    Returns:
        ``(params, flops)`` as plain counts (not millions); FLOPs are divided by the batch size.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention '{convention}'; valid: {', '.join(CONVENTIONS)}")
    last_call: Dict[int, int] = {}

    def hook(mod: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        last_call[id(mod)] = module_flops(mod, inputs[0], output, convention)

    leaves = [m for m in module.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(torch.rand(*input_shape))
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    params = sum(p.numel() for p in module.parameters())
    return params, sum(last_call.values()) // int(input_shape[0])
