"""Gated message-passing layers on batched dense graphs (NASFLAT spec, section 3).

Every layer works on a whole padded batch at once and shares one calling convention::

    layer(h, incoming, node_mask, emb) -> [B, N, out_dim]

- ``h``: node states ``[B, N, in_dim]``, or ``[N, in_dim]`` when every graph of the batch starts
  from the same states (the first layer of each pass): the per-node transforms then run once
  instead of once per graph.
- ``incoming``: float ``[B, N, N]`` aggregation matrix with ``incoming[b, j, i] = 1`` when the
  graph has an edge ``i -> j``, i.e. the transpose of the usual adjacency. Row ``j`` lists the
  predecessors that node ``j`` receives messages from. Callers must already have removed the
  rows and columns of masked (cut) nodes; :func:`incoming_matrix` does both.
- ``node_mask``: bool ``[B, N]``, ``False`` for padded or cut nodes.
- ``emb``: per-node op(+hardware) embeddings ``[B, N, emb_dim]``, or a :class:`TabulatedEmbedding`
  when they take only a few distinct values; each layer turns them into a gate
  ``sigmoid(Linear(emb))`` of width ``out_dim`` (see :func:`node_gate`).

``layer.at_node(h, incoming, node_mask, emb, node)`` gives the same output at one node of every
graph, ``[B, 1, out_dim]``, without transforming the other nodes' states: the model needs only the
output node after the last layer of pass 1.
"""

import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

GNN_TYPES = ("ensemble", "dense", "gat")
FUSE_METHODS = ("add", "mlp")


class TabulatedEmbedding(NamedTuple):
    """Per-node embeddings stored as a small table of distinct rows and a row index per node.

    Before the first GNN pass a node's embedding depends only on its op and the device, so a
    batch of ``B x N`` nodes holds at most ``num_ops x num_devices + 2`` distinct rows. Per-row
    maps (the layer gates, the first layer of the update MLP) then run once per table row and are
    gathered, instead of running on every node of every graph.
    """

    table: torch.Tensor  # [R, emb_dim]
    index: torch.Tensor  # long [B, N], rows of ``table``

    def gather(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows ``[R, d]`` computed from the table, placed at every node: ``[B, N, d]``."""
        # index_select's backward (index_add) is far cheaper on CPU than advanced indexing's.
        return rows.index_select(0, self.index.flatten()).view(*self.index.shape, rows.shape[-1])

    def dense(self) -> torch.Tensor:
        """The embeddings as a full ``[B, N, emb_dim]`` tensor."""
        return self.gather(self.table)


def select_node(emb, node: int):
    """The embeddings of one node of every graph (``[B, 1, emb_dim]``, or a one-node table)."""
    if isinstance(emb, TabulatedEmbedding):
        return TabulatedEmbedding(emb.table, emb.index[:, node:node + 1])
    return emb[:, node:node + 1]


def node_linear(linear, emb) -> torch.Tensor:
    """``linear`` applied to every node embedding: ``[B, N, out]`` from a tensor or a table."""
    if isinstance(emb, TabulatedEmbedding):
        return emb.gather(linear(emb.table))
    return linear(emb)


def node_gate(linear: nn.Module, emb) -> torch.Tensor:
    """The gate ``sigmoid(linear(emb))`` of every node, ``[B, N, out]``."""
    return node_linear(lambda x: torch.sigmoid(linear(x)), emb)


def incoming_matrix(adjacency: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
    """Turn an adjacency ``A[b, i, j] = 1 for i -> j`` into the masked aggregation matrix.

    Edges touching a masked node are dropped, so a cut node can neither send nor receive messages
    even if the caller left stray entries in its row or column.
    """
    mask = node_mask.to(adjacency.dtype)
    masked = adjacency * mask.unsqueeze(2) * mask.unsqueeze(1)
    return masked.transpose(1, 2).contiguous()  # batched matmuls loop per graph on a transposed view


def self_and_predecessor_sum(adjacency: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
    """``[B, N, N]`` matrix that sums each valid node with its valid predecessors (a GCN's
    aggregation with self loops, unnormalised); rows of masked nodes are zero."""
    return incoming_matrix(adjacency, node_mask) + torch.diag_embed(node_mask.to(adjacency.dtype))


def self_and_predecessor_mean(adjacency: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
    """:func:`self_and_predecessor_sum` normalised per row: each valid node averages itself and its
    valid predecessors."""
    incoming = self_and_predecessor_sum(adjacency, node_mask)
    return incoming / incoming.sum(-1, keepdim=True).clamp(min=1.0)


class DenseGraphFlow(nn.Module):
    """Gated graph convolution: ``S = H W``; ``out = gate * (A' S) + S + b``.

    ``A'`` sums the transformed states of each node's predecessors; the ``S`` term is the
    node's own contribution (a residual in the transformed space).
    """

    def __init__(self, in_dim: int, out_dim: int, emb_dim: int):
        super().__init__()
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(out_dim))
        self.gate = nn.Linear(emb_dim, out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform init in ``+-1/sqrt(out_dim)`` for the weight and bias."""
        bound = 1.0 / math.sqrt(self.out_dim)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, h, incoming, node_mask, emb):
        support = h @ self.weight
        gate = node_gate(self.gate, emb)
        return gate * (incoming @ support) + support + self.bias

    def at_node(self, h, incoming, node_mask, emb, node: int):
        """:meth:`forward` at node ``node`` only: ``[B, 1, out_dim]``."""
        own = h[..., node:node + 1, :] @ self.weight
        # A (H W) = (A H) W: aggregate the raw states first, then transform one row per graph.
        received = (incoming[:, node:node + 1] @ h) @ self.weight
        return node_gate(self.gate, select_node(emb, node)) * received + own + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_dim} -> {self.out_dim}"


class GatedGraphAttention(nn.Module):
    """Gated single-head dot-product graph attention restricted to neighbours.

    ``P = W H``; ``e_ij = leaky_relu(a . (P_i * P_j) / sqrt(d))`` for each neighbour ``j`` of ``i``
    and ``-inf`` elsewhere; ``att = softmax_j(e)``; ``out = LayerNorm(gate * sum_j att_ij P_j)``.

    Neighbours of node ``j`` are its predecessors (the same direction as :class:`DenseGraphFlow`)
    plus, when ``self_loops`` is true, ``j`` itself if it is a valid node. The self entry lets a
    node keep its own state; without it a node's state after ``L`` layers would only see ancestors
    exactly ``L`` hops away, and the input node would always attend to nothing. Non-neighbours are
    masked with ``-inf`` (the original multiplied scores by 0, which still let every node,
    including cut ones, take part in the softmax). A row without any neighbour (a masked node, or
    the input node when ``self_loops`` is false) outputs zeros instead of NaN.
    """

    def __init__(self, in_dim: int, out_dim: int, emb_dim: int, self_loops: bool = True,
                 negative_slope: float = 0.2):
        super().__init__()
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.self_loops = self_loops
        self.negative_slope = negative_slope
        self.proj = nn.Linear(in_dim, out_dim, bias=False)
        self.attn = nn.Linear(out_dim, 1, bias=False)
        self.gate = nn.Linear(emb_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim)

    def neighbour_mask(self, incoming, node_mask):
        """Bool ``[B, N, N]``: entry ``[b, j, i]`` is true when node ``j`` attends to node ``i``."""
        neighbours = incoming > 0
        if self.self_loops:
            eye = torch.eye(incoming.shape[-1], dtype=torch.bool, device=incoming.device)
            neighbours = neighbours | (eye & node_mask.unsqueeze(-1))
        return neighbours

    def _attend(self, scores, neighbours):
        """Softmax of the scaled scores over each row's neighbours; ``[.., rows, N]`` weights
        and the bool ``[B, rows, 1]`` marking rows that have any neighbour."""
        scores = F.leaky_relu(scores / math.sqrt(self.out_dim), self.negative_slope)
        has_neighbour = neighbours.any(dim=-1, keepdim=True)
        # Empty rows would softmax over all -inf (NaN, also in the backward pass); give them a
        # finite dummy row; the caller zeroes their outputs.
        scores = torch.where(neighbours, scores, float("-inf"))  # broadcasts shared scores
        scores = scores.masked_fill(~has_neighbour, 0.0)
        return torch.softmax(scores, dim=-1), has_neighbour

    def _finish(self, attended, gate, has_neighbour):
        """Gate and normalise the attended states; rows without neighbours become zeros."""
        out = self.norm(gate * attended)
        if bool(has_neighbour.all()):  # e.g. FBNet chains: skip a full pass over the states
            return out
        return out * has_neighbour.to(out.dtype)

    def forward(self, h, incoming, node_mask, emb):
        p = self.proj(h)
        # a . (P_j * P_i) for every pair, as one batched matmul: ((P * a) @ P^T)[j, i].
        scores = (p * self.attn.weight.squeeze(0)) @ p.transpose(-1, -2)
        att, has_neighbour = self._attend(scores, self.neighbour_mask(incoming, node_mask))
        return self._finish(att @ p, node_gate(self.gate, emb), has_neighbour)

    def at_node(self, h, incoming, node_mask, emb, node: int):
        """:meth:`forward` at node ``node`` only: ``[B, 1, out_dim]``.

        With ``W`` the projection, ``a . (W h_j * W h_i) = ((W h_j * a) W) . h_i`` and
        ``sum_i att_i W h_i = W sum_i att_i h_i``, so only node ``node`` is projected.
        """
        p_node = self.proj(h[..., node:node + 1, :])
        query = (p_node * self.attn.weight.squeeze(0)) @ self.proj.weight
        scores = query @ h.transpose(-1, -2)
        neighbours = self.neighbour_mask(incoming, node_mask)[:, node:node + 1]
        att, has_neighbour = self._attend(scores, neighbours)
        gate = node_gate(self.gate, select_node(emb, node))
        return self._finish(self.proj(att @ h), gate, has_neighbour)

    def extra_repr(self) -> str:
        return f"{self.in_dim} -> {self.out_dim}, self_loops={self.self_loops}"


class EnsembleGraphLayer(nn.Module):
    """Runs :class:`DenseGraphFlow` and :class:`GatedGraphAttention` side by side and fuses them.

    ``fuse_method="add"`` averages the two outputs (the reference setting). ``"mlp"`` concatenates
    them and maps ``2 * out_dim -> out_dim -> out_dim`` with a ReLU in between.
    """

    def __init__(self, in_dim: int, out_dim: int, emb_dim: int, fuse_method: str = "add",
                 self_loops: bool = True):
        super().__init__()
        if fuse_method not in FUSE_METHODS:
            raise ValueError(f"fuse_method must be one of {FUSE_METHODS}, got {fuse_method!r}")
        self.fuse_method = fuse_method
        self.dense = DenseGraphFlow(in_dim, out_dim, emb_dim)
        self.attention = GatedGraphAttention(in_dim, out_dim, emb_dim, self_loops=self_loops)
        if fuse_method == "mlp":
            self.fuse = nn.Sequential(
                nn.Linear(2 * out_dim, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim)
            )

    def _fuse(self, dense, attention):
        if self.fuse_method == "add":
            return 0.5 * (dense + attention)
        return self.fuse(torch.cat((dense, attention), dim=-1))

    def forward(self, h, incoming, node_mask, emb):
        return self._fuse(self.dense(h, incoming, node_mask, emb),
                          self.attention(h, incoming, node_mask, emb))

    def at_node(self, h, incoming, node_mask, emb, node: int):
        """:meth:`forward` at node ``node`` only: ``[B, 1, out_dim]``."""
        return self._fuse(self.dense.at_node(h, incoming, node_mask, emb, node),
                          self.attention.at_node(h, incoming, node_mask, emb, node))


def build_graph_layer(gnn_type: str, in_dim: int, out_dim: int, emb_dim: int,
                      fuse_method: str = "add", self_loops: bool = True) -> nn.Module:
    """Create one gated graph layer of the given type (``"ensemble"``, ``"dense"`` or ``"gat"``)."""
    if gnn_type == "dense":
        return DenseGraphFlow(in_dim, out_dim, emb_dim)
    if gnn_type == "gat":
        return GatedGraphAttention(in_dim, out_dim, emb_dim, self_loops=self_loops)
    if gnn_type == "ensemble":
        return EnsembleGraphLayer(in_dim, out_dim, emb_dim, fuse_method, self_loops=self_loops)
    raise ValueError(f"gnn_type must be one of {GNN_TYPES}, got {gnn_type!r}")
