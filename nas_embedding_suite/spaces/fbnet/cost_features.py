"""Per-op cost features of the FBNet network (see :mod:`nas_embedding_suite.cost_features`).

Node ``l + 1`` of the chain graph is layer ``l``; its features are those of the layer's block
choice at that layer's shape. A chain has no dead ends: every op is live, so there are no
``live_*`` totals and no per-op counts.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ...cost_features import FEATURES, CostFeatures, assemble_cost_features, profile_op
from .costs import fbnet_spatial_sizes
from .network import FBNET_CHOICES, FBNET_LAYERS_PER_STAGE, fbnet_layer_shapes, make_fbnet_layer, parse_fbnet_choice


@lru_cache(maxsize=None)
def fbnet_op_features(dataset: str = "cifar100", resolution: int = 32) -> np.ndarray:
    """Features of each FBNet block choice at each layer: ``[22, 9, F]``."""
    shapes = fbnet_layer_shapes(dataset)
    _, sizes = fbnet_spatial_sizes(dataset, resolution)
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


def fbnet_cost_features(choices: np.ndarray, dataset: str = "cifar100", resolution: int = 32) -> CostFeatures:
    """Cost features of FBNet chains given as choice ids ``[A, 22]`` (graph: 24 nodes)."""
    ids = np.asarray(choices, dtype=np.int64)
    per_layer = fbnet_op_features(dataset, resolution)[np.arange(ids.shape[1]), ids]
    stage_of_layer = np.repeat(np.arange(len(FBNET_LAYERS_PER_STAGE)), FBNET_LAYERS_PER_STAGE)
    flops = per_layer[..., FEATURES.index("flops")]
    stage_flops = np.stack([flops[:, stage_of_layer == s].sum(axis=1)
                            for s in range(len(FBNET_LAYERS_PER_STAGE))], axis=1)
    return assemble_cost_features(per_layer, stage_flops)
