"""Design-based samplers (D-optimal, prior variance reduction) and the sequential sampler: what
they choose, on the real spaces and tables, and their use through main.py and ``measure``."""
import numpy as np
import pandas as pd
import pytest

from correlation_trainer.main import main as trainer_main
from nas_embedding_suite.cli import main as data_main
from nas_embedding_suite.cost_model import cost_design
from nas_embedding_suite.device_file import read_device_file
from nas_embedding_suite.experimental_design import greedy_d_optimal, log_det_information
from nas_embedding_suite.samplers import (DESIGN_RIDGE, SamplingContext, build_sampler,
                                          choose_new_device_samples, list_sampling_metrics)

from cli_errors import one_line_error

DESIGN_SAMPLERS = ["doptimal", "doptimal_prior", "sequential"]
TINY_FLAGS = ["--warmup", "1", "--repeats", "3", "--threads", "1", "--no-progress"]


def _context(space, table, target, sources, calls=None):
    """A benchmark context: the target's table stands in for measurements (recorded in ``calls``)."""
    row = table.values[table.row(target)]

    def measure(arch):
        if calls is not None:
            calls.append(arch)
        return float(row[arch])
    return SamplingContext(space, source_latency=table.values[[table.row(s) for s in sources]], measure=measure)


@pytest.fixture(scope="module")
def settings(nb201, fbnet, nb201_table, fbnet_table):
    return {
        "nb201": (nb201, nb201_table, "pixel2", ["titan_rtx_256", "gold_6226", "fpga", "raspi4"]),
        "fbnet": (fbnet, fbnet_table, "pixel2", ["eyeriss", "fpga", "gold_6226", "titan_rtx_1"]),
    }


def test_the_new_samplers_are_registered():
    assert set(DESIGN_SAMPLERS) <= set(list_sampling_metrics())


@pytest.mark.parametrize("space_name", ["nb201", "fbnet"])
def test_d_optimal_design_has_a_larger_log_determinant_than_random_draws(settings, space_name):
    space, table, target, sources = settings[space_name]
    design = cost_design(space)
    pool = np.arange(space.num_archs)
    for k in (5, 20):
        chosen = build_sampler("doptimal")(pool, k, np.random.default_rng(0), SamplingContext(space))
        optimal = log_det_information(design[chosen], DESIGN_RIDGE)
        rng = np.random.default_rng(1)
        random_draws = [log_det_information(design[rng.choice(pool, k, replace=False)], DESIGN_RIDGE)
                        for _ in range(20)]
        assert optimal > max(random_draws), (k, optimal, max(random_draws))


def test_greedy_d_optimal_picks_the_extremes_of_a_line():
    # one standardised column and an intercept: the information is largest at the two ends
    x = np.column_stack([np.ones(11), np.linspace(-1, 1, 11)])
    assert sorted(greedy_d_optimal(x, 2, np.eye(2) * 100.0)) == [0, 10]


@pytest.mark.parametrize("metric", DESIGN_SAMPLERS)
@pytest.mark.parametrize("space_name", ["nb201", "fbnet"])
def test_samplers_return_k_distinct_valid_archs_deterministically(settings, space_name, metric):
    space, table, target, sources = settings[space_name]
    pool = np.flatnonzero(~np.isnan(table.values[table.row(target)]))[::3]  # a partial pool
    sample = build_sampler(metric)
    draws = {seed: [sample(pool, 10, np.random.default_rng(seed), _context(space, table, target, sources))
                    for _ in range(2)] for seed in (0, 1)}
    for seed, (first, second) in draws.items():
        assert len(first) == 10 and len(np.unique(first)) == 10
        assert np.isin(first, pool).all()
        np.testing.assert_array_equal(first, second)
    assert set(draws[0][0]) != set(draws[1][0]), "trials with other seeds must draw other samples"


@pytest.mark.parametrize("space_name", ["nb201", "fbnet"])
def test_sequential_never_proposes_an_arch_already_measured(settings, space_name):
    space, table, target, sources = settings[space_name]
    pool = np.flatnonzero(~np.isnan(table.values[table.row(target)]))
    for seed in range(3):
        calls = []
        chosen = build_sampler("sequential")(pool, 20, np.random.default_rng(seed),
                                              _context(space, table, target, sources, calls))
        assert len(calls) == 20 == len(set(calls)), "an architecture was measured twice"
        assert sorted(calls) == sorted(chosen.tolist()), "it must return exactly what it measured"


def test_sequential_choice_depends_on_the_measurements(settings):
    space, table, target, sources = settings["nb201"]
    pool = np.arange(space.num_archs)
    picks = {}
    for device in ("pixel2", "titan_rtx_256"):
        picks[device] = build_sampler("sequential")(pool, 12, np.random.default_rng(0),
                                                    _context(space, table, device, sources)).tolist()
    assert picks["pixel2"] != picks["titan_rtx_256"]


def test_sequential_without_measurements_says_how_to_use_it(nb201):
    with pytest.raises(Exception, match="measure --sampler sequential"):
        build_sampler("sequential")(np.arange(100), 5, np.random.default_rng(0), SamplingContext(nb201))


@pytest.mark.parametrize("metric", DESIGN_SAMPLERS)
def test_each_new_sampler_runs_through_main_on_the_quick_tasks(tmp_path, metric):
    # roofline_prior pretrains: its source set is chosen by the same sampler on the sources' mean latency
    for space, predictor in (("nb201", "roofline"), ("fbnet", "roofline"), ("nb201", "roofline_prior")):
        out = tmp_path / space / predictor
        assert trainer_main(["--space", space, "--task_index", "9999", "--predictor", predictor,
                             "--sampling_metric", metric, "--transfer_sample_sizes", "5", "10",
                             "--num_trials", "2", "--no_progress", "--out_dir", str(out)]) == 0
        rows = pd.read_csv(next(out.rglob("*_trials.csv")))
        assert set(rows.sampling_metric) == {metric} and rows.spr.notna().all() and (rows.spr > 0.3).all()


def test_measure_with_a_design_sampler_names_what_choose_samples_lists(nb201, tmp_path, capsys):
    assert trainer_main(["--choose_samples", "4", "--sampling_metric", "doptimal", "--seed", "3",
                         "--write_indices", str(tmp_path / "chosen.csv")]) == 0
    listed = pd.read_csv(tmp_path / "chosen.csv")["index"].tolist()
    out = tmp_path / "mine.csv"
    assert data_main(["measure", "--space", "nb201", "--device-name", "mine", "--sampler", "doptimal",
                      "--k", "4", "--seed", "3", "--out", str(out), *TINY_FLAGS]) == 0
    assert sorted(read_device_file(out, nb201).indices.tolist()) == sorted(listed)


def test_sequential_measure_on_this_machine_then_replayed_by_the_transfer(nb201, tmp_path, capsys):
    out = tmp_path / "seq.csv"
    assert data_main(["measure", "--space", "nb201", "--device-name", "seq", "--sampler", "sequential",
                      "--k", "5", "--seed", "2", "--out", str(out), *TINY_FLAGS]) == 0
    device = read_device_file(out, nb201)
    assert len(device.indices) == 5 == len(set(device.indices.tolist()))
    latencies = dict(zip(device.indices.tolist(), device.latency_ms.tolist()))
    replayed = choose_new_device_samples(nb201, 5, "sequential", seed=2, measure=latencies.__getitem__)
    assert sorted(replayed.tolist()) == sorted(latencies)
    # a rerun resumes from the file: nothing new is timed, the same five are chosen
    assert data_main(["measure", "--space", "nb201", "--device-name", "seq", "--sampler", "sequential",
                      "--k", "5", "--seed", "2", "--out", str(out), *TINY_FLAGS]) == 0
    assert read_device_file(out, nb201).indices.tolist() == device.indices.tolist()
    # some random archs to evaluate on, then the transfer replays the choice from the file
    assert data_main(["measure", "--space", "nb201", "--device-name", "seq", "--sampler", "random",
                      "--k", "12", "--seed", "9", "--out", str(out), *TINY_FLAGS]) == 0
    capsys.readouterr()
    assert trainer_main(["--task_index", "ND", "--predictor", "roofline", "--sampling_metric", "sequential",
                         "--seed", "2", "--transfer_sample_sizes", "5", "--num_trials", "1", "--no_progress",
                         "--target_device_file", str(out), "--out_dir", str(tmp_path / "res")]) == 0


def test_sequential_cannot_be_listed_in_advance(capsys):
    status = trainer_main(["--choose_samples", "5", "--sampling_metric", "sequential"])
    one_line_error(status, capsys.readouterr().err, "measure --space nb201", "--sampler sequential")


def test_a_file_lacking_a_sequential_choice_names_the_measure_command(nb201, tmp_path, capsys):
    out = tmp_path / "other.csv"
    assert data_main(["measure", "--space", "nb201", "--device-name", "other", "--sampler", "random",
                      "--k", "12", "--seed", "9", "--out", str(out), *TINY_FLAGS]) == 0
    capsys.readouterr()
    status = trainer_main(["--task_index", "ND", "--predictor", "roofline", "--sampling_metric", "sequential",
                           "--transfer_sample_sizes", "5", "--num_trials", "1", "--no_progress",
                           "--target_device_file", str(out), "--out_dir", str(tmp_path / "res")])
    one_line_error(status, capsys.readouterr().err, "lacks architecture", "--sampler sequential")


def test_the_api_chooses_sequentially_with_the_users_timing(nb201_table):
    from correlation_trainer.api import LatencyPredictor

    predictor = LatencyPredictor("roofline", space="nb201", task="ND")
    stand_in = nb201_table.values[nb201_table.row("pixel2")]
    timed = []

    def time_one(arch):
        timed.append(arch)
        return float(stand_in[arch])
    archs = predictor.choose_samples(8, "sequential", measure=time_one)
    assert sorted(timed) == sorted(archs.tolist()) and len(set(timed)) == 8
    predictor.fit("pixel2", archs=archs)
    assert np.isfinite(predictor.predict(np.arange(100))).all()
    assert sorted(predictor.choose_samples(8, "doptimal").tolist()) == sorted(
        choose_new_device_samples(predictor.space, 8, "doptimal").tolist())
