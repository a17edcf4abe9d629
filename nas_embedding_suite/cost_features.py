"""Per-op cost features of a space's networks, per graph node and per architecture: the shared parts.

Each op at each position of a space's network (an NB201 edge op in a stage, an FBNet block choice
in a layer) is built from the space's network builder, run once on an input of its real shape, and
profiled with forward hooks on its leaf modules (:func:`profile_op`):

- ``flops`` (the counting convention of the space's published FLOPs: tensorwatch for NB201,
  flopth for FBNet), ``pointwise_flops`` (1x1 convolutions), ``depthwise_flops`` (convolutions
  with one group per channel), ``params``;
- ``act_in`` / ``act_out``: elements of the op's input and output; ``activations``: elements
  written by all its leaf modules (a proxy for memory traffic);
- ``kernels``: leaf modules that run (an ``Identity`` does not; NB201's ``none`` does: it
  multiplies by zero);
- descriptive: ``kernel_size`` (largest), ``expansion``, ``groups``, ``stride``, ``resolution``
  (input side).

A graph node's features are those of its op; an architecture's totals are the sums of the
additive features over its ops, overall and per stage (:func:`assemble_cost_features`). Parts of
the network every architecture shares (stem, head, reductions) are left out: they shift every
architecture equally. How a space maps its ops to nodes is in its own ``cost_features.py``.

Two execution models, because the devices differ. Eager runtimes (PyTorch on the HELP GPUs and
CPUs) run every op of the network; graph compilers (TFLite, SNPE and the edge TPU of LatBench)
remove the ops whose output never reaches the output and the ``none`` ops that multiply by zero.
A space whose graphs have such dead ends therefore also gets ``live_*`` totals over the ops on an
input-to-output path, and per-op counts over every op (``count_<op>``) and over the live ones
(``live_count_<op>``). A chain such as FBNet has every op live, so it has neither.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .networks.cost_counting import module_flops

ADDITIVE = ("flops", "pointwise_flops", "depthwise_flops", "params", "act_in", "act_out", "activations", "kernels")
DESCRIPTIVE = ("kernel_size", "expansion", "groups", "stride", "resolution")
FEATURES = ADDITIVE + DESCRIPTIVE


def profile_op(module: nn.Module, input_shape: Sequence[int], convention: str) -> np.ndarray:
    """The :data:`FEATURES` of one op run on a single input of ``input_shape`` (batch 1)."""
    totals = dict.fromkeys(ADDITIVE, 0)
    shape = {"kernel_size": 0, "groups": 1}
    last_flops = {}  # the published counters keep a module's last call only (a shared ReLU)

    def hook(mod: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        flops = module_flops(mod, inputs[0], output, convention)
        last_flops[id(mod)] = flops
        totals["activations"] += output.numel()
        totals["kernels"] += 1
        if isinstance(mod, nn.Conv2d):
            if mod.kernel_size == (1, 1):
                totals["pointwise_flops"] += flops
            elif mod.groups == mod.in_channels and mod.groups > 1:
                totals["depthwise_flops"] += flops
            shape["kernel_size"] = max(shape["kernel_size"], mod.kernel_size[0])
            if mod.kernel_size == (1, 1):
                shape["groups"] = max(shape["groups"], mod.groups)
        elif isinstance(mod, (nn.AvgPool2d, nn.MaxPool2d)):
            size = mod.kernel_size if isinstance(mod.kernel_size, int) else mod.kernel_size[0]
            shape["kernel_size"] = max(shape["kernel_size"], size)

    leaves = [m for m in module.modules() if next(m.children(), None) is None
              and not isinstance(m, nn.Identity)]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        module.eval()
        with torch.no_grad():
            x = torch.rand(*input_shape)
            out = module(x)
    finally:
        for handle in handles:
            handle.remove()
    totals["flops"] = sum(last_flops.values())
    totals["params"] = sum(p.numel() for p in module.parameters())
    totals["act_in"], totals["act_out"] = x.numel(), out.numel()
    # a skip that is the identity moves nothing: no input read, no output written
    if not leaves:
        totals["act_in"] = totals["act_out"] = 0
    descriptive = {"kernel_size": shape["kernel_size"], "expansion": 1, "groups": shape["groups"],
                   "stride": 1, "resolution": input_shape[-1]}
    return np.array([totals[n] for n in ADDITIVE] + [descriptive[n] for n in DESCRIPTIVE], dtype=np.float64)


@dataclass(frozen=True)
class CostFeatures:
    """Cost features of every architecture of a space.

    ``nodes``: ``[A, N, F]`` aligned with the space's graph nodes (input and output nodes zero);
    ``totals``: ``[A, T]`` with names ``total_names`` (the additive features summed over the
    architecture's ops, then ``flops`` per stage).
    """

    nodes: np.ndarray
    totals: np.ndarray
    total_names: Tuple[str, ...]

    def total(self, name: str) -> np.ndarray:
        """One column of ``totals``."""
        return self.totals[:, self.total_names.index(name)]

    def columns(self, names: Sequence[str]) -> np.ndarray:
        """``[A, len(names)]``: the totals ``names`` together with their ``live_`` versions and the
        per-op counts, where the space has them (see the module docstring)."""
        wanted = [n for n in names if n in self.total_names]
        wanted += [f"live_{n}" for n in names if f"live_{n}" in self.total_names]
        wanted += [n for n in self.total_names if n.startswith(("count_", "live_count_"))]
        return np.stack([self.total(n) for n in wanted], axis=1)


def assemble_cost_features(per_op: np.ndarray, stage_flops: np.ndarray, live: Optional[np.ndarray] = None,
                           op_ids: Optional[np.ndarray] = None, op_names: Sequence[str] = ()) -> CostFeatures:
    """Pad per-op features ``[A, n_ops, F]`` with the input and output nodes; sum the totals.

    ``live`` (``[A, n_ops]`` bool) adds ``live_*`` totals; ``op_ids`` (``[A, n_ops]``) adds the
    per-op counts ``count_<name>`` (and ``live_count_<name>`` with ``live``) for ``op_names``.
    """
    nodes = np.zeros((per_op.shape[0], per_op.shape[1] + 2, len(FEATURES)))
    nodes[:, 1:-1] = per_op
    additive = per_op[..., :len(ADDITIVE)]
    columns = [additive.sum(axis=1), stage_flops]
    names = ADDITIVE + tuple(f"flops_stage{s}" for s in range(stage_flops.shape[1]))
    if live is not None:
        columns.append((additive * live[..., None]).sum(axis=1))
        names += tuple(f"live_{n}" for n in ADDITIVE)
    if op_ids is not None:
        for prefix, mask in (("count_", np.ones_like(op_ids, dtype=bool)), ("live_count_", live)):
            if mask is None:
                continue
            columns.append(np.stack([((op_ids == i) & mask).sum(axis=1) for i in range(len(op_names))], axis=1))
            names += tuple(f"{prefix}{n}" for n in op_names)
    return CostFeatures(nodes, np.hstack(columns).astype(np.float64), names)
