"""The MultiPredict latency regressor (Akhauri & Abdelfattah 2023; NASFLAT spec, section 10).

architecture encoder -> 30-d vector; concatenated with a learned 8-d device embedding and a
per-architecture supplementary vector (zero-cost proxies); MLP 512-512 -> 1 with a sigmoid, so
the output is a min-max scaled latency in [0, 1].

Encoders (same call convention as :class:`~correlation_trainer.models.NASFLATModel`):

- ``gcn`` (NB201 cells): one-hot ops through 3 graph-convolution layers of 128 on the batched
  dense adjacency, messages along edges and from the node itself, mean-normalised; the sum over
  valid nodes divided by the padded node count (so the op count stays visible) goes through a
  Linear to 30.
- ``mlp`` (FBNet chains, where position ``i`` is always layer ``i``): the flattened one-hot op
  sequence through Linear 256, ReLU, Linear 30.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .graph_layers import self_and_predecessor_mean

ENCODERS = ("gcn", "mlp")


class MultiPredictModel(nn.Module):
    """MultiPredict: architecture encoder + device embedding + supplementary vector -> sigmoid MLP."""

    def __init__(self, num_ops: int, num_nodes: int, num_devices: int, supp_dim: int,
                 encoder: str = "gcn", arch_dim: int = 30, device_dim: int = 8,
                 hidden: int = 512, gcn_hidden: int = 128, gcn_layers: int = 3, mlp_hidden: int = 256):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
        self.encoder = encoder
        self.num_ops = num_ops
        self.supp_dim = supp_dim
        if encoder == "gcn":
            dims = [num_ops] + [gcn_hidden] * gcn_layers
            self.gcn = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(gcn_layers))
            self.arch_out = nn.Linear(gcn_hidden, arch_dim)
        else:
            self.arch_mlp = nn.Sequential(nn.Linear(num_nodes * num_ops, mlp_hidden), nn.ReLU(),
                                          nn.Linear(mlp_hidden, arch_dim))
        self.device_embedding = nn.Embedding(num_devices, device_dim)
        self.head = nn.Sequential(
            nn.Linear(arch_dim + device_dim + supp_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def encode(self, adjacency, op_ids, node_mask) -> torch.Tensor:
        """The 30-d architecture vectors ``[B, arch_dim]``."""
        mask = node_mask.to(self.device_embedding.weight.dtype)
        onehot = F.one_hot(op_ids, self.num_ops).to(mask.dtype) * mask.unsqueeze(-1)
        if self.encoder == "mlp":
            return self.arch_mlp(onehot.flatten(1))
        incoming = self_and_predecessor_mean(adjacency.to(mask.dtype), node_mask)
        h = onehot
        for layer in self.gcn:
            h = F.relu(incoming @ layer(h))
        pooled = (h * mask.unsqueeze(-1)).sum(1) / mask.shape[1]  # keeps the op count visible
        return self.arch_out(pooled)

    def forward(self, adjacency, op_ids, node_mask, device_idx, supplementary=None) -> torch.Tensor:
        """Predicted min-max scaled latency ``[B]`` of each architecture on its device."""
        parts = [self.encode(adjacency, op_ids, node_mask.bool()), self.device_embedding(device_idx)]
        if self.supp_dim > 0:
            parts.append(supplementary.to(parts[0].dtype))
        return torch.sigmoid(self.head(torch.cat(parts, dim=-1))).squeeze(-1)

    def copy_device_embedding(self, source_idx: int, target_idx: int) -> None:
        """Initialise device row ``target_idx`` with a copy of row ``source_idx``."""
        with torch.no_grad():
            self.device_embedding.weight[target_idx].copy_(self.device_embedding.weight[source_idx])
