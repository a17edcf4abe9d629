"""CATE (Yan et al. 2021): a computation-aware transformer encoding of an architecture.

Training pairs each architecture with a computationally similar one: the architectures are sorted
by FLOPs and each is paired with a random other within ``pair_window`` ranks. The two graphs go
through one transformer as a single sequence (node op + position + which-graph embeddings); a
node attends to itself and its graph neighbours within its own graph and to every node of the
other graph. A share of the first graph's ops is replaced by a mask token and predicted from the
rest; the partner is what the model may borrow from. The encoding of an architecture is the mean
of its node states when paired with itself, unmasked, in ``d_model = 32`` dimensions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm


@dataclass(frozen=True)
class CateSettings:
    """Model and training settings (the defaults train in a few minutes on a CPU)."""

    d_model: int = 32
    heads: int = 4
    layers: int = 3
    feedforward: int = 128
    mask_share: float = 0.2
    pair_window: int = 10
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0


class PairTransformer(nn.Module):
    """Transformer over two graphs' nodes with graph-structured attention within each graph."""

    def __init__(self, num_ops: int, num_nodes: int, settings: CateSettings):
        super().__init__()
        self.mask_token = num_ops
        self.op_embedding = nn.Embedding(num_ops + 1, settings.d_model)
        self.position = nn.Embedding(num_nodes, settings.d_model)
        self.segment = nn.Embedding(2, settings.d_model)
        layer = nn.TransformerEncoderLayer(settings.d_model, settings.heads, settings.feedforward,
                                           dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, settings.layers, enable_nested_tensor=False)
        self.heads = settings.heads
        self.op_head = nn.Linear(settings.d_model, num_ops)

    def forward(self, ops_a, adj_a, mask_a, ops_b, adj_b, mask_b) -> torch.Tensor:
        """Node states [B, 2N, d] of the pair (graph a's nodes first)."""
        n = ops_a.shape[1]
        positions = torch.arange(n)
        tokens = torch.cat([
            self.op_embedding(ops_a) + self.position(positions) + self.segment.weight[0],
            self.op_embedding(ops_b) + self.position(positions) + self.segment.weight[1],
        ], dim=1)
        return self.encoder(tokens, mask=self._attention_mask(adj_a, mask_a, adj_b, mask_b))

    def _attention_mask(self, adj_a, mask_a, adj_b, mask_b) -> torch.Tensor:
        batch, n = mask_a.shape
        eye = torch.eye(n, dtype=torch.bool)
        within_a = ((adj_a + adj_a.transpose(1, 2)) > 0) | eye
        within_b = ((adj_b + adj_b.transpose(1, 2)) > 0) | eye
        valid = torch.cat([mask_a, mask_b], dim=1)
        allowed = torch.ones(batch, 2 * n, 2 * n, dtype=torch.bool)
        allowed[:, :n, :n] = within_a
        allowed[:, n:, n:] = within_b
        allowed &= valid[:, None, :]
        allowed |= torch.eye(2 * n, dtype=torch.bool)  # every node sees itself: no empty rows
        bias = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))
        return bias.repeat_interleave(self.heads, dim=0)


def similar_partners(flops: np.ndarray, window: int, rng: np.random.Generator) -> np.ndarray:
    """For each architecture, a random other one within ``window`` ranks of it by FLOPs."""
    order = np.argsort(flops, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    offsets = rng.integers(1, window + 1, size=len(order)) * rng.choice([-1, 1], size=len(order))
    partner_rank = rank + offsets
    partner_rank = np.where((partner_rank < 0) | (partner_rank >= len(order)), rank - offsets, partner_rank)
    return order[np.clip(partner_rank, 0, len(order) - 1)]


def _tensors(graphs):
    return (torch.as_tensor(graphs.op_ids), torch.as_tensor(graphs.adjacency).float(),
            torch.as_tensor(graphs.node_mask))


def train_cate(graphs, num_ops: int, flops: np.ndarray, settings: CateSettings = CateSettings(),
               progress: bool = True):
    """Train on masked-op prediction over FLOPs-similar pairs; returns (model, loss per epoch)."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    ops, adjacency, mask = _tensors(graphs)
    model = PairTransformer(num_ops, ops.shape[1], settings)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr)
    history = []
    bar = tqdm(range(settings.epochs), desc="CATE", unit="epoch", disable=not progress)
    for _ in bar:
        model.train()
        partners = torch.as_tensor(similar_partners(flops, settings.pair_window, rng))
        order = torch.as_tensor(rng.permutation(len(ops)))
        total = 0.0
        for start in range(0, len(order), settings.batch_size):
            a = order[start:start + settings.batch_size]
            b = partners[a]
            hidden = torch.as_tensor(rng.random(tuple(ops[a].shape)) < settings.mask_share) & mask[a]
            if not hidden.any():
                continue
            masked_ops = ops[a].masked_fill(hidden, model.mask_token)
            states = model(masked_ops, adjacency[a], mask[a], ops[b], adjacency[b], mask[b])
            logits = model.op_head(states[:, : ops.shape[1]])
            loss = F.cross_entropy(logits[hidden], ops[a][hidden])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(a)
        history.append(total / len(order))
        bar.set_postfix(loss=f"{history[-1]:.4f}")
    return model, history


@torch.no_grad()
def cate_vectors(model: PairTransformer, graphs, batch_size: int = 1024) -> np.ndarray:
    """The encoding [A, d_model]: mean node state of each architecture paired with itself."""
    model.eval()
    ops, adjacency, mask = _tensors(graphs)
    n = ops.shape[1]
    out = []
    for start in range(0, len(ops), batch_size):
        part = slice(start, start + batch_size)
        states = model(ops[part], adjacency[part], mask[part], ops[part], adjacency[part], mask[part])
        nodes = mask[part].float()[..., None]
        out.append((states[:, :n] * nodes).sum(1) / nodes.sum(1))
    return torch.cat(out).numpy()


def build_cate(space, settings: CateSettings = CateSettings(), progress: bool = True) -> np.ndarray:
    """Train on every architecture of ``space`` and return its CATE vectors [A, 32]."""
    model, _ = train_cate(space.graphs, len(space.node_op_names), space.flops, settings, progress)
    return cate_vectors(model, space.graphs)
