"""``--predictor nasflat_plus``: NASFLAT with the physics of the cost features (NASFLAT+).

Three parts, each switchable with ``--plus_parts``; the default is ``base`` alone, which measured
best in the ablation (README, "NASFLAT+ ablation"):

- ``cost``: the architecture's cost totals (those of the roofline predictor, log-scaled and
  standardised over the space) join the supplementary vector of the head;
- ``nodes``: each op node gets its cost features at its position (FLOPs, parameters, activation
  sizes, kernel launches, kernel size, expansion, groups, stride, resolution; log-scaled and
  standardised), through a linear map added to its op embedding;
- ``base``: a residual base. On every device the roofline fit (leave-one-out ridge on the cost
  totals, :mod:`.roofline`) of the measured archs gives predicted milliseconds for every arch,
  min-max scaled by the range of those measurements into target units; the GNN's score is added
  to it, so the pairwise loss trains the GNN to correct the roofline's ranking. Source devices
  fit on the source set, a target on its k samples only.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Dict, Sequence

import numpy as np
import torch

from .base import PREDICTORS, PredictorOption
from .nasflat import GNN_OPTIONS, NasflatPredictor
from .roofline import TOTALS, loo_ridge, roofline_design

PLUS_PARTS = ("cost", "nodes", "base")


def standardised_log(values: np.ndarray, axis) -> np.ndarray:
    """``log1p`` of non-negative features, standardised along ``axis`` (constant ones become 0)."""
    logged = np.log1p(np.clip(values, 0.0, None))
    spread = logged.std(axis=axis, keepdims=True)
    return (logged - logged.mean(axis=axis, keepdims=True)) / np.where(spread > 0, spread, 1.0)


def roofline_base(x: np.ndarray, archs: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """Roofline predictions for every arch from ``latency`` of ``archs`` (ms), min-max scaled by
    the range of those latencies (the target units of the pairwise loss)."""
    coefficients, _ = loo_ridge(x[archs], latency)
    low, high = float(np.min(latency)), float(np.max(latency))
    return (x @ coefficients - low) / (high - low if high > low else 1.0)


@PREDICTORS.register("nasflat_plus")
class NasflatPlusPredictor(NasflatPredictor):
    """NASFLAT+ : the NASFLAT GNN with cost features and a roofline residual base."""

    name = "nasflat_plus"
    display_name = "NASFLAT+"
    table_order = 10
    options = GNN_OPTIONS + (PredictorOption(
        "plus_parts", ("base",), "which parts to use: cost (cost totals in the supplementary vector), "
        "nodes (per-op cost features beside the op embeddings), base (roofline fit as a residual base); "
        "base alone measured best (docs/ablations.md)", nargs="+", choices=PLUS_PARTS),)
    checkpoint_kind = None

    def __init__(self, config, data, torch_device):
        super().__init__(config, data, torch_device)
        self.parts: Sequence[str] = tuple(config.plus_parts)
        features = data.space.cost_features
        totals = features.columns(TOTALS)
        self.x = roofline_design(data.space)
        where = data.adjacency.device
        changes: Dict[str, torch.Tensor] = {}
        if "cost" in self.parts:
            cost = torch.as_tensor(standardised_log(totals, axis=0), dtype=torch.float32, device=where)
            changes["supplementary"] = cost if data.supplementary is None else torch.cat(
                (data.supplementary.to(torch.float32), cost), dim=1)
        if "nodes" in self.parts:
            nodes = features.nodes[:, 1:-1]
            scaled = np.zeros_like(features.nodes)
            scaled[:, 1:-1] = standardised_log(nodes, axis=(0, 1))
            changes["node_features"] = torch.as_tensor(scaled, dtype=torch.float32, device=where)
        self.data = replace(data, **changes)

    def build_model(self):
        """NASFLAT's model; with a residual base its last layer starts at zero, so that training
        starts from the roofline's ranking and moves away from it only where the loss asks."""
        model = super().build_model()
        if "base" in self.parts:
            last = model.head[-1]
            torch.nn.init.zeros_(last.weight)
            torch.nn.init.zeros_(last.bias)
        return model

    def settings(self) -> Dict[str, object]:
        return {"plus_parts": list(self.parts), "totals": list(TOTALS)}

    def source_offsets(self, archs, examples, devices):
        if "base" not in self.parts:
            return None
        base = {int(d): roofline_base(self.x, archs, self.data.table.values[d, archs])
                for d in np.unique(devices)}
        return np.array([base[int(d)][a] for a, d in zip(examples, devices)], dtype=np.float32)

    def target_offsets(self, target, archs, eval_archs):
        if "base" not in self.parts:
            return None, None
        base = roofline_base(self.x, archs, self.data.table.values[target, archs])
        return base[archs].astype(np.float32), base[eval_archs]
