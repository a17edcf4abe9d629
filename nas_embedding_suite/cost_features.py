"""Per-op cost features of NB201 and FBNet networks, per graph node and per architecture.

Each op at each position of the network (an NB201 edge op in a stage, an FBNet block choice in a
layer) is built from :mod:`nas_embedding_suite.networks`, run once on an input of its real shape,
and profiled with forward hooks on its leaf modules:

- ``flops`` (the counting convention of the space's published FLOPs: tensorwatch for NB201,
  flopth for FBNet), ``pointwise_flops`` (1x1 convolutions), ``depthwise_flops`` (convolutions
  with one group per channel), ``params``;
- ``act_in`` / ``act_out``: elements of the op's input and output; ``activations``: elements
  written by all its leaf modules (a proxy for memory traffic);
- ``kernels``: leaf modules that run (an ``Identity`` does not; NB201's ``none`` does: it
  multiplies by zero);
- descriptive: ``kernel_size`` (largest), ``expansion``, ``groups``, ``stride``, ``resolution``
  (input side).

A graph node's features are those of its op: NB201 node ``k + 1`` is edge ``k``, which runs in
every cell of the 3 stages, so its additive features are summed over the 15 cells (descriptive
ones are the op's, resolution the first stage's); FBNet node ``l + 1`` is layer ``l``. An
architecture's totals are the sums of the additive features over its ops, overall and per stage.
Parts of the network every architecture shares (stem, head, reductions, the additions of a cell)
are left out: they shift every architecture equally.

Two execution models, because the devices differ. Eager runtimes (PyTorch on the HELP GPUs and
CPUs) run every op of the network; graph compilers (TFLite, SNPE and the edge TPU of LatBench)
remove the ops whose output never reaches the cell output and the ``none`` ops that multiply by
zero. NB201 cells therefore also get ``live_*`` totals over the ops on an input-to-output path
(the nodes of the spec's "cut" graph), and per-op counts over every op (``count_<op>``) and over
the live ones (``live_count_<op>``): with every edge of a cell the same size, the counts are the
most general additive model of a cell. FBNet is a chain: every op is live, so it has neither.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .analytic_costs import NB201_INPUT_SIZE, _fbnet_spatial_sizes
from .networks.cost_counting import _module_flops
from .networks.fbnet_network import (
    FBNET_CHOICES, FBNET_LAYERS_PER_STAGE, fbnet_layer_shapes, make_fbnet_layer, parse_fbnet_choice,
)
from .networks.nb201_network import NB201_CELLS_PER_STAGE, NB201_OPS, NB201_STAGE_CHANNELS, make_nb201_op

ADDITIVE = ("flops", "pointwise_flops", "depthwise_flops", "params", "act_in", "act_out", "activations", "kernels")
DESCRIPTIVE = ("kernel_size", "expansion", "groups", "stride", "resolution")
FEATURES = ADDITIVE + DESCRIPTIVE


def profile_op(module: nn.Module, input_shape: Sequence[int], convention: str) -> np.ndarray:
    """The :data:`FEATURES` of one op run on a single input of ``input_shape`` (batch 1)."""
    totals = dict.fromkeys(ADDITIVE, 0)
    shape = {"kernel_size": 0, "groups": 1}
    last_flops = {}  # the published counters keep a module's last call only (a shared ReLU)

    def hook(mod: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        flops = _module_flops(mod, inputs[0], output, convention)
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


@lru_cache(maxsize=None)
def nb201_op_features() -> np.ndarray:
    """Features of one NB201 edge op in one cell, per (stage, op id): ``[3, 5, F]``."""
    table = np.zeros((len(NB201_STAGE_CHANNELS), len(NB201_OPS), len(FEATURES)))
    for stage, channels in enumerate(NB201_STAGE_CHANNELS):
        size = NB201_INPUT_SIZE >> stage
        for op, name in enumerate(NB201_OPS):
            torch.manual_seed(0)
            table[stage, op] = profile_op(make_nb201_op(name, channels), (1, channels, size, size), "tensorwatch")
    return table


@lru_cache(maxsize=None)
def fbnet_op_features(dataset: str = "cifar100", resolution: int = 32) -> np.ndarray:
    """Features of each FBNet block choice at each layer: ``[22, 9, F]``."""
    shapes = fbnet_layer_shapes(dataset)
    _, sizes = _fbnet_spatial_sizes(dataset, resolution)
    table = np.zeros((len(shapes), len(FBNET_CHOICES), len(FEATURES)))
    for layer, (shape, (size_in, _)) in enumerate(zip(shapes, sizes)):
        for choice, name in enumerate(FBNET_CHOICES):
            torch.manual_seed(0)
            row = profile_op(make_fbnet_layer(name, shape), (1, shape.c_in, int(size_in), int(size_in)), "flopth")
            spec = parse_fbnet_choice(name)
            row[FEATURES.index("expansion")] = spec.expansion if spec else 0
            row[FEATURES.index("stride")] = shape.stride
            table[layer, choice] = row
    return table


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


def _cost_features(per_op: np.ndarray, stage_flops: np.ndarray, live: Optional[np.ndarray] = None,
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


def nb201_cost_features(op_matrix: np.ndarray, live: Optional[np.ndarray] = None) -> CostFeatures:
    """Cost features of NB201 cells given as canonical op ids ``[A, 6]`` (graph: 8 nodes).

    ``live`` (``[A, 6]`` bool): which edges lie on an input-to-output path and are not ``none``;
    by default the edge nodes of the spec's "cut" graphs.
    """
    ops = np.asarray(op_matrix, dtype=np.int64)
    if live is None:
        from .spaces.nb201 import cell_graphs

        live = cell_graphs(ops, "cut")[0].node_mask[:, 1:-1]
    table = nb201_op_features()
    cells = float(NB201_CELLS_PER_STAGE)
    additive = len(ADDITIVE)
    per_edge = np.zeros(ops.shape + (len(FEATURES),))
    per_edge[..., :additive] = cells * table[:, :, :additive].sum(axis=0)[ops]
    per_edge[..., additive:] = table[0, :, additive:][ops]
    flops = table[:, :, FEATURES.index("flops")]
    stage_flops = np.stack([cells * flops[stage][ops].sum(axis=1) for stage in range(len(flops))], axis=1)
    return _cost_features(per_edge, stage_flops, live=np.asarray(live, dtype=bool), op_ids=ops, op_names=NB201_OPS)


def fbnet_cost_features(choices: np.ndarray, dataset: str = "cifar100", resolution: int = 32) -> CostFeatures:
    """Cost features of FBNet chains given as choice ids ``[A, 22]`` (graph: 24 nodes)."""
    ids = np.asarray(choices, dtype=np.int64)
    per_layer = fbnet_op_features(dataset, resolution)[np.arange(ids.shape[1]), ids]
    stage_of_layer = np.repeat(np.arange(len(FBNET_LAYERS_PER_STAGE)), FBNET_LAYERS_PER_STAGE)
    flops = per_layer[..., FEATURES.index("flops")]
    stage_flops = np.stack([flops[:, stage_of_layer == s].sum(axis=1)
                            for s in range(len(FBNET_LAYERS_PER_STAGE))], axis=1)
    return _cost_features(per_layer, stage_flops)
