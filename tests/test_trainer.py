"""NASFLAT training pipeline: loss, samplers, transfer, evaluation, end-to-end runs, CLI errors."""
import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from correlation_trainer.evaluation import HonestProtocol, PaperProtocol, rank_correlations
from correlation_trainer.experiment import Experiment, ExperimentConfig
from correlation_trainer.main import build_parser, main, make_config
from correlation_trainer.predictors import Adaptation
from correlation_trainer.pretrained_store import PretrainedStore, pretraining_settings
from correlation_trainer.ranking_loss import pairwise_hinge_loss
from nas_embedding_suite.samplers import SamplingContext, build_sampler, list_sampling_methods
from correlation_trainer.task_data import TaskData, closest_source, minmax_per_device
from nas_embedding_suite.errors import NasflatError
from nas_embedding_suite.tasks import Task, TaskSuite

QUICK = ["--task_index", "9999", "--epochs", "15", "--transfer_epochs", "15", "--num_trials", "2",
         "--transfer_sample_sizes", "10", "--no_progress"]


def brute_force_hinge(scores, targets, pairs, margin=0.1):
    terms = [max(0.0, margin - np.sign(targets[i] - targets[j]) * (scores[i] - scores[j]))
             for i, j in pairs if targets[i] != targets[j]]
    return float(np.mean(terms)) if terms else 0.0


def test_hinge_loss_all_pairs_matches_brute_force():
    rng = np.random.default_rng(0)
    for n in (2, 5, 9):
        scores, targets = rng.normal(size=n), rng.integers(0, 4, size=n).astype(float)
        loss = pairwise_hinge_loss(torch.tensor(scores), torch.tensor(targets))
        expected = brute_force_hinge(scores, targets, itertools.combinations(range(n), 2))
        assert loss.item() == pytest.approx(expected, abs=1e-12)


def test_hinge_loss_sampled_pairs_match_brute_force():
    rng = np.random.default_rng(1)
    n = 64
    scores, targets = rng.normal(size=n), rng.normal(size=n)
    generator = torch.Generator().manual_seed(3)
    loss = pairwise_hinge_loss(torch.tensor(scores), torch.tensor(targets), generator=generator)
    replay = torch.Generator().manual_seed(3)
    first = torch.randint(n, (4 * n,), generator=replay).numpy()
    second = torch.randint(n, (4 * n,), generator=replay).numpy()
    assert loss.item() == pytest.approx(brute_force_hinge(scores, targets, zip(first, second)), abs=1e-12)


def test_hinge_loss_without_distinct_targets_is_zero_with_gradient():
    scores = torch.randn(4, requires_grad=True)
    loss = pairwise_hinge_loss(scores, torch.ones(4))
    loss.backward()
    assert loss.item() == 0.0 and scores.grad is not None


@pytest.fixture(scope="module")
def nd_data(nb201):
    return TaskData.build(TaskSuite.load().by_label("ND"), nb201)


def test_minmax_targets_ignore_nan():
    values = np.array([[1.0, np.nan, 3.0, 2.0]])
    assert np.allclose(minmax_per_device(values), [[0.0, np.nan, 1.0, 0.5]], equal_nan=True)


@pytest.mark.parametrize("metric", ["random", "params", "flops", "latency", "accuracy", "pf"])
def test_samplers_return_distinct_valid_indices(nb201, nb201_table, metric):
    latency = nb201_table.latencies("embedded_tpu_edge_tpu_int8")
    pool = np.flatnonzero(~np.isnan(latency))
    context = SamplingContext(nb201, target_latency=latency)
    methods = list_sampling_methods() if metric == "pf" else ["kmeancosine"]
    for method in methods:
        for k in (1, 5, 20):
            chosen = build_sampler(metric, method)(pool, k, np.random.default_rng(k), context)
            assert len(chosen) == k and len(set(chosen.tolist())) == k
            assert np.isin(chosen, pool).all()


@pytest.mark.parametrize("metric", ["params", "flops", "latency"])
def test_bucket_samplers_pick_one_per_bucket(nb201, nb201_table, metric):
    latency = nb201_table.latencies("pixel3")
    values = {"params": nb201.params, "flops": nb201.flops, "latency": latency}[metric]
    pool = np.arange(0, 15625, 3)
    k = 10
    chosen = build_sampler(metric)(pool, k, np.random.default_rng(0), SamplingContext(nb201, latency))
    buckets = np.array_split(pool[np.argsort(values[pool], kind="stable")], k)
    for pick, bucket in zip(chosen, buckets):
        assert pick in bucket


def test_vector_samplers_on_fbnet_zcp(fbnet):
    context = SamplingContext(fbnet)
    pool = np.arange(5000)
    for method in list_sampling_methods():
        chosen = build_sampler("zcp", method)(pool, 20, np.random.default_rng(0), context)
        assert len(set(chosen.tolist())) == 20
    greedy = build_sampler("zcp", "cosine_greedy")(pool, 20, np.random.default_rng(0), context)
    spread = build_sampler("random")(pool, 20, np.random.default_rng(0), context)
    vectors = context.vectors("zcp")

    def mean_similarity(idx):
        unit = vectors[idx] / np.linalg.norm(vectors[idx], axis=1, keepdims=True)
        return (unit @ unit.T)[np.triu_indices(len(idx), 1)].mean()

    assert mean_similarity(greedy) < mean_similarity(spread)  # greedy picks dissimilar archs


def test_kmeans_random_picks_one_member_per_cluster_away_from_the_centre(fbnet):
    from nas_embedding_suite.samplers import _kmeans

    context = SamplingContext(fbnet)
    vectors = context.vectors("zcp")
    pool = np.arange(5000)
    k = 10
    random_member = build_sampler("zcp", "kmeans_random")(pool, k, np.random.default_rng(3), context)
    centre_member = build_sampler("zcp", "kmeans")(pool, k, np.random.default_rng(3), context)
    # the same seed gives the same clustering, which both pickers start from
    centroids, labels = _kmeans(vectors[pool].astype(np.float64), k, np.random.default_rng(3))
    position = {arch: i for i, arch in enumerate(pool)}
    picked_clusters = [labels[position[a]] for a in random_member]
    assert sorted(picked_clusters) == list(range(k))

    def distance_to_centre(picks):
        return np.mean([np.linalg.norm(vectors[a] - centroids[labels[position[a]]]) for a in picks])

    assert distance_to_centre(random_member) > 2 * distance_to_centre(centre_member)

    def draw(method):
        return build_sampler("zcp", method)(pool, 20, np.random.default_rng(3), context)

    assert np.array_equal(draw("kmeancosine_random"), draw("kmeancosine_random"))  # seeded
    assert not np.array_equal(draw("kmeancosine_random"), draw("kmeancosine"))


def test_sampler_errors(nb201):
    with pytest.raises(NasflatError, match="unknown sampling metric"):
        build_sampler("nope")
    with pytest.raises(NasflatError, match="cannot choose 30"):
        build_sampler("random")(np.arange(10), 30, np.random.default_rng(0), SamplingContext(nb201))
    with pytest.raises(NasflatError, match="unknown sampling method"):
        build_sampler("cate", "nope")


def test_closest_source_is_the_most_correlated(nb201):
    task = Task("T", "nb201", 0, ("fpga", "titan_rtx_1", "pixel2"), ("titan_rtx_32",))
    data = TaskData.build(task, nb201)
    archs = np.random.default_rng(0).choice(15625, 20, replace=False)
    assert data.device_name(closest_source(data, 3, archs)) == "titan_rtx_1"
    # and it follows the samples: a target identical to pixel2's ranking picks pixel2
    data.targets[3] = data.targets[2]
    assert data.device_name(closest_source(data, 3, archs)) == "pixel2"


def test_transfer_copies_embedding_and_excludes_samples(nd_data):
    config = ExperimentConfig(epochs=2, transfer_epochs=0, transfer_sample_sizes=(7,))
    experiment = Experiment(config, nd_data, show_progress=False)
    pretrained = experiment.pretrain(0, 16, _NullBar())
    target = nd_data.target_devices[-1]  # eyeriss
    result = experiment.transfer([pretrained], 0, 16, target, 7, _NullBar())
    assert not np.isin(result.eval_archs, result.transfer_archs).any()
    assert result.n_eval == len(nd_data.measured(target)) - 7
    assert result.hw_source in nd_data.task.train
    assert np.array_equal(result.measured, nd_data.table.values[target, result.eval_archs])


def test_rank_correlations_score_rankless_predictions_zero():
    measured = np.array([1.0, 2.0, 3.0, 4.0])
    assert rank_correlations(np.array([4.0, 3.0, 2.0, 1.0]), measured) == {"spr": -1.0, "kdt": -1.0}
    for rankless in ([2.0, 2.0, 2.0, 2.0], [1.0, np.nan, 3.0, 4.0], [1.0, 2.0, np.inf, 4.0]):
        assert rank_correlations(np.array(rankless), measured) == {"spr": 0.0, "kdt": 0.0}


def test_protocols_choose_the_right_archs():
    measured = np.arange(1000)
    transfer = np.array([3, 500, 999])
    honest = HonestProtocol.eval_archs(measured, transfer)
    assert len(honest) == 997 and not np.isin(transfer, honest).any()
    paper = PaperProtocol.eval_archs(measured, transfer)
    assert np.array_equal(paper, np.arange(128)) and 3 in paper


class _NullBar:
    def update(self, *_):
        pass


def read_rows(folder):
    return pd.read_csv(folder / "nasflat" / "nb201_samp_eff.csv")


def test_end_to_end_learns_and_is_bit_identical(tmp_path, capsys):
    assert main(QUICK + ["--out_dir", str(tmp_path / "a")]) == 0
    assert main(QUICK + ["--out_dir", str(tmp_path / "b")]) == 0
    first, second = read_rows(tmp_path / "a"), read_rows(tmp_path / "b")
    pd.testing.assert_frame_equal(first, second)
    assert (first["spr"] > 0.5).all(), first[["target_device", "spr"]]
    for column in ("gnn_type", "transfer_lr", "sampling_metric", "seed", "representation", "spr_std", "kdt"):
        assert column in first.columns
    aggregate = pd.read_csv(tmp_path / "a" / "nasflat" / "aggr_nb201_samp_eff.csv")
    assert len(aggregate) == 1 and aggregate["spr"].iloc[0] == pytest.approx(first["spr"].mean())
    units = sorted((tmp_path / "a" / "nasflat" / "units").glob("*.npz"))
    assert len(units) == 2
    with np.load(units[0]) as stored:
        assert "0/predicted" in stored.files and "config" in stored.files
    out = capsys.readouterr().out
    assert "MEAN" in out and "titan_rtx_256" in out


def test_rerun_reuses_finished_units(tmp_path, capsys):
    args = QUICK + ["--out_dir", str(tmp_path), "--num_trials", "1"]
    assert main(args) == 0
    unit = next((tmp_path / "nasflat" / "units").glob("*.npz"))
    stamp = unit.stat().st_mtime_ns
    before = read_rows(tmp_path)
    assert main(args) == 0
    assert unit.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(before, read_rows(tmp_path))
    # a different setting is a different unit
    assert main(args + ["--transfer_lr", "0.002"]) == 0
    assert len(list((tmp_path / "nasflat" / "units").glob("*.npz"))) == 2


def test_pretraining_is_stored_and_reused_with_the_same_numbers(tmp_path, capsys):
    store = tmp_path / "store"
    base = QUICK + ["--num_trials", "1"]

    def run(name, *extra, pretrained=str(store)):
        assert main(base + ["--out_dir", str(tmp_path / name), "--pretrained_dir", pretrained, *extra]) == 0
        rows = read_rows(tmp_path / name)
        return rows.set_index(["target_device", "k"])["spr"]

    first = run("a", "--transfer_sample_sizes", "5", "10")
    stored = sorted(store.glob("*.pt"))
    assert len(stored) == 1 and len(list(store.glob("*.json"))) == 1
    stamp = stored[0].stat().st_mtime_ns
    # other k and another fine-tuning lr pretrain alike: the stored weights are used, not rewritten
    reused = run("b", "--transfer_sample_sizes", "10")
    assert sorted(store.glob("*.pt")) == stored and stored[0].stat().st_mtime_ns == stamp
    computed = run("c", "--transfer_sample_sizes", "10", pretrained="none")
    pd.testing.assert_series_equal(reused, computed)
    pd.testing.assert_series_equal(reused, first.xs(10, level="k", drop_level=False))
    run("d", "--transfer_lr", "0.002")
    assert len(list(store.glob("*.pt"))) == 1
    # a pretraining setting makes a new entry
    run("e", "--epochs", "3")
    assert len(list(store.glob("*.pt"))) == 2
    stored[0].write_bytes(b"not a torch file")
    status = main(base + ["--out_dir", str(tmp_path / "f"), "--pretrained_dir", str(store)])
    err = capsys.readouterr().err
    assert status == 2 and stored[0].name in err


def test_ensemble_averages_standardised_member_scores():
    first = Adaptation([np.array([1.0, 2.0, 3.0, 4.0])], "titan_rtx_1", None, np.array([2.5, 0.0]))
    # the same ranking on another scale standardises to the same scores
    second = Adaptation([np.array([12.0, 14.0, 16.0, 18.0])], "pixel2", None, np.array([15.0, 10.0]))
    same = Adaptation.average([first, second])
    z = (first.scores[0] - 2.5) / np.std(first.scores[0])
    np.testing.assert_allclose(same.scores[0], z)
    np.testing.assert_allclose(same.sample_scores, [0.0, -2.5 / np.std(first.scores[0])])
    assert same.hw_source == "titan_rtx_1" and same.model_state is None
    # members that disagree average out: reversed rankings cancel
    reversed_ = Adaptation([first.scores[0][::-1].copy()])
    np.testing.assert_allclose(Adaptation.average([first, reversed_]).scores[0], 0.0, atol=1e-12)


def test_ensemble_member_zero_is_the_single_model(tmp_path):
    store = tmp_path / "store"
    base = QUICK + ["--num_trials", "1", "--pretrained_dir", str(store)]

    def run(name, *extra):
        assert main(base + ["--out_dir", str(tmp_path / name), *extra]) == 0
        return read_rows(tmp_path / name)

    single = run("single")
    assert len(list(store.glob("*.pt"))) == 1
    pair = run("pair", "--ensemble_size", "2")
    # the single model's pretraining is member 0: one more pretraining is stored, not two
    assert len(list(store.glob("*.pt"))) == 2
    assert (pair["ensemble_size"] == 2).all() and (single["ensemble_size"] == 1).all()
    assert pair["run_key"].iloc[0] != single["run_key"].iloc[0]
    assert not np.allclose(pair["spr"], single["spr"])
    assert (pair["spr"] > 0.5).all()  # the averaged ranking still predicts latency
    # the same seed gives the same numbers, from the store or computed afresh
    pd.testing.assert_frame_equal(pair, run("again", "--ensemble_size", "2"))
    fresh = main(QUICK + ["--num_trials", "1", "--pretrained_dir", "none", "--ensemble_size", "2",
                          "--out_dir", str(tmp_path / "fresh")])
    assert fresh == 0
    np.testing.assert_array_equal(read_rows(tmp_path / "fresh")["spr"], pair["spr"])


def test_pretraining_key_follows_what_pretraining_reads(nb201):
    data = TaskData.build(TaskSuite.load().resolve("nb201", "9999"), nb201, "pf")
    config = ExperimentConfig(task_index=9999, representation="adj_gin_pf")
    key = lambda c, trial, d: PretrainedStore.key(pretraining_settings(c, trial, 16, d))  # noqa: E731
    base = key(config, 0, data)
    assert base == key(config, 0, data)
    assert base == key(replace(config, transfer_lr=1.0, transfer_sample_sizes=(7,), eval_protocol="paper"), 0, data)
    assert base != key(config, 1, data)
    # an ensemble's member 0 is the single model; the other members are pretrainings of their own
    ensemble = replace(config, ensemble_size=3)
    assert base == key(ensemble, 0, data)
    member = lambda m: PretrainedStore.key(pretraining_settings(ensemble, 0, 16, data, m))  # noqa: E731
    assert len({base, member(1), member(2)}) == 3
    assert base != key(replace(config, epochs=3), 0, data)
    assert base != key(config, 0, replace(data, supplementary=data.supplementary + 1))
    # the target sampler picks the source archs too unless --no-source_sampon
    assert base != key(replace(config, sampling_metric="random"), 0, data)
    unsampled = replace(config, source_sampon=False)
    assert key(unsampled, 0, data) == key(replace(unsampled, sampling_metric="random"), 0, data)


def test_no_pretraining_and_paper_protocol_run(tmp_path):
    args = ["--task_index", "9999", "--sample_sizes", "0", "--transfer_epochs", "5", "--num_trials", "1",
            "--transfer_sample_sizes", "5", "--eval_protocol", "paper", "--no_progress", "--out_dir", str(tmp_path)]
    assert main(args) == 0
    rows = read_rows(tmp_path)
    assert (rows["source_size"] == 0).all() and (rows["n_eval"] == 128).all()


def test_fbnet_quick_with_zcp(tmp_path):
    args = ["--space", "fbnet", "--task_index", "9999", "--sample_sizes", "32", "--epochs", "5",
            "--transfer_epochs", "5", "--num_trials", "1", "--transfer_sample_sizes", "10",
            "--representation", "adj_gin_zcp", "--sampling_metric", "zcp", "--no_progress",
            "--out_dir", str(tmp_path)]
    assert main(args) == 0
    rows = pd.read_csv(tmp_path / "nasflat" / "fbnet_samp_eff.csv")
    assert len(rows) == 2 and (rows["n_eval"] == 4990).all()


@pytest.mark.parametrize("argv, fragment", [
    (["--task_index", "7"], "unknown task index 7 for nb201"),
    (["--task_index", "FD"], "belongs to space fbnet"),
    (["--transfer_sample_sizes", "15624"], "need at least 15626"),
    (["--sample_sizes", "20000"], "exceeds the 15625"),
    (["--device", "cuda"], "no CUDA device"),
    (["--num_trials", "0"], "--num_trials must be at least 1"),
    (["--transfer_batch_size", "1"], "--transfer_batch_size must be 0 (all k) or at least 2"),
    (["--dropout", "1.5"], "--dropout must be in [0, 1)"),
    (["--supp_dropout", "1.0"], "--supp_dropout must be in [0, 1)"),
    (["--ensemble_size", "0"], "--ensemble_size must be at least 1"),
    (["--predictor", "flops", "--ensemble_size", "2"], "--ensemble_size needs a predictor that learns"),
])
def test_bad_input_gives_one_line(argv, fragment, tmp_path, capsys):
    base = ["--task_index", "9999", "--epochs", "1", "--transfer_epochs", "1", "--num_trials", "1",
            "--no_progress", "--out_dir", str(tmp_path)]
    if argv[0] == "--device" and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    status = main(base + argv)
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and fragment in err, err


def test_unwritable_out_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status = main(["--task_index", "9999", "--out_dir", str(blocker / "sub"), "--no_progress"])
    err = capsys.readouterr().err
    assert status == 2 and "cannot write results to" in err


def test_unknown_choice_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--sampling_method", "nope"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_results_keep_the_na_label(tmp_path):
    from correlation_trainer.results import merge_csv, read_results_csv

    path = tmp_path / "aggr.csv"
    merge_csv(pd.DataFrame({"run_key": ["a"], "task": ["NA"], "spr": [0.9]}), path)
    merge_csv(pd.DataFrame({"run_key": ["b"], "task": ["ND"], "spr": [0.8]}), path)
    assert read_results_csv(path)["task"].tolist() == ["NA", "ND"]


def test_per_space_defaults_and_explicit_flags():
    parser = build_parser()
    nb201 = make_config(parser.parse_args([]), "nb201", 0)
    assert (nb201.dropout, nb201.transfer_batch_size, nb201.sampling_metric) == (0.0, None, "flops")
    assert nb201.sample_sizes == (16,) and nb201.transfer_lr == 3e-3
    fbnet = make_config(parser.parse_args(["--space", "fbnet"]), "fbnet", 0)
    assert (fbnet.dropout, fbnet.transfer_batch_size, fbnet.sampling_metric) == (0.1, 16, "random")
    assert fbnet.sample_sizes == (800,) and fbnet.transfer_epochs == 30
    explicit = make_config(parser.parse_args(["--dropout", "0.2", "--transfer_batch_size", "8",
                                              "--sampling_metric", "params"]), "nb201", 0)
    assert (explicit.dropout, explicit.transfer_batch_size, explicit.sampling_metric) == (0.2, 8, "params")
    whole = make_config(parser.parse_args(["--space", "fbnet", "--transfer_batch_size", "0"]), "fbnet", 0)
    assert whole.transfer_batch_size is None  # 0 = all k samples in one batch


def test_supp_dropout_follows_dropout_unless_given(nb201):
    from correlation_trainer.predictors.nasflat import build_nasflat_model

    parser = build_parser()
    plain = make_config(parser.parse_args(["--representation", "adj_gin_a2vcatezcp",
                                           "--sampling_metric", "cate"]), "nb201", 0)
    assert plain.supp_dropout is None
    # the key this configuration had before --supp_dropout existed: earlier results are still found
    assert plain.run_key(5) == "47d1db80b081" and plain.unit_key(0, 16) == "31d2aea24575"
    tuned = make_config(parser.parse_args(["--representation", "adj_gin_a2vcatezcp",
                                           "--sampling_metric", "cate", "--supp_dropout", "0.3"]),
                        "nb201", 0)
    assert tuned.supp_dropout == 0.3 and tuned.run_key(5) != plain.run_key(5)
    data = TaskData.build(TaskSuite.load().resolve("nb201", "9999"), nb201, "pf")
    model = build_nasflat_model(tuned, data, len(data.task.devices))
    supp_rates = [m.p for m in model.supp_mlp if isinstance(m, torch.nn.Dropout)]
    head_rates = [m.p for m in model.head if isinstance(m, torch.nn.Dropout)]
    assert supp_rates == [0.3, 0.3] and head_rates == []  # the head keeps NB201's dropout 0
    # the everything-on setting of study all_on_head_dropout: each part gets its own rate
    both = make_config(parser.parse_args(["--representation", "adj_gin_a2vcatezcp", "--dropout", "0.05",
                                          "--supp_dropout", "0.5"]), "nb201", 0)
    model = build_nasflat_model(both, data, len(data.task.devices))
    assert [m.p for m in model.supp_mlp if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]
    assert [m.p for m in model.head if isinstance(m, torch.nn.Dropout)] == [0.05, 0.05, 0.05]
