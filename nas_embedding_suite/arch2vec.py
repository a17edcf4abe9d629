"""arch2vec (Yan et al. 2020): a graph variational autoencoder whose latent means encode an arch.

The encoder stacks GIN layers (torch-geometric's ``DenseGINConv`` on the batched dense adjacency,
links taken in both directions) and maps every node to a Gaussian (mean, log-variance) in 32
dimensions. The decoder reconstructs the directed adjacency from inner products of the node
latents (the links i -> j with i < j, as every graph here is topologically ordered) and each
node's op from its latent. Each node's input is its op plus a learned embedding of its position
(in a chain such as FBNet's, the position is what tells one layer from another). The loss is the reconstruction (binary cross-entropy on links,
cross-entropy on ops, over the nodes of the graph) plus the KL term per node. Training is
unsupervised on every architecture of the space; an architecture's encoding is the mean over its
nodes of the latent means.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import DenseGINConv
from tqdm import tqdm


@dataclass(frozen=True)
class Arch2VecSettings:
    """Model and training settings (the defaults build an encoding in a few minutes on a CPU)."""

    latent_dim: int = 32
    hidden_dim: int = 128
    layers: int = 5
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    kl_weight: float = 0.005
    seed: int = 0


class GraphVAE(nn.Module):
    """GIN encoder to per-node Gaussians; inner-product link decoder and linear op decoder."""

    def __init__(self, num_ops: int, num_nodes: int, settings: Arch2VecSettings):
        super().__init__()
        width = settings.hidden_dim
        self.embed = nn.Linear(num_ops, width)
        self.position = nn.Parameter(torch.zeros(num_nodes, width))
        self.convs = nn.ModuleList(
            DenseGINConv(nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width)), train_eps=True)
            for _ in range(settings.layers)
        )
        self.mean = nn.Linear(width, settings.latent_dim)
        self.log_var = nn.Linear(width, settings.latent_dim)
        self.op_decoder = nn.Linear(settings.latent_dim, num_ops)

    def encode(self, ops: torch.Tensor, adjacency: torch.Tensor, mask: torch.Tensor):
        """Per-node latent means and log-variances, [B, N, d] each."""
        links = ((adjacency + adjacency.transpose(1, 2)) > 0).float()
        h = self.embed(ops) + self.position
        for conv in self.convs:
            h = F.relu(conv(h, links, mask))
        return self.mean(h), self.log_var(h)

    def decode(self, z: torch.Tensor):
        """Link logits [B, N, N] and op logits [B, N, num_ops]."""
        return z @ z.transpose(1, 2), self.op_decoder(z)


def _loss(model: GraphVAE, ops, adjacency, mask, kl_weight: float) -> torch.Tensor:
    mean, log_var = model.encode(ops, adjacency, mask)
    z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var) if model.training else mean
    link_logits, op_logits = model.decode(z)
    nodes = mask.float()
    n = ops.shape[1]
    upper = torch.triu(torch.ones(n, n), diagonal=1)
    pair_mask = nodes[:, :, None] * nodes[:, None, :] * upper
    link_loss = (F.binary_cross_entropy_with_logits(link_logits, adjacency, reduction="none")
                 * pair_mask).sum() / pair_mask.sum()
    op_loss = (F.cross_entropy(op_logits.transpose(1, 2), ops.argmax(-1), reduction="none")
               * nodes).sum() / nodes.sum()
    kl = (-0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(-1) * nodes).sum() / nodes.sum()
    return link_loss + op_loss + kl_weight * kl


def _tensors(graphs, num_ops: int):
    ops = F.one_hot(torch.as_tensor(graphs.op_ids), num_ops).float()
    return ops, torch.as_tensor(graphs.adjacency).float(), torch.as_tensor(graphs.node_mask)


def train_arch2vec(graphs, num_ops: int, settings: Arch2VecSettings = Arch2VecSettings(),
                   progress: bool = True):
    """Train the autoencoder on ``graphs`` (a :class:`GraphBatch`); returns (model, loss per epoch)."""
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    ops, adjacency, mask = _tensors(graphs, num_ops)
    model = GraphVAE(num_ops, ops.shape[1], settings)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr)
    steps = settings.epochs * -(-len(ops) // settings.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    history = []
    bar = tqdm(range(settings.epochs), desc="arch2vec", unit="epoch", disable=not progress)
    for _ in bar:
        model.train()
        order = torch.randperm(len(ops), generator=generator)
        total = 0.0
        for start in range(0, len(order), settings.batch_size):
            rows = order[start:start + settings.batch_size]
            loss = _loss(model, ops[rows], adjacency[rows], mask[rows], settings.kl_weight)
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)  # inner-product logits can spike
            optimiser.step()
            schedule.step()
            total += loss.item() * len(rows)
        history.append(total / len(order))
        bar.set_postfix(loss=f"{history[-1]:.4f}")
    return model, history


@torch.no_grad()
def arch2vec_vectors(model: GraphVAE, graphs, num_ops: int, batch_size: int = 1024) -> np.ndarray:
    """The encoding [A, latent_dim]: node-averaged latent means of each graph."""
    model.eval()
    ops, adjacency, mask = _tensors(graphs, num_ops)
    out = []
    for start in range(0, len(ops), batch_size):
        part = slice(start, start + batch_size)
        mean, _ = model.encode(ops[part], adjacency[part], mask[part])
        nodes = mask[part].float()[..., None]
        out.append((mean * nodes).sum(1) / nodes.sum(1))
    return torch.cat(out).numpy()


def build_arch2vec(space, settings: Arch2VecSettings = Arch2VecSettings(),
                   progress: bool = True) -> np.ndarray:
    """Train on every architecture of ``space`` and return its arch2vec vectors [A, 32]."""
    num_ops = len(space.node_op_names)
    model, _ = train_arch2vec(space.graphs, num_ops, settings, progress)
    return arch2vec_vectors(model, space.graphs, num_ops)
