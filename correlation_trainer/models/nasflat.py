"""The NASFLAT latency predictor (NASFLAT spec, section 3) on batched dense graphs.

Data flow for a batch of ``B`` graphs padded to ``N`` nodes (node 0 = input, node ``N-1`` = output):

1. Per-node embedding ``E`` (48-d at the reference settings): op embedding (40) concatenated with
   the device's hardware embedding (8); the input node gets zeros and the output node a learned
   vector of its own. With ``node_feature_dim`` (NASFLAT+), a linear map of per-node features
   (the op's cost at its position) is added to the op nodes' embeddings. With ``hwemb_to_mlp`` the hardware embedding leaves the nodes and instead
   goes through an 8-48-48 MLP to the regression head.
2. Initial node states ``X``: a learned vector for the input node and one shared learned vector for
   every other node, projected 48 -> 96. Op identity enters only through the layer gates.
3. Pass 1 (2 gated layers of 128) on ``X`` gated by ``E``; the output node's state goes through an
   MLP (128-128-128), is broadcast to every node, concatenated with ``E`` and mapped
   176 -> 128 -> 48 to updated embeddings ``E'``.
4. Pass 2 (3 gated layers of 128) on the same ``X``, gated by ``E'``; readout = sum over the
   valid nodes except the input node, divided by N - 1 (cut nodes count as zeros, so the readout
   keeps how many ops a graph has).
5. Optional supplementary encoding (e.g. ZCP) through an MLP to 48-d, concatenated with the
   readout (and the hardware MLP output); head 3 x (Linear 200, ReLU, dropout) then Linear -> 1.
"""

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .graph_layers import (
    FUSE_METHODS,
    GNN_TYPES,
    TabulatedEmbedding,
    build_graph_layer,
    incoming_matrix,
    node_linear,
)


def _mlp(dims, dropout: float = 0.0) -> nn.Sequential:
    """Linear layers through ``dims`` with ReLU (and dropout, if any) after every hidden layer."""
    layers = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class NASFLATModel(nn.Module):
    """Few-shot hardware latency predictor: a two-pass gated GNN with op-wise hardware embeddings.

    Args:
        num_ops: size of the op vocabulary (including input/output tokens; their ids are ignored
            at nodes 0 and ``N-1``, which use the dedicated input/output embeddings).
        num_devices: rows of the hardware-embedding table.
        op_emb_dim: width of the op embedding (40).
        hw_emb_dim: width of a hardware-embedding row (8).
        node_dim: width of the learned initial node vectors (48).
        node_hidden_dim: width they are projected to before pass 1/2 (96).
        hidden_dim: width of every graph layer and of the output-node MLP (128).
        pass1_layers, pass2_layers: number of graph layers in each pass (2 and 3).
        gnn_type: ``"ensemble"`` (DenseGraphFlow + attention, the reference), ``"dense"`` or
            ``"gat"``.
        ensemble_fuse_method: ``"add"`` (average) or ``"mlp"``; used by ``"ensemble"`` only.
        hwemb_to_mlp: feed the hardware embedding to the head through an MLP instead of
            concatenating it to every node's op embedding. The op table then has width
            ``op_emb_dim + hw_emb_dim`` so that all node-embedding widths stay the same.
        hw_mlp_dim: hidden and output width of that hardware MLP (48).
        supp_dim: width of the per-architecture supplementary vector (0 = none).
        node_feature_dim: width of per-node input features added to the op embeddings through
            a linear map (0 = none; NASFLAT+ gives the op's cost features).
        supp_hidden_dim, supp_out_dim: supplementary MLP ``supp_dim -> 128 -> 128 -> 48``.
        head_hidden: width of the head's hidden layers (200).
        head_layers: number of hidden head layers (3).
        dropout: dropout of the head and the supplementary MLP (0.1).
        supp_dropout: dropout of the supplementary MLP alone, if it should differ (None: ``dropout``).
        gnn_dropout: dropout after each graph layer (0.0, as in the original).
        attention_self_loops: attention neighbours are predecessors plus the node itself (True)
            or predecessors only (False).
    """

    def __init__(
        self,
        num_ops: int,
        num_devices: int,
        *,
        op_emb_dim: int = 40,
        hw_emb_dim: int = 8,
        node_dim: int = 48,
        node_hidden_dim: int = 96,
        hidden_dim: int = 128,
        pass1_layers: int = 2,
        pass2_layers: int = 3,
        gnn_type: str = "ensemble",
        ensemble_fuse_method: str = "add",
        hwemb_to_mlp: bool = False,
        hw_mlp_dim: int = 48,
        supp_dim: int = 0,
        node_feature_dim: int = 0,
        supp_hidden_dim: int = 128,
        supp_out_dim: int = 48,
        head_hidden: int = 200,
        head_layers: int = 3,
        dropout: float = 0.1,
        supp_dropout: Optional[float] = None,
        gnn_dropout: float = 0.0,
        attention_self_loops: bool = True,
    ):
        super().__init__()
        if gnn_type not in GNN_TYPES:
            raise ValueError(f"gnn_type must be one of {GNN_TYPES}, got {gnn_type!r}")
        if ensemble_fuse_method not in FUSE_METHODS:
            raise ValueError(
                f"ensemble_fuse_method must be one of {FUSE_METHODS}, got {ensemble_fuse_method!r}"
            )
        if pass1_layers < 1 or pass2_layers < 1:
            raise ValueError("each pass needs at least one graph layer")
        self.num_ops = num_ops
        self.num_devices = num_devices
        self.gnn_type = gnn_type
        self.hwemb_to_mlp = hwemb_to_mlp
        self.supp_dim = supp_dim
        self.gnn_dropout = gnn_dropout
        self.emb_dim = op_emb_dim + hw_emb_dim

        op_table_dim = self.emb_dim if hwemb_to_mlp else op_emb_dim
        self.op_embedding = nn.Embedding(num_ops, op_table_dim)
        self.hw_embedding = nn.Embedding(num_devices, hw_emb_dim)
        self.register_buffer("input_emb", torch.zeros(self.emb_dim))
        self.output_emb = nn.Parameter(torch.randn(self.emb_dim))
        self.node_feature_map = nn.Linear(node_feature_dim, self.emb_dim) if node_feature_dim > 0 else None

        self.input_node = nn.Parameter(torch.randn(node_dim))
        self.other_node = nn.Parameter(torch.randn(node_dim))
        self.node_proj = nn.Linear(node_dim, node_hidden_dim)

        def make_pass(num_layers):
            dims = [node_hidden_dim] + [hidden_dim] * num_layers
            return nn.ModuleList(
                build_graph_layer(gnn_type, dims[i], dims[i + 1], self.emb_dim,
                                  ensemble_fuse_method, attention_self_loops)
                for i in range(num_layers)
            )

        self.pass1 = make_pass(pass1_layers)
        self.output_mlp = _mlp([hidden_dim, hidden_dim, hidden_dim])
        self.update_mlp = _mlp([hidden_dim + self.emb_dim, hidden_dim, self.emb_dim])
        self.pass2 = make_pass(pass2_layers)

        head_in = hidden_dim
        self.hw_mlp = None
        if hwemb_to_mlp:
            self.hw_mlp = _mlp([hw_emb_dim, hw_mlp_dim, hw_mlp_dim])
            head_in += hw_mlp_dim
        self.supp_mlp = None
        if supp_dim > 0:
            self.supp_mlp = _mlp(
                [supp_dim, supp_hidden_dim, supp_hidden_dim, supp_out_dim],
                dropout if supp_dropout is None else supp_dropout,
            )
            head_in += supp_out_dim
        self.head = _mlp([head_in] + [head_hidden] * head_layers + [1], dropout)

    def node_embeddings(self, op_ids: torch.Tensor, device_idx: torch.Tensor,
                        node_features: torch.Tensor = None):
        """Per-node op(+hardware) embeddings used by the pass-1 gates.

        Without per-node features every embedding is one of a few (op, device) rows, so they come
        back as a :class:`TabulatedEmbedding` (the same values as the dense ``[B, N, emb_dim]``
        tensor, computed once per row); with node features, as the dense tensor.
        """
        batch, num_nodes = op_ids.shape
        if self.node_feature_map is None:
            ops = self.op_embedding.weight
            if self.hwemb_to_mlp:
                rows, row_of_node = ops, op_ids
            else:
                hw = self.hw_embedding.weight
                rows = torch.cat(
                    (ops.unsqueeze(0).expand(hw.shape[0], -1, -1),
                     hw.unsqueeze(1).expand(-1, ops.shape[0], -1)),
                    dim=-1,
                ).reshape(-1, self.emb_dim)
                row_of_node = device_idx.unsqueeze(1) * self.num_ops + op_ids
            # Rows 0 and 1 hold the input and output node embeddings.
            index = torch.cat(
                (torch.zeros_like(op_ids[:, :1]), row_of_node[:, 1:-1] + 2,
                 torch.ones_like(op_ids[:, :1])),
                dim=1,
            )
            table = torch.cat((self.input_emb.unsqueeze(0), self.output_emb.unsqueeze(0), rows))
            return TabulatedEmbedding(table, index)
        emb = self.op_embedding(op_ids)
        if not self.hwemb_to_mlp:
            hw = self.hw_embedding(device_idx).unsqueeze(1).expand(batch, num_nodes, -1)
            emb = torch.cat((emb, hw), dim=-1)
        emb = emb + self.node_feature_map(node_features.to(emb.dtype))
        return torch.cat(
            (
                self.input_emb.expand(batch, 1, -1),
                emb[:, 1:-1],
                self.output_emb.expand(batch, 1, -1),
            ),
            dim=1,
        )

    def updated_embeddings(self, emb, summary: torch.Tensor) -> torch.Tensor:
        """``update_mlp`` on each node's ``[embedding, graph summary]``: ``[B, N, emb_dim]``.

        The first linear layer is split into its embedding and summary columns, so that the
        summary part runs once per graph (``summary`` is ``[B, hidden]``) and the embedding part
        once per table row, rather than both on every node.
        """
        first = self.update_mlp[0]
        emb_weight, summary_weight = first.weight.split([self.emb_dim, summary.shape[-1]], dim=1)
        per_node = node_linear(lambda x: F.linear(x, emb_weight), emb)
        per_graph = F.linear(summary, summary_weight, first.bias).unsqueeze(1)
        return self.update_mlp[1:](per_node + per_graph)

    def initial_states(self, num_nodes: int) -> torch.Tensor:
        """Initial node states ``[N, node_hidden_dim]``, shared by every graph of a batch."""
        nodes = torch.cat(
            (self.input_node.unsqueeze(0), self.other_node.unsqueeze(0).expand(num_nodes - 1, -1))
        )
        return self.node_proj(nodes)

    def _run_pass(self, layers, h, incoming, node_mask, emb, only_node=None):
        """Graph layers with ReLU in between; with ``only_node``, the last layer is evaluated at
        that node alone (``[B, 1, hidden]``)."""
        for i, layer in enumerate(layers):
            last = i == len(layers) - 1
            if last and only_node is not None:
                h = layer.at_node(h, incoming, node_mask, emb, only_node)
            else:
                h = layer(h, incoming, node_mask, emb)
            if not last:
                h = F.relu(h)
            h = F.dropout(h, self.gnn_dropout, self.training)
        return h

    def graph_embedding(self, adjacency, op_ids, node_mask, device_idx, node_features=None) -> torch.Tensor:
        """Both GNN passes and the readout: ``[B, hidden_dim]`` (before the head)."""
        batch, num_nodes = op_ids.shape
        node_mask = node_mask.bool()
        incoming = incoming_matrix(adjacency.to(self.output_emb.dtype), node_mask)
        emb = self.node_embeddings(op_ids, device_idx, node_features)
        states = self.initial_states(num_nodes)

        # Pass 1 only feeds the update through the output node's state.
        out_state = self._run_pass(self.pass1, states, incoming, node_mask, emb, only_node=num_nodes - 1)
        updated_emb = self.updated_embeddings(emb, self.output_mlp(out_state[:, 0]))
        h = self._run_pass(self.pass2, states, incoming, node_mask, updated_emb)

        readout_mask = node_mask.clone()
        readout_mask[:, 0] = False
        weights = readout_mask.to(h.dtype).unsqueeze(-1)
        # Cut nodes read out as zeros but still count in the denominator (N - 1): the readout is
        # a scaled sum, so it keeps how many ops a cell has, which latency depends on.
        return (h * weights).sum(dim=1) / (num_nodes - 1)

    def forward(self, adjacency, op_ids, node_mask, device_idx, supplementary=None, node_features=None):
        """Score a batch of architectures on the given devices.

        Args:
            adjacency: float ``[B, N, N]``, ``adjacency[b, i, j] = 1`` for an edge ``i -> j``.
            op_ids: long ``[B, N]``.
            node_mask: bool ``[B, N]``, ``False`` for cut or padded nodes.
            device_idx: long ``[B]``, rows of the hardware-embedding table.
            supplementary: float ``[B, supp_dim]``; required iff ``supp_dim > 0``.
            node_features: float ``[B, N, node_feature_dim]``; required iff ``node_feature_dim > 0``.

        Returns:
            Scores ``[B]`` (higher = predicted slower; only their order is trained).
        """
        batch_nodes = tuple(op_ids.shape)
        if (op_ids.dim() != 2 or tuple(adjacency.shape) != batch_nodes + batch_nodes[1:]
                or tuple(node_mask.shape) != batch_nodes):
            raise ValueError(
                f"expected adjacency [B, N, N], op_ids and node_mask [B, N]; got "
                f"{tuple(adjacency.shape)}, {tuple(op_ids.shape)}, {tuple(node_mask.shape)}"
            )
        if op_ids.shape[1] < 2:
            raise ValueError("graphs need at least an input and an output node")
        if (supplementary is None) != (self.supp_mlp is None):
            raise ValueError(
                f"model built with supp_dim={self.supp_dim}: supplementary must "
                + ("be given" if self.supp_mlp is not None else "be None")
            )
        if (node_features is None) != (self.node_feature_map is None):
            raise ValueError("node_features must be given exactly when the model has node_feature_dim > 0")
        features = [self.graph_embedding(adjacency, op_ids, node_mask, device_idx, node_features)]
        if self.hw_mlp is not None:
            features.append(self.hw_mlp(self.hw_embedding(device_idx)))
        if self.supp_mlp is not None:
            features.append(self.supp_mlp(supplementary.to(features[0].dtype)))
        return self.head(torch.cat(features, dim=-1)).squeeze(-1)

    def copy_hardware_embedding(self, source_idx: int, target_idx: int) -> None:
        """Overwrite hardware-embedding row ``target_idx`` with a copy of row ``source_idx``.

        Used to initialise a new target device from its most correlated source device; the copy
        carries no autograd history.
        """
        for idx in (source_idx, target_idx):
            if not 0 <= idx < self.num_devices:
                raise IndexError(f"device index {idx} out of range [0, {self.num_devices})")
        with torch.no_grad():
            weight = self.hw_embedding.weight
            weight[target_idx].copy_(weight[source_idx])
