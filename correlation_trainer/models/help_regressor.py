"""The latency regressor HELP meta-learns (Lee et al. 2021; NASFLAT spec, section 10).

An architecture encoder and an MLP of the hardware embedding (the device's normalised latencies on
HELP's 10 reference architectures), concatenated (200 wide) and mapped 200 -> 200 -> 200 -> 1. Encoders:

- ``gcn`` (NB201): one-hot node ops plus a global node through 4 graph-convolution layers of 100.
  Each node sums itself and its predecessors (no normalisation); the global node sums every valid
  node and itself, and its last state is the readout, so a cell's op count stays visible.
- ``mlp`` (FBNet): 6 features per layer (kernel 3 / 5, expansion 1 / 3 / 6, two groups; a skip
  layer is all zeros), flattened, through Linear 100, ReLU, Linear 100.

:meth:`HelpRegressor.forward` takes the parameters explicitly (``torch.func.functional_call``),
so MAML can run it with adapted parameters. ``modulation`` is HELP's hardware-conditioned
modulator: it scales the input weights of each head layer by ``1 + z`` and shifts its bias.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

ENCODERS = ("gcn", "mlp")
#: HELP's initial range of the graph-convolution weights
GCN_INIT = 0.05


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
            for layer in self.arch_layers:
                nn.init.uniform_(layer.weight, -GCN_INIT, GCN_INIT)
        else:
            self.arch_layers = nn.ModuleList([nn.Linear(in_features, hidden), nn.Linear(hidden, hidden)])
        self.hw_layers = nn.ModuleList([nn.Linear(hw_dim, hidden), nn.Linear(hidden, hidden)])
        self.head = nn.ModuleList([nn.Linear(2 * hidden, 2 * hidden), nn.Linear(2 * hidden, 2 * hidden),
                                   nn.Linear(2 * hidden, 1)])

    @property
    def modulated_widths(self) -> Sequence[int]:
        """Input widths of the head layers, whose weights the modulation ``z`` scales."""
        return [layer.in_features for layer in self.head]

    def encode(self, inputs: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Architecture vectors ``[B, hidden]``."""
        if self.encoder == "mlp":
            return self.arch_layers[1](F.relu(self.arch_layers[0](inputs["features"])))
        h, incoming = inputs["onehot"], inputs["incoming"]
        for layer in self.arch_layers:
            h = F.relu(incoming @ layer(h))
        return h[:, -1]

    def forward(self, inputs: Dict[str, torch.Tensor], hw: torch.Tensor,
                modulation: Optional[Sequence[Tuple[torch.Tensor, torch.Tensor]]] = None) -> torch.Tensor:
        """Predictions ``[B]`` for a batch of architectures on one device (``hw``: ``[hw_dim]``)."""
        arch = self.encode(inputs)
        device = self.hw_layers[1](F.relu(self.hw_layers[0](hw)))
        x = torch.cat((arch, device.expand(arch.shape[0], -1)), dim=-1)
        for i, layer in enumerate(self.head):
            if i:
                x = F.relu(x)
            if modulation is None:
                x = layer(x)
            else:
                scale, shift = modulation[i]
                x = F.linear(x, layer.weight * (1 + scale), layer.bias + shift)
        return x.squeeze(-1)


class HardwareModulator(nn.Module):
    """q(z | hardware embedding): a Gaussian per modulated weight column and per head bias.

    ``hw -> 10 -> (mu, sigma)``; samples are scaled by ``Z_SCALE`` before they modulate, as in HELP.
    The KL term to N(0, I) is summed over the units.
    """

    Z_SCALE = 0.01

    def __init__(self, hw_dim: int, widths: Sequence[int], hidden: int = 10):
        super().__init__()
        self.widths = list(widths)
        units = sum(self.widths) + len(self.widths)
        self.body = nn.Sequential(nn.Linear(hw_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * units))

    def forward(self, hw: torch.Tensor, generator: Optional[torch.Generator] = None):
        """A reparameterised sample as ``(weight scale, bias shift)`` per head layer, and the KL."""
        mu, raw_sigma = self.body(hw).chunk(2)
        sigma = F.softplus(raw_sigma)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        z = self.Z_SCALE * (mu + sigma * eps)
        kl = (0.5 * (mu.pow(2) + sigma.pow(2)) - torch.log(sigma) - 0.5).sum()
        scales = torch.split(z[:sum(self.widths)], self.widths)
        shifts = z[sum(self.widths):]
        return [(scale, shifts[i]) for i, scale in enumerate(scales)], kl
