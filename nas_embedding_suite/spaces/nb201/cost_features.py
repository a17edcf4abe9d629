"""Per-op cost features of the NB201 network (see :mod:`nas_embedding_suite.cost_features`).

A graph node's features are those of its op: node ``k + 1`` is edge ``k``, which runs in every
cell of the 3 stages, so its additive features are summed over the 15 cells (descriptive ones are
the op's, resolution the first stage's). The additions of a cell are left out, like the stem,
reductions and head. Cells have dead ends, so they also get ``live_*`` totals over the ops of the
spec's "cut" graph, and per-op counts over every op and over the live ones: with every edge of a
cell the same size, the counts are the most general additive model of a cell.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

import numpy as np
import torch

from ...cost_features import ADDITIVE, FEATURES, CostFeatures, assemble_cost_features, profile_op
from .cells import cell_graphs
from .costs import NB201_INPUT_SIZE
from .network import NB201_CELLS_PER_STAGE, NB201_OPS, NB201_STAGE_CHANNELS, make_nb201_op


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


def nb201_cost_features(op_matrix: np.ndarray, live: Optional[np.ndarray] = None) -> CostFeatures:
    """Cost features of NB201 cells given as canonical op ids ``[A, 6]`` (graph: 8 nodes).

    ``live`` (``[A, 6]`` bool): which edges lie on an input-to-output path and are not ``none``;
    by default the edge nodes of the spec's "cut" graphs.
    """
    ops = np.asarray(op_matrix, dtype=np.int64)
    if live is None:
        live = cell_graphs(ops, "cut")[0].node_mask[:, 1:-1]
    table = nb201_op_features()
    cells = float(NB201_CELLS_PER_STAGE)
    additive = len(ADDITIVE)
    per_edge = np.zeros(ops.shape + (len(FEATURES),))
    per_edge[..., :additive] = cells * table[:, :, :additive].sum(axis=0)[ops]
    per_edge[..., additive:] = table[0, :, additive:][ops]
    flops = table[:, :, FEATURES.index("flops")]
    stage_flops = np.stack([cells * flops[stage][ops].sum(axis=1) for stage in range(len(flops))], axis=1)
    return assemble_cost_features(per_edge, stage_flops, live=np.asarray(live, dtype=bool), op_ids=ops, op_names=NB201_OPS)
