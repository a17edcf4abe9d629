"""Tests of the NASFLAT predictor and its graph layers on synthetic NB201/FBNet-like graphs."""

import pytest
import torch

from correlation_trainer.models import (
    DenseGraphFlow,
    EnsembleGraphLayer,
    GatedGraphAttention,
    NASFLATModel,
    build_graph_layer,
    incoming_matrix,
)
from correlation_trainer.models.graph_layers import TabulatedEmbedding, node_gate

# Op vocabulary of the synthetic NB201 graphs: input/output tokens, then the five edge ops.
NB_INPUT, NB_OUTPUT, NB_NONE, NB_SKIP, NB_C1, NB_C3, NB_POOL = range(7)
NB_NUM_OPS = 7
# Nodes [input, e0..e5, output]; links as in spec section 2.
NB_LINKS = [(0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7)]
FB_NUM_OPS = 11  # input, output, 9 blocks
NUM_DEVICES = 6

GNN_CONFIGS = [("ensemble", "add"), ("ensemble", "mlp"), ("dense", "add"), ("gat", "add")]


def nb201_graph(edge_ops):
    """Dense graph of one NB201 cell; `none` nodes and nodes off all input-output paths are cut."""
    n = 8
    ops = [NB_INPUT] + list(edge_ops) + [NB_OUTPUT]
    adj = torch.zeros(n, n)
    for i, j in NB_LINKS:
        if ops[i] != NB_NONE and ops[j] != NB_NONE:
            adj[i, j] = 1.0
    forward, backward = {0}, {n - 1}
    for i in range(n):  # node order is topological
        if i in forward:
            forward.update(j for j in range(n) if adj[i, j] > 0)
    for j in reversed(range(n)):
        if j in backward:
            backward.update(i for i in range(n) if adj[i, j] > 0)
    keep = forward & backward
    mask = torch.tensor([i in keep for i in range(n)])
    adj = adj * mask.float().unsqueeze(0) * mask.float().unsqueeze(1)
    return adj, torch.tensor(ops), mask


def nb201_batch(batch, seed):
    gen = torch.Generator().manual_seed(seed)
    graphs = [nb201_graph(torch.randint(2, 7, (6,), generator=gen).tolist()) for _ in range(batch)]
    adj, ops, mask = (torch.stack(parts) for parts in zip(*graphs))
    devices = torch.randint(0, NUM_DEVICES, (batch,), generator=gen)
    return adj, ops, mask, devices


def fbnet_batch(batch, seed):
    gen = torch.Generator().manual_seed(seed)
    n = 24
    adj = torch.zeros(batch, n, n)
    idx = torch.arange(n - 1)
    adj[:, idx, idx + 1] = 1.0
    ops = torch.cat(
        (
            torch.zeros(batch, 1, dtype=torch.long),
            torch.randint(2, FB_NUM_OPS, (batch, n - 2), generator=gen),
            torch.ones(batch, 1, dtype=torch.long),
        ),
        dim=1,
    )
    mask = torch.ones(batch, n, dtype=torch.bool)
    devices = torch.randint(0, NUM_DEVICES, (batch,), generator=gen)
    return adj, ops, mask, devices


def make_model(num_ops=NB_NUM_OPS, seed=0, **kwargs):
    torch.manual_seed(seed)
    return NASFLATModel(num_ops=num_ops, num_devices=NUM_DEVICES, **kwargs)


def test_nb201_batch_has_cut_nodes():
    _, _, mask, _ = nb201_batch(16, seed=0)
    assert (~mask[:, 1:-1]).any() and mask[:, 1:-1].any()


@pytest.mark.parametrize("hwemb_to_mlp", [False, True])
@pytest.mark.parametrize("supp_dim", [0, 13])
@pytest.mark.parametrize("gnn_type,fuse", GNN_CONFIGS)
def test_output_shapes(gnn_type, fuse, hwemb_to_mlp, supp_dim):
    model = make_model(num_ops=FB_NUM_OPS, gnn_type=gnn_type, ensemble_fuse_method=fuse,
                       hwemb_to_mlp=hwemb_to_mlp, supp_dim=supp_dim)
    for batch in (nb201_batch(5, seed=1), fbnet_batch(3, seed=2)):
        size = batch[0].shape[0]
        supp = torch.randn(size, supp_dim) if supp_dim else None
        scores = model(*batch, supplementary=supp)
        assert scores.shape == (size,)
        assert torch.isfinite(scores).all()


def test_supplementary_must_match_construction():
    batch = nb201_batch(2, seed=0)
    with pytest.raises(ValueError):
        make_model()(*batch, supplementary=torch.randn(2, 13))
    with pytest.raises(ValueError):
        make_model(supp_dim=13)(*batch)
    with pytest.raises(ValueError):
        make_model(gnn_type="gcn")


def test_graph_without_path_is_finite():
    adj, ops, mask = nb201_graph([NB_NONE] * 6)
    model = make_model().eval()
    score = model(adj[None], ops[None], mask[None], torch.tensor([0]))
    assert torch.isfinite(score).all()


@pytest.mark.parametrize("gnn_type,fuse", GNN_CONFIGS)
def test_masked_nodes_do_not_influence_outputs(gnn_type, fuse):
    model = make_model(gnn_type=gnn_type, ensemble_fuse_method=fuse).eval()
    adj, ops, mask, devices = nb201_batch(32, seed=3)
    assert (~mask[:, 1:-1]).any()
    base = model(adj, ops, mask, devices)

    gen = torch.Generator().manual_seed(4)
    new_ops = torch.where(mask, ops, torch.randint(2, 7, ops.shape, generator=gen))
    # Stray edges from and to cut nodes must be ignored too.
    stray = torch.rand(adj.shape, generator=gen) < 0.5
    cut = ~mask
    touches_cut = cut.unsqueeze(2) | cut.unsqueeze(1)
    new_adj = torch.where(stray & touches_cut, torch.ones_like(adj), adj)
    assert not torch.equal(new_ops, ops) and not torch.equal(new_adj, adj)
    torch.testing.assert_close(model(new_adj, new_ops, mask, devices), base, rtol=0, atol=1e-6)


@pytest.mark.parametrize("gnn_type,fuse", GNN_CONFIGS)
def test_padding_with_masked_nodes_only_rescales_the_readout(gnn_type, fuse):
    """Extra masked nodes read out as zeros: the readout is the sum over valid non-input nodes
    divided by N - 1, so padding from N to N' nodes scales it by (N - 1) / (N' - 1) exactly."""
    model = make_model(gnn_type=gnn_type, ensemble_fuse_method=fuse).eval()
    adj, ops, mask, devices = nb201_batch(6, seed=11)
    pad = 3
    order = list(range(7)) + [None] * pad + [7]
    n = len(order)
    padded_adj = torch.zeros(6, n, n)
    padded_ops = torch.full((6, n), NB_C3, dtype=torch.long)
    padded_mask = torch.zeros(6, n, dtype=torch.bool)
    for new_i, old_i in enumerate(order):
        if old_i is None:
            continue
        padded_ops[:, new_i] = ops[:, old_i]
        padded_mask[:, new_i] = mask[:, old_i]
        for new_j, old_j in enumerate(order):
            if old_j is not None:
                padded_adj[:, new_i, new_j] = adj[:, old_i, old_j]
    torch.testing.assert_close(
        model.graph_embedding(padded_adj, padded_ops, padded_mask, devices) * (n - 1),
        model.graph_embedding(adj, ops, mask, devices) * 7,
        rtol=1e-5, atol=1e-5,
    )


@pytest.mark.parametrize("gnn_type,fuse", GNN_CONFIGS)
@pytest.mark.parametrize("hwemb_to_mlp", [False, True])
def test_batch_invariance(gnn_type, fuse, hwemb_to_mlp):
    model = make_model(gnn_type=gnn_type, ensemble_fuse_method=fuse, hwemb_to_mlp=hwemb_to_mlp,
                       supp_dim=4).eval()
    adj, ops, mask, devices = nb201_batch(7, seed=5)
    supp = torch.randn(7, 4)
    together = model(adj, ops, mask, devices, supp)
    alone = torch.cat([
        model(adj[i:i + 1], ops[i:i + 1], mask[i:i + 1], devices[i:i + 1], supp[i:i + 1])
        for i in range(7)
    ])
    torch.testing.assert_close(alone, together, rtol=1e-5, atol=1e-6)


def test_dense_graph_flow_aggregates_from_predecessors():
    torch.manual_seed(0)
    layer = DenseGraphFlow(5, 6, emb_dim=3)
    adj = torch.zeros(1, 3, 3)
    adj[0, 0, 1] = adj[0, 1, 2] = 1.0  # chain 0 -> 1 -> 2
    mask = torch.ones(1, 3, dtype=torch.bool)
    incoming = incoming_matrix(adj, mask)
    h, emb = torch.randn(1, 3, 5), torch.randn(1, 3, 3)
    support = h @ layer.weight
    agg = torch.stack((torch.zeros(6), support[0, 0], support[0, 1])).unsqueeze(0)
    expected = torch.sigmoid(layer.gate(emb)) * agg + support + layer.bias
    torch.testing.assert_close(layer(h, incoming, mask, emb), expected)


def _attention_inputs():
    torch.manual_seed(0)
    n = 5
    adj = torch.zeros(1, n, n)
    for i, j in [(0, 1), (0, 2), (1, 3), (2, 3)]:
        adj[0, i, j] = 1.0
    mask = torch.tensor([[True, True, True, True, False]])
    return adj, mask, torch.randn(1, n, 8), torch.randn(1, n, 4)


@pytest.mark.parametrize("self_loops", [True, False])
def test_attention_rows_without_neighbours_are_zero(self_loops):
    adj, mask, h, emb = _attention_inputs()
    layer = GatedGraphAttention(8, 6, emb_dim=4, self_loops=self_loops)
    h.requires_grad_(True)
    out = layer(h, incoming_matrix(adj, mask), mask, emb)
    assert torch.isfinite(out).all()
    empty = [4] if self_loops else [0, 4]  # the cut node; the input node without self loops
    assert torch.equal(out[0, empty], torch.zeros(len(empty), 6))
    assert out[0, 3].abs().sum() > 0
    out.sum().backward()
    assert torch.isfinite(h.grad).all()


@pytest.mark.parametrize("self_loops", [True, False])
def test_attention_is_restricted_to_neighbours(self_loops):
    adj, mask, h, emb = _attention_inputs()
    layer = GatedGraphAttention(8, 6, emb_dim=4, self_loops=self_loops)
    incoming = incoming_matrix(adj, mask)
    base = layer(h, incoming, mask, emb)
    # Node 1's neighbours: its predecessor 0 (and itself with self loops). Nodes 2, 3, 4 are not.
    for other in (2, 3, 4):
        changed = h.clone()
        changed[0, other] += 10 * torch.randn(8)
        torch.testing.assert_close(layer(changed, incoming, mask, emb)[0, 1], base[0, 1])
    changed = h.clone()
    changed[0, 0] += 10 * torch.randn(8)
    assert not torch.allclose(layer(changed, incoming, mask, emb)[0, 1], base[0, 1])


def test_ensemble_add_averages_the_two_layers():
    adj, mask, h, emb = _attention_inputs()
    layer = EnsembleGraphLayer(8, 6, emb_dim=4, fuse_method="add")
    incoming = incoming_matrix(adj, mask)
    expected = 0.5 * (layer.dense(h, incoming, mask, emb) + layer.attention(h, incoming, mask, emb))
    torch.testing.assert_close(layer(h, incoming, mask, emb), expected)


@pytest.mark.parametrize("hwemb_to_mlp", [False, True])
def test_gradient_reaches_used_hardware_row(hwemb_to_mlp):
    model = make_model(hwemb_to_mlp=hwemb_to_mlp)
    adj, ops, mask, _ = nb201_batch(4, seed=6)
    devices = torch.full((4,), 2, dtype=torch.long)
    model(adj, ops, mask, devices).sum().backward()
    grad = model.hw_embedding.weight.grad
    assert grad[2].abs().sum() > 0
    unused = [d for d in range(NUM_DEVICES) if d != 2]
    assert torch.equal(grad[unused], torch.zeros_like(grad[unused]))


def test_copy_hardware_embedding():
    model = make_model()
    before = model.hw_embedding.weight.detach().clone()
    model.copy_hardware_embedding(1, 4)
    weight = model.hw_embedding.weight
    assert torch.equal(weight[4], before[1])
    keep = [0, 1, 2, 3, 5]
    assert torch.equal(weight[keep], before[keep])
    assert weight.is_leaf and weight.grad_fn is None
    with pytest.raises(IndexError):
        model.copy_hardware_embedding(0, NUM_DEVICES)


def _conv3_count(ops, mask):
    return ((ops == NB_C3) & mask).sum(dim=1).float()


def test_training_reduces_loss():
    model = make_model()
    adj, ops, mask, devices = nb201_batch(32, seed=7)
    target = _conv3_count(ops, mask) / 6 + 0.1 * devices.float()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(adj, ops, mask, devices), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    # Better than predicting the mean: the model has picked up the per-graph signal.
    assert losses[-1] < 0.5 * target.var(unbiased=False).item()


def _one_step(seed):
    model = make_model(seed=seed, supp_dim=3)
    adj, ops, mask, devices = nb201_batch(8, seed=8)
    supp = torch.randn(8, 3, generator=torch.Generator().manual_seed(9))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    torch.manual_seed(seed + 100)  # dropout masks
    model(adj, ops, mask, devices, supp).sum().backward()
    opt.step()
    model.eval()
    return model(adj, ops, mask, devices, supp)


def test_same_seed_same_outputs():
    assert torch.equal(_one_step(0), _one_step(0))
    assert not torch.equal(_one_step(0), _one_step(1))


def test_default_parameter_count_nb201():
    model = NASFLATModel(num_ops=7, num_devices=40)
    assert sum(p.numel() for p in model.parameters()) == 386457


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    model = make_model(supp_dim=3).eval()
    batch = nb201_batch(6, seed=10)
    supp = torch.randn(6, 3)
    cpu = model(*batch, supp)
    gpu = model.cuda()(*(t.cuda() for t in batch), supp.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("gnn_type, fuse", GNN_CONFIGS)
@pytest.mark.parametrize("shared_states", [False, True])
def test_layer_at_one_node_matches_the_full_layer(gnn_type, fuse, shared_states):
    torch.manual_seed(0)
    layer = build_graph_layer(gnn_type, 10, 12, 6, fuse)
    adj, _, mask, _ = nb201_batch(16, seed=9)  # cut nodes included
    incoming = incoming_matrix(adj, mask)
    h = torch.randn(8, 10) if shared_states else torch.randn(16, 8, 10)
    emb = torch.randn(16, 8, 6)
    full = layer(h, incoming, mask, emb)
    for node in range(8):
        torch.testing.assert_close(layer.at_node(h, incoming, mask, emb, node), full[:, node:node + 1],
                                   rtol=1e-5, atol=1e-6)


def test_tabulated_embeddings_equal_their_dense_form():
    model = make_model(num_ops=FB_NUM_OPS)
    _, ops, _, devices = fbnet_batch(8, seed=4)
    emb = model.node_embeddings(ops, devices)
    assert isinstance(emb, TabulatedEmbedding)
    dense = emb.dense()
    expected = torch.cat((model.op_embedding(ops), model.hw_embedding(devices)[:, None].expand(-1, 24, -1)), -1)
    expected[:, 0] = model.input_emb
    expected[:, -1] = model.output_emb
    torch.testing.assert_close(dense, expected)
    gate = model.pass1[0].dense.gate
    torch.testing.assert_close(node_gate(gate, emb), torch.sigmoid(gate(dense)))
    summary = torch.randn(8, 128)
    concatenated = torch.cat((dense, summary[:, None].expand(-1, 24, -1)), -1)
    torch.testing.assert_close(model.updated_embeddings(emb, summary), model.update_mlp(concatenated),
                               rtol=1e-5, atol=1e-6)
