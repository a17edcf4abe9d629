"""Zero-cost proxies, arch2vec, CATE, the encoding samplers and the encoding report."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from nas_embedding_suite.samplers import SamplingContext, build_sampler, list_sampling_methods
from nas_embedding_suite.arch2vec import Arch2VecSettings, arch2vec_vectors, train_arch2vec
from nas_embedding_suite.cate import CateSettings, cate_vectors, similar_partners, train_cate
from nas_embedding_suite.encoding_probe import ridge_probe
from nas_embedding_suite.encodings import load_encoding, read_upstream
from nas_embedding_suite.errors import DataError, NasflatError
from nas_embedding_suite.latency_table import load_latency_table
from nas_embedding_suite.spaces.nb201.proxies import naslib_agreement, nb201_raw_zcp, representative_cells
from nas_embedding_suite.zero_cost_proxies import (
    ZCP_NAMES, ProxyBatch, _gradient_scores, _synflow, compute_proxies, naswot_score,
)


# ---------------------------------------------------------------- proxies on tiny networks

def _linear_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3, 2, bias=False), nn.Linear(2, 1, bias=False))


def test_synflow_of_a_two_layer_linear_net_is_twice_its_path_sum():
    net = _linear_net()
    w1, w2 = (m.weight.detach().abs().clone() for m in (net[1], net[2]))
    paths = (w2.double() @ w1.double() @ torch.ones(3, dtype=torch.float64)).item()  # R = 1^T |W2| |W1| 1 for an all-ones input
    # each layer's |W * dR/dW| sums to R, so two layers give 2R
    assert _synflow(net, resolution=1) == pytest.approx(2 * paths, rel=1e-9)


def test_naswot_kernel_of_a_known_activation_pattern():
    codes = [torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])]
    # K = [[2,1,1],[1,2,0],[1,0,2]] counts agreeing units; det K = 4
    assert naswot_score(codes) == pytest.approx(math.log(4.0))


def test_nwot_hooks_read_relu_inputs():
    net = nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Linear(2, 2))
    images = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]]).reshape(3, 2, 1, 1)
    batch = ProxyBatch(images, torch.tensor([0, 1, 0]), torch.zeros_like(images))
    assert _gradient_scores(net, batch)["nwot"] == pytest.approx(math.log(4.0))


def test_params_l2_norm_and_grasp_against_direct_computation():
    net = _linear_net(1)
    images = torch.randn(4, 3, 1, 1, generator=torch.Generator().manual_seed(0))
    batch = ProxyBatch(images, torch.tensor([0, 0, 0, 0]), torch.randn(4, 3, 1, 1))
    w1, w2 = net[1].weight.detach().clone(), net[2].weight.detach().clone()

    def loss_of(flat):
        a, b = flat[:6].reshape(2, 3), flat[6:].reshape(1, 2)
        out = images.flatten(1) @ a.t() @ b.t()
        return nn.functional.cross_entropy(out, batch.labels)

    theta = torch.cat([w1.flatten(), w2.flatten()])
    grad = torch.autograd.functional.jacobian(loss_of, theta)
    hessian = torch.autograd.functional.hessian(loss_of, theta)
    scores = compute_proxies(net, batch, pooling=net[0], flops=7.0)
    assert scores["params"] == pytest.approx(8 / 1e6)
    assert scores["flops"] == 7.0
    assert scores["l2_norm"] == pytest.approx((w1.norm() + w2.norm()).item(), rel=1e-6)
    assert scores["grasp"] == pytest.approx(-(theta * (hessian @ grad)).sum().item(), rel=1e-4, abs=1e-9)
    assert scores["plain"] == pytest.approx((grad * theta).sum().item(), rel=1e-5, abs=1e-9)
    assert scores["snip"] == pytest.approx((grad * theta).abs().sum().item(), rel=1e-5)


# ---------------------------------------------------------------- NB201 proxy table

def test_representatives_merge_cells_that_compute_the_same_function(nb201):
    live = nb201.graphs.node_mask[:, 1:-1]
    reps = representative_cells(nb201.op_matrix, live)
    conv, skip, none = 3, 1, 0
    dead_end = nb201.index_of_ops([conv, conv, none, skip, none, none])  # node 1 and 2 lead nowhere
    plain = nb201.index_of_ops([none, none, none, skip, none, none])
    left = nb201.index_of_ops([conv, skip, none, none, skip, conv])
    right = nb201.index_of_ops([skip, conv, none, none, conv, skip])  # middle nodes swapped
    assert (reps[dead_end] == reps[plain]).all()
    assert (reps[left] == reps[right]).all()
    assert not (reps[left] == reps[plain]).all()
    assert len(np.unique(reps, axis=0)) < nb201.num_archs


def test_nb201_proxies_are_computed_resumed_and_shared(nb201, tmp_path):
    first = nb201_raw_zcp(nb201, progress=False, cache_dir=tmp_path, limit=3)
    partial = list(tmp_path.glob("nb201-zcp-partial-*.npz"))
    assert len(partial) == 1  # the work so far is on disk
    again = nb201_raw_zcp(nb201, progress=False, cache_dir=tmp_path, limit=4)
    done = np.isfinite(first[:, ZCP_NAMES.index("grad_norm")])
    assert done.any() and not np.isnan(again[done]).any()
    np.testing.assert_array_equal(first[done], again[done])  # resumed, not recomputed differently
    assert np.isfinite(again[:, ZCP_NAMES.index("grad_norm")]).sum() > done.sum()
    # params and flops are every cell's own, straight from the space
    np.testing.assert_allclose(again[:, ZCP_NAMES.index("params")], nb201.params)
    with pytest.raises(NasflatError, match="encode --space nb201 --kind zcp"):
        nb201_raw_zcp(nb201, progress=False, cache_dir=tmp_path, build_missing=False)


def test_parallel_workers_give_the_same_proxies(nb201, tmp_path):
    alone = nb201_raw_zcp(nb201, progress=False, cache_dir=tmp_path / "one", limit=4)
    shared = nb201_raw_zcp(nb201, progress=False, cache_dir=tmp_path / "two", limit=4, workers=2)
    np.testing.assert_array_equal(alone, shared)


def test_params_and_flops_agree_with_naslib(nb201):
    raw = np.full((nb201.num_archs, len(ZCP_NAMES)), np.nan)
    raw[:, ZCP_NAMES.index("params")] = nb201.params
    raw[:, ZCP_NAMES.index("flops")] = nb201.flops
    agreement = naslib_agreement(nb201, raw)
    assert set(agreement) == {"params", "flops"}
    assert agreement["params"] > 0.99 and agreement["flops"] > 0.99


# ---------------------------------------------------------------- learned encoders

SMALL_A2V = Arch2VecSettings(hidden_dim=32, layers=2, epochs=10, batch_size=64, lr=3e-3)
SMALL_CATE = CateSettings(layers=1, epochs=4, batch_size=64)


@pytest.fixture(scope="module")
def nb201_subset(nb201):
    rows = np.random.default_rng(0).choice(nb201.num_archs, 600, replace=False)
    return nb201.graphs.take(rows), rows


def test_arch2vec_learns_and_is_deterministic(nb201, nb201_subset):
    graphs, _ = nb201_subset
    num_ops = len(nb201.node_op_names)
    model, history = train_arch2vec(graphs, num_ops, SMALL_A2V, progress=False)
    assert history[-1] < 0.8 * history[0]
    again, _ = train_arch2vec(graphs, num_ops, SMALL_A2V, progress=False)
    vectors = arch2vec_vectors(model, graphs, num_ops)
    assert vectors.shape == (600, 32)
    np.testing.assert_array_equal(vectors, arch2vec_vectors(again, graphs, num_ops))


def test_cate_learns_and_is_deterministic(nb201, nb201_subset):
    graphs, rows = nb201_subset
    num_ops = len(nb201.node_op_names)
    model, history = train_cate(graphs, num_ops, nb201.flops[rows], SMALL_CATE, progress=False)
    assert history[-1] < 0.9 * history[0]
    again, _ = train_cate(graphs, num_ops, nb201.flops[rows], SMALL_CATE, progress=False)
    vectors = cate_vectors(model, graphs)
    assert vectors.shape == (600, 32)
    np.testing.assert_array_equal(vectors, cate_vectors(again, graphs))


def test_cate_partners_are_computationally_close():
    flops = np.random.default_rng(1).random(1000)
    partners = similar_partners(flops, window=5, rng=np.random.default_rng(0))
    rank = np.argsort(np.argsort(flops))
    assert (partners != np.arange(1000)).all()
    assert np.abs(rank[partners] - rank).max() <= 5


def test_encoding_samplers_return_k_distinct_archs(nb201, nb201_subset):
    graphs, rows = nb201_subset
    model, _ = train_arch2vec(graphs, len(nb201.node_op_names), SMALL_A2V, progress=False)
    vectors = np.zeros((nb201.num_archs, 32), dtype=np.float32)
    vectors[rows] = arch2vec_vectors(model, graphs, len(nb201.node_op_names))
    context = SamplingContext(nb201, encoding_cache={"arch2vec": vectors})
    for method in list_sampling_methods():
        picked = build_sampler("arch2vec", method)(rows, 20, np.random.default_rng(0), context)
        assert len(set(picked.tolist())) == 20 and set(picked.tolist()) <= set(rows.tolist())


def test_probe_tells_signal_from_noise(nb201):
    table = load_latency_table(nb201, ["titan_rtx_1"])
    latency = table.latencies("titan_rtx_1")
    one_hot = np.eye(5)[nb201.op_matrix].reshape(nb201.num_archs, -1)
    noise = np.random.default_rng(0).normal(size=(nb201.num_archs, 30))
    assert ridge_probe(one_hot, latency) > 0.8
    assert abs(ridge_probe(noise, latency)) < 0.1


def test_upstream_files_are_read_safely(tmp_path):
    good = tmp_path / "cate_nb201.pt"
    torch.save({"embeddings": torch.arange(12.0).reshape(4, 3)}, good)
    np.testing.assert_array_equal(read_upstream(good, "cate", 4)[1], [3.0, 4.0, 5.0])
    a2v = tmp_path / "a2v.pt"
    torch.save({i: {"feature": torch.full((32,), float(i))} for i in range(3)}, a2v)
    assert read_upstream(a2v, "arch2vec", 3).shape == (3, 32)
    with pytest.raises(DataError, match="upstream arch2vec file"):
        read_upstream(a2v, "arch2vec", 5)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="bad.pt"):
        read_upstream(bad, "cate", 4)


def test_missing_encodings_say_how_to_build_them(nb201, tmp_path, monkeypatch):
    monkeypatch.setenv("NASFLAT_CACHE_DIR", str(tmp_path))
    with pytest.raises(NasflatError, match="encode --space nb201 --kind arch2vec"):
        load_encoding("arch2vec", nb201, build=False)
    with pytest.raises(NasflatError, match="encode --space nb201 --kind zcp"):
        load_encoding("zcp", nb201)


def test_main_runs_with_a_user_supplied_cate_file(nb201, data_dir, tmp_path, monkeypatch):
    """An upstream-format CATE file in <data dir>/encodings/ feeds both the model and the sampler."""
    import pandas as pd

    from correlation_trainer.main import main

    monkeypatch.setenv("NASFLAT_CACHE_DIR", str(tmp_path / "cache"))
    linked = tmp_path / "data"
    linked.mkdir()
    for entry in data_dir.root.iterdir():
        (linked / entry.name).symlink_to(entry.resolve())
    model, _ = train_cate(nb201.graphs, len(nb201.node_op_names), nb201.flops,
                          CateSettings(layers=1, epochs=1, batch_size=512), progress=False)
    (linked / "encodings").mkdir()
    torch.save({"embeddings": torch.from_numpy(cate_vectors(model, nb201.graphs))},
               linked / "encodings" / "cate_nb201.pt")
    args = ["--task_index", "9999", "--sample_sizes", "16", "--epochs", "3", "--transfer_epochs", "3",
            "--num_trials", "1", "--transfer_sample_sizes", "10", "--representation", "adj_gin_cate",
            "--sampling_metric", "cate", "--no_progress", "--data_dir", str(linked), "--out_dir", str(tmp_path / "out")]
    assert main(args) == 0
    rows = pd.read_csv(tmp_path / "out" / "nasflat" / "nb201_samp_eff.csv")
    assert (rows["representation"] == "adj_gin_cate").all() and (rows["sampling_metric"] == "cate").all()
    assert rows["spr"].notna().all()


def test_encode_and_report_commands(capsys, tmp_path, monkeypatch):
    from nas_embedding_suite.cli import main as cli

    monkeypatch.setenv("NASFLAT_CACHE_DIR", str(tmp_path))
    assert cli(["encode", "--space", "fbnet", "--kind", "zcp", "--no-progress"]) == 0
    assert "fbnet zcp: 5000 x 13 ready" in capsys.readouterr().out
    assert cli(["encoding-report", "--space", "fbnet", "--kind", "zcp", "--no-progress"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("zcp"))
    assert min(float(v) for v in row.split()[2:]) > 0.5  # the proxies carry latency signal
    assert cli(["encoding-report", "--space", "nb201", "--kind", "arch2vec", "--no-build"]) == 2
    assert "encode --space nb201 --kind arch2vec" in capsys.readouterr().err
