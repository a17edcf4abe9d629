"""The latency regressor HELP meta-learns (Lee et al. 2021; NASFLAT spec, section 10).

An architecture encoder and an MLP of the hardware embedding (the device's normalised latencies on
HELP's 10 reference architectures), concatenated and mapped 200 -> 100 -> 1. Encoders:

- ``gcn`` (NB201): one-hot node ops through 4 graph-convolution layers of 100 (each node averages
  itself and its predecessors); the readout is a global node that sums every valid node's last
  state, divided by the padded node count (so the number of ops a cell has stays visible).
- ``mlp`` (FBNet): 6 features per layer (kernel 3 / 5, expansion 1 / 3 / 6, two groups; a skip
  layer is all zeros), flattened, through Linear 100, ReLU, Linear 100.

:meth:`HelpRegressor.forward` takes the parameters explicitly (``torch.func.functional_call``),
so MAML can run it with adapted parameters; ``modulation`` scales the outputs of the two head
layers by ``1 + z`` (HELP's hardware-conditioned modulator).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

ENCODERS = ("gcn", "mlp")


class HelpRegressor(nn.Module):
    """Architecture encoder + hardware-embedding MLP -> latency in HELP's [0.05, 0.95] scale."""

    def __init__(self, encoder: str, in_features: int, hw_dim: int = 10, hidden: int = 100,
                 gcn_layers: int = 4):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
        self.encoder = encoder
        if encoder == "gcn":
            dims = [in_features] + [hidden] * gcn_layers
            self.arch_layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(gcn_layers))
        else:
            self.arch_layers = nn.ModuleList([nn.Linear(in_features, hidden), nn.Linear(hidden, hidden)])
        self.hw_layers = nn.ModuleList([nn.Linear(hw_dim, hidden), nn.Linear(hidden, hidden)])
        self.head1 = nn.Linear(2 * hidden, hidden)
        self.head2 = nn.Linear(hidden, 1)

    @property
    def modulated_widths(self) -> Sequence[int]:
        """Widths of the modulation vectors ``z`` (one per head layer)."""
        return (self.head1.out_features, self.head2.out_features)

    def encode(self, inputs: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Architecture vectors ``[B, hidden]``."""
        if self.encoder == "mlp":
            return self.arch_layers[1](F.relu(self.arch_layers[0](inputs["features"])))
        h, incoming, mask = inputs["onehot"], inputs["incoming"], inputs["mask"]
        for layer in self.arch_layers:
            h = F.relu(incoming @ layer(h))
        # sum over valid nodes / N: a cell's op count stays visible (cut nodes are masked out)
        return (h * mask.unsqueeze(-1)).sum(1) / mask.shape[1]

    def forward(self, inputs: Dict[str, torch.Tensor], hw: torch.Tensor,
                modulation: Optional[Sequence[torch.Tensor]] = None) -> torch.Tensor:
        """Predictions ``[B]`` for a batch of architectures on one device (``hw``: ``[hw_dim]``)."""
        arch = self.encode(inputs)
        device = self.hw_layers[1](F.relu(self.hw_layers[0](hw)))
        x = torch.cat((arch, device.expand(arch.shape[0], -1)), dim=-1)
        h = self.head1(x)
        if modulation is not None:
            h = self.head1.bias + (h - self.head1.bias) * (1 + modulation[0])
        out = self.head2(F.relu(h))
        if modulation is not None:
            out = self.head2.bias + (out - self.head2.bias) * (1 + modulation[1])
        return out.squeeze(-1)


class HardwareModulator(nn.Module):
    """q(z | hardware embedding): a Gaussian per modulated unit, ``hw -> 100 -> (mu, log var)``."""

    def __init__(self, hw_dim: int, widths: Sequence[int], hidden: int = 100):
        super().__init__()
        self.widths = list(widths)
        self.body = nn.Sequential(nn.Linear(hw_dim, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, sum(self.widths))
        self.log_var = nn.Linear(hidden, sum(self.widths))
        for layer in (self.mu, self.log_var):  # start near z = 0 (no modulation), small variance
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        nn.init.constant_(self.log_var.bias, -4.0)

    def forward(self, hw: torch.Tensor, generator: Optional[torch.Generator] = None):
        """A reparameterised sample of z (split per layer) and KL(q || N(0, I)) averaged over units."""
        h = self.body(hw)
        mu, log_var = self.mu(h), self.log_var(h)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        z = mu + torch.exp(0.5 * log_var) * eps
        kl = 0.5 * (mu.pow(2) + log_var.exp() - log_var - 1).mean()
        return list(torch.split(z, self.widths)), kl
