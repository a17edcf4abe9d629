"""Baselines behind --predictor: zero-shot references, MultiPredict and HELP on the real data."""
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from correlation_trainer.experiment import Experiment, ExperimentConfig
from correlation_trainer.task_data import closest_source
from correlation_trainer.main import build_parser, main, make_config
from correlation_trainer.predictors import list_predictors
from correlation_trainer.predictors.help import HelpPredictor, global_node_graph, scale_into_range
from correlation_trainer.task_data import TaskData
from nas_embedding_suite.tasks import TaskSuite

QUICK = ["--task_index", "9999", "--num_trials", "1", "--transfer_sample_sizes", "10", "--no_progress"]


class _NullBar:
    def update(self, *_):
        pass


@pytest.fixture(scope="module")
def quick_data(nb201):
    return TaskData.build(TaskSuite.load().resolve("nb201", "9999"), nb201)


def rows(folder, predictor, space="nb201"):
    return pd.read_csv(folder / predictor / f"{space}_samp_eff.csv")


def test_every_predictor_is_listed():
    assert {"nasflat", "help", "multipredict", "flops", "params", "closest_device"} <= set(list_predictors())


@pytest.mark.parametrize("predictor, values", [("flops", "flops"), ("params", "params")])
def test_static_references_rank_by_their_cost(quick_data, predictor, values):
    config = ExperimentConfig(predictor=predictor, transfer_sample_sizes=(10,), sampling_metric="random")
    experiment = Experiment(config, quick_data, show_progress=False)
    target = quick_data.target_devices[0]
    result = experiment.transfer([experiment.pretrain(0, 16, _NullBar())], 0, 16, target, 10, _NullBar())
    cost = getattr(quick_data.space, values)[result.eval_archs]
    assert np.array_equal(result.predicted, cost)
    assert result.spr == pytest.approx(spearmanr(cost, result.measured)[0])
    assert result.n_eval == len(quick_data.measured(target)) - 10


def test_closest_device_predicts_with_that_devices_latencies(quick_data):
    config = ExperimentConfig(predictor="closest_device", transfer_sample_sizes=(10,))
    experiment = Experiment(config, quick_data, show_progress=False)
    target = quick_data.target_devices[1]
    result = experiment.transfer([None], 0, 16, target, 10, _NullBar())
    source = closest_source(quick_data, target, result.transfer_archs)
    assert result.hw_source == quick_data.device_name(source)
    latency = quick_data.table.values[source, result.eval_archs]
    measured = ~np.isnan(latency)
    assert np.array_equal(result.predicted[measured], latency[measured])


def test_baselines_write_the_nasflat_columns(tmp_path):
    assert main(QUICK + ["--epochs", "2", "--transfer_epochs", "2", "--out_dir", str(tmp_path)]) == 0
    assert main(QUICK + ["--predictor", "flops", "--out_dir", str(tmp_path)]) == 0
    nasflat, flops = rows(tmp_path, "nasflat"), rows(tmp_path, "flops")
    assert list(nasflat.columns) == list(flops.columns)
    assert (flops["predictor"] == "flops").all() and (nasflat["predictor"] == "nasflat").all()


def test_multipredict_learns_and_is_deterministic(tmp_path):
    args = QUICK + ["--predictor", "multipredict", "--sample_sizes", "128", "--epochs", "40",
                    "--transfer_epochs", "10"]
    assert main(args + ["--out_dir", str(tmp_path / "a")]) == 0
    assert main(args + ["--out_dir", str(tmp_path / "b")]) == 0
    first, second = rows(tmp_path / "a", "multipredict"), rows(tmp_path / "b", "multipredict")
    pd.testing.assert_frame_equal(first, second)
    untrained = ["--sample_sizes", "0", "--transfer_epochs", "0"]
    assert main(QUICK + ["--predictor", "multipredict", "--out_dir", str(tmp_path / "c")] + untrained) == 0
    before = rows(tmp_path / "c", "multipredict")
    assert (first["spr"] > 0.8).all(), first[["target_device", "spr"]]
    assert first["spr"].mean() > before["spr"].mean() + 0.2, (first["spr"].tolist(), before["spr"].tolist())
    assert '"encoding": "pf"' in first["predictor_settings"].iloc[0]


def test_help_scaling_and_inner_steps(quick_data):
    values = np.array([2.0, 4.0, 3.0, np.nan])
    assert np.allclose(scale_into_range(values, values[:3]), [0.05, 0.95, 0.5, np.nan], equal_nan=True)
    predictor = HelpPredictor(ExperimentConfig(predictor="help"), quick_data, torch.device("cpu"))
    assert len(predictor.known_archs()) == 10
    torch.manual_seed(0)
    learner = predictor.build_learner()
    archs = np.arange(10)
    inputs, hw = predictor._take(archs), predictor.hw[quick_data.target_devices[0]]
    y = torch.linspace(0.05, 0.95, 10)
    modulation, kl = learner.modulator(hw, torch.Generator().manual_seed(0))
    assert kl.item() >= 0
    before = torch.nn.functional.mse_loss(learner.regressor(inputs, hw, modulation), y)
    params = learner.adapted(inputs, hw, y, modulation, second_order=True)
    after = torch.nn.functional.mse_loss(
        torch.func.functional_call(learner.regressor, params, (inputs, hw, modulation)), y)
    assert after.item() < before.item()
    after.backward()  # second order: the step sizes get a gradient through the inner steps
    assert all(p.grad is not None for p in learner.step_sizes.values())


def test_help_global_node_graph(nb201):
    """HELP's NB201 input: self loops, predecessors, and a global node that sums every valid node."""
    graphs = nb201.graphs  # "cut" mode: some cells have masked nodes
    adjacency = torch.as_tensor(graphs.adjacency[:50], dtype=torch.float32)
    op_ids = torch.as_tensor(graphs.op_ids[:50])
    mask = torch.as_tensor(graphs.node_mask[:50], dtype=torch.float32)
    assert (mask == 0).any()
    graph = global_node_graph(adjacency, op_ids, mask, len(nb201.node_op_names))
    incoming, onehot = graph["incoming"], graph["onehot"]
    nodes = op_ids.shape[1]
    assert incoming.shape == (50, nodes + 1, nodes + 1)
    assert torch.equal(incoming[:, -1, :nodes], mask) and (incoming[:, -1, -1] == 1).all()
    assert (incoming[:, :nodes, -1] == 0).all()  # the global node feeds no cell node
    valid = mask.unsqueeze(1) * mask.unsqueeze(2)
    cell = incoming[:, :nodes, :nodes]
    assert torch.equal(torch.diagonal(cell, dim1=1, dim2=2), mask)
    assert torch.equal(cell - torch.diag_embed(mask), adjacency.transpose(1, 2) * valid)
    assert torch.equal(onehot[:, -1, -1], torch.ones(50)) and (onehot[:, :nodes, -1] == 0).all()
    assert torch.equal(onehot[:, :nodes, :-1].sum(-1), mask)


def test_help_learns_excludes_its_references_and_is_deterministic(tmp_path, nb201):
    args = QUICK + ["--predictor", "help", "--sample_sizes", "200"]
    assert main(args + ["--meta_episodes", "100", "--out_dir", str(tmp_path / "a")]) == 0
    assert main(args + ["--meta_episodes", "100", "--out_dir", str(tmp_path / "b")]) == 0
    first, second = rows(tmp_path / "a", "help"), rows(tmp_path / "b", "help")
    pd.testing.assert_frame_equal(first, second)
    # other k values take the stored meta-training: one stored entry, the k = 10 numbers unchanged
    assert main(args + ["--meta_episodes", "100", "--out_dir", str(tmp_path / "b"), "--name_desc", "more_k",
                        "--transfer_sample_sizes", "5", "10"]) == 0
    assert len(list((tmp_path / "b" / "pretrained").glob("*.pt"))) == 1
    again = rows(tmp_path / "b", "more_k")
    spr = lambda frame: frame[frame["k"] == 10].set_index("target_device")["spr"].sort_index()  # noqa: E731
    pd.testing.assert_series_equal(spr(again), spr(second))
    assert main(args + ["--meta_episodes", "0", "--out_dir", str(tmp_path / "c")]) == 0
    untrained = rows(tmp_path / "c", "help")
    assert first["spr"].mean() > untrained["spr"].mean() + 0.1, (first["spr"].tolist(), untrained["spr"].tolist())
    assert '"reference_archs": 10' in first["predictor_settings"].iloc[0]
    assert '"meta_lr": 0.0001' in first["predictor_settings"].iloc[0]
    # the 10 reference archs are measured on the target, so they are not evaluated either
    units = list((tmp_path / "a" / "help" / "units").glob("help_*.npz"))
    with np.load(units[0]) as stored:
        evaluated = stored["0/eval_archs"]
        assert not np.isin(nb201.help_reference_archs, evaluated).any()
        assert not np.isin(stored["0/transfer_archs"], evaluated).any()


def test_help_on_fbnet_uses_its_mlp_encoder_and_own_meta_lr(tmp_path):
    args = QUICK + ["--predictor", "help", "--space", "fbnet", "--sample_sizes", "200"]
    assert main(args + ["--meta_episodes", "300", "--out_dir", str(tmp_path / "a")]) == 0
    assert main(args + ["--meta_episodes", "0", "--out_dir", str(tmp_path / "b")]) == 0
    trained, untrained = rows(tmp_path / "a", "help", "fbnet"), rows(tmp_path / "b", "help", "fbnet")
    settings = trained["predictor_settings"].iloc[0]
    assert '"encoder": "mlp"' in settings and '"meta_lr": 0.0001' in settings
    assert trained["spr"].notna().all()
    assert trained["spr"].mean() > untrained["spr"].mean() + 0.1, (trained["spr"].tolist(), untrained["spr"].tolist())


def test_predictor_defaults_and_errors(tmp_path, capsys):
    parser = build_parser()
    help_config = make_config(parser.parse_args(["--predictor", "help"]), "nb201", 0)
    assert help_config.sample_sizes == (900,) and help_config.meta_episodes == 2000
    fbnet = make_config(parser.parse_args(["--predictor", "multipredict", "--space", "fbnet"]), "fbnet", 0)
    assert fbnet.sample_sizes == (4000,)
    assert make_config(parser.parse_args([]), "nb201", 0).sample_sizes == (16,)
    status = main(QUICK + ["--predictor", "help", "--meta_episodes", "-1", "--out_dir", str(tmp_path)])
    assert status == 2 and "--meta_episodes must be at least 0" in capsys.readouterr().err
    device_file = tmp_path / "mine.csv"
    device_file.write_text("arch,latency_ms\n")
    status = main(["--predictor", "flops", "--target_device_file", str(device_file), "--no_progress",
                   "--out_dir", str(tmp_path)])
    assert status == 2 and "works with --predictor nasflat, roofline, roofline_prior" in capsys.readouterr().err


def test_baselines_draw_the_samples_of_nasflats_default_run(quick_data):
    target = quick_data.target_devices[0]
    own = ExperimentConfig(predictor="closest_device", transfer_sample_sizes=(10,))
    like = ExperimentConfig(predictor="closest_device", transfer_sample_sizes=(10,), sample_seed_size=16)
    drawn = []
    for config, source_size in ((own, 16), (like, 900), (own, 900)):
        experiment = Experiment(config, quick_data, show_progress=False)
        drawn.append(experiment.transfer([None], 0, source_size, target, 10, _NullBar()).transfer_archs)
    assert np.array_equal(drawn[0], drawn[1]) and not np.array_equal(drawn[0], drawn[2])
    assert make_config(build_parser().parse_args(["--predictor", "help"]), "nb201", 0).sample_seed_size == 16


def test_comparison_names_helps_extra_budget():
    from jobs.comparison import _labelled

    assert _labelled("help", '{"reference_archs": 10, "support": 10}') == "help (k + 10 measured)"
    assert _labelled("multipredict", '{"lr": 0.0004}') == "multipredict"
    assert _labelled("nasflat", None) == "nasflat"
