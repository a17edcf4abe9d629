"""Latency-constrained search: the oracle with a perfect predictor, verification never returns a
pick measured over budget, determinism, the own-device path with real timing, and bad input."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from correlation_trainer.api import LatencyPredictor
from correlation_trainer.latency_search import (Measurements, best_within, measurement_step, pareto_front,
                                                revise_with_every_measurement, search_budget)
from correlation_trainer.search import main as search_main
from jobs.search_summary import main as summary_main
from nas_embedding_suite.cli import main as data_main
from nas_embedding_suite.latency_table import load_latency_table

from cli_errors import one_line_error

REPO = Path(__file__).resolve().parents[1]
THIS_CPU = REPO / "benchmarks" / "own_device" / "nb201_this_cpu.csv"
HELP_CASE = ["--task_index", "ND", "--target_device", "eyeriss", "--latency_budget", "5", "7", "9",
             "--objective", "cifar100", "--no_progress", "--no_plot"]


def test_the_true_table_as_predictor_finds_the_oracle(nb201):
    truth = load_latency_table(nb201, ["eyeriss"]).latencies("eyeriss")
    accuracy = nb201.accuracies["cifar100"].to_numpy()
    candidates = np.arange(nb201.num_archs)
    for budget in (5.0, 7.0, 9.0):
        pick = search_budget(budget, accuracy, candidates, Measurements(), lambda measured: truth, safety=0.0)
        oracle = best_within(truth, accuracy, candidates, budget)
        assert pick.index == oracle and truth[pick.index] <= budget
        assert accuracy[pick.index] == accuracy[candidates[truth[candidates] <= budget]].max()
    front = pareto_front(truth, accuracy, candidates)
    assert np.all(np.diff(truth[front]) >= 0) and np.all(np.diff(accuracy[front]) > 0)


def random_case(seed, noise):
    """300 candidates with random true latency and accuracy, 10 of them measured, and a guess of
    every latency with log-normal error ``noise``."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.1, 1.0, 300)
    accuracy = np.round(rng.uniform(50, 75, 300), 1)
    measured = Measurements()
    samples = rng.choice(300, 10, replace=False)
    measured.add(samples, truth[samples])
    return truth, accuracy, np.arange(300), measured, truth * np.exp(rng.normal(0, noise, 300))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), budget=st.floats(0.2, 0.9), noise=st.floats(0.0, 0.5),
       extra=st.integers(1, 6))
def test_verification_never_returns_a_pick_measured_over_budget(seed, budget, noise, extra):
    truth, accuracy, candidates, measured, guess = random_case(seed, noise)
    pick = search_budget(budget, accuracy, candidates, measured, lambda m: guess, lambda i: float(truth[i]), extra)
    within = [i for i in measured.archs if truth[i] <= budget]
    assert pick.extra_measurements <= extra
    if within:
        assert pick.index is not None and pick.verified and truth[pick.index] <= budget
        assert accuracy[pick.index] == max(accuracy[i] for i in within)
    else:
        assert pick.index is None


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), noise=st.floats(0.0, 0.5), extra=st.integers(1, 4))
def test_picks_made_again_from_every_budgets_measurements_stay_within_budget(seed, noise, extra):
    truth, accuracy, candidates, measured, guess = random_case(seed, noise)
    budgets = (0.3, 0.5, 0.8)
    picks = [search_budget(b, accuracy, candidates, measured, lambda m: guess, lambda i: float(truth[i]), extra)
             for b in budgets]
    for pick in picks:
        revised = revise_with_every_measurement(pick, measured, accuracy, candidates, guess)
        within = [i for i in measured.archs if truth[i] <= pick.budget]
        if within:  # the most accurate of everything measured within the budget, never over it
            assert revised.verified and truth[revised.index] <= pick.budget
            assert accuracy[revised.index] == max(accuracy[i] for i in within)
            assert pick.index is None or accuracy[revised.index] >= accuracy[pick.index]
        else:
            assert revised.index is None


def test_whole_millisecond_readings_are_detected():
    assert measurement_step(np.array([12.0, 14.0, 9.0, 30.0, 22.0])) == 1.0
    assert measurement_step(np.array([12.0, 14.5, 9.0, 30.0, 22.0])) == 0.0
    assert measurement_step(np.array([12.0, 14.0])) == 0.0  # too few to tell


def test_picks_are_deterministic_under_a_seed(tmp_path, capsys):
    for out in ("a", "b"):
        assert search_main(HELP_CASE + ["--k", "20", "--verify", "3", "--num_trials", "2", "--seed", "4",
                                        "--out_dir", str(tmp_path / out)]) == 0
    first, second = (pd.read_csv(tmp_path / out / "search_roofline" / "search_picks.csv") for out in ("a", "b"))
    pd.testing.assert_frame_equal(first, second)
    assert len(first) == 6 and first["trial"].tolist() == [0, 0, 0, 1, 1, 1]
    assert not first["violates"].any() and first["verified"].all()
    assert (first["measurements_used"] >= 20).all() and (first["extra_measurements"] <= 3).all()
    assert set(first.columns) >= {"true_ms", "oracle_index", "oracle_accuracy", "regret", "exact", "code_commit"}
    out = capsys.readouterr().out
    assert "15625 of 15625 nb201 architectures have an accuracy" in out and "violations 0" in out
    # the same rows as a finished line of the search job list, summarised into records
    line = tmp_path / "results" / "lines" / "x"
    (line / "out" / "help_setting_k20_verify5_roofline_pixel2").mkdir(parents=True)
    (line / "done.json").write_text("{}")
    shutil.copy(tmp_path / "a" / "search_roofline" / "search_picks.csv",
                line / "out" / "help_setting_k20_verify5_roofline_pixel2" / "search_picks.csv")
    assert summary_main(["--results", str(tmp_path / "results"), "--record_dir", str(tmp_path / "records")]) == 0
    record = pd.read_csv(tmp_path / "records" / "search_help_setting.csv")
    assert record["predictor"].tolist() == ["roofline"] and record["provenance"].tolist() == ["joblist_records"]
    assert record["code_commit"].iloc[0] == first["code_commit"].iloc[0]
    assert record["violations"].iloc[0] == "0% (0)" and record["cases x trials"].iloc[0] == "3 x 2"
    picks = pd.read_csv(tmp_path / "records" / "search_picks_k20_verify5.csv")
    assert picks["device"].tolist() == ["eyeriss"] * 3 and picks["budget"].tolist() == [5, 7, 9]
    assert picks["roofline"].astype(float).tolist() == [round(a, 2) for a in first.groupby("budget_ms")["accuracy"].mean()]


def test_help_measures_its_reference_archs_as_spent(tmp_path, nb201):
    """HELP needs its 10 reference architectures measured on the target: the search looks them up
    like the k samples and counts them as spent."""
    assert search_main(HELP_CASE + ["--predictor", "help", "--meta_episodes", "20", "--k", "10", "--num_trials", "1",
                                    "--out_dir", str(tmp_path)]) == 0
    picks = pd.read_csv(tmp_path / "search_help" / "search_picks.csv")
    predictor = LatencyPredictor("help", task="ND", seed=0)
    references = predictor.reference_archs()
    assert len(references) == 10 and np.array_equal(references, nb201.help_reference_archs)
    spent = np.union1d(predictor.choose_samples(10), references)
    assert (picks["measurements_used"] == len(spent)).all()
    assert picks["pick_index"].notna().all()


def test_own_device_file_measured_elsewhere_searches_without_verification(tmp_path, capsys):
    base = ["--task_index", "ND", "--target_device_file", str(THIS_CPU), "--latency_budget", "4", "6",
            "--no_progress", "--out_dir", str(tmp_path)]
    assert search_main(base) == 0
    picks = pd.read_csv(tmp_path / "search_roofline" / "search_picks.csv")
    assert picks["pick_index"].notna().all() and "true_ms" not in picks.columns
    assert (tmp_path / "search_roofline" / "search.png").stat().st_size > 10_000
    front = pd.read_csv(tmp_path / "search_roofline" / "search_front.csv")
    assert front["predicted_ms"].is_monotonic_increasing and front["accuracy"].is_monotonic_increasing
    capsys.readouterr()
    status = search_main(base + ["--verify", "2"])
    err = capsys.readouterr().err
    if "another machine" in err:  # the committed file was measured on another CPU
        one_line_error(status, err, "--verify", "another machine")
    else:
        assert status == 0


def test_verification_times_picks_on_this_machine(tmp_path, capsys):
    device = tmp_path / "here.csv"
    tiny = ["--warmup", "0", "--repeats", "2", "--threads", "1", "--no-progress"]
    assert data_main(["measure", "--space", "nb201", "--device-name", "here", "--sampling_metric", "flops",
                      "--k", "12", "--out", str(device), *tiny]) == 0
    rows_before = len(device.read_text().splitlines())
    assert search_main(["--task_index", "ND", "--target_device_file", str(device), "--k", "12",
                        "--latency_budget", "6", "--verify", "2", "--no_progress", "--no_plot",
                        "--out_dir", str(tmp_path / "r")]) == 0
    picks = pd.read_csv(tmp_path / "r" / "search_roofline" / "search_picks.csv")
    added = len(device.read_text().splitlines()) - rows_before
    assert added == picks["extra_measurements"].sum() and added <= 2
    assert picks["verified"].all() and (picks["measured_ms"] <= 6).all()
    capsys.readouterr()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("content, fragment", [
    ("index,accuracy\n1,70\n99999,71\n", "line 3: architecture index 99999 is out of range"),
    ("index,accuracy\n1,70\n1,71\n", "lists architecture 1 twice"),
    ("index,accuracy\n1,high\n", "line 2: accuracy 'high' is not a number"),
    ("index,accuracy\n|bogus|,70\n", "line 2"),
])
def test_bad_accuracy_files(tmp_path, capsys, content, fragment):
    path = write(tmp_path / "acc.csv", content)
    status = search_main(["--target_device", "eyeriss", "--latency_budget", "5", "--accuracy_file", str(path),
                          "--out_dir", str(tmp_path), "--no_progress"])
    one_line_error(status, capsys.readouterr().err, fragment)


def test_other_bad_input(tmp_path, capsys):
    common = ["--out_dir", str(tmp_path), "--no_progress", "--no_plot"]
    status = search_main(HELP_CASE[:5] + ["0.5"] + common)
    one_line_error(status, capsys.readouterr().err, "below the fastest candidate", "ms")
    with pytest.raises(SystemExit) as stopped:
        search_main(["--target_device", "eyeriss", "--latency_budget", "5", "--objective", "mnist"] + common)
    one_line_error(stopped.value.code, capsys.readouterr().err, "--objective", "invalid choice")
    status = search_main(["--target_device", "nope", "--latency_budget", "5"] + common)
    one_line_error(status, capsys.readouterr().err, "unknown nb201 device 'nope'")
    status = search_main(["--target_device", "eyeriss", "--latency_budget", "-3"] + common)
    one_line_error(status, capsys.readouterr().err, "not a positive number")
    accuracy = write(tmp_path / "acc.csv", "index,accuracy\n1,70\n2,71\n")
    status = search_main(["--space", "fbnet", "--task_index", "FD", "--target_device", "pixel2", "--latency_budget",
                          "50", "--objective", "cifar10"] + common)
    one_line_error(status, capsys.readouterr().err, "no published accuracies", "--accuracy_file")
    status = search_main(["--target_device", "eyeriss", "--latency_budget", "9", "--accuracy_file", str(accuracy),
                          "--objective", "cifar10"] + common)
    one_line_error(status, capsys.readouterr().err, "not both")


def test_the_search_job_list_is_valid_and_complete():
    from correlation_trainer.search import build_parser
    from jobs.job_list import load_job_list
    from nas_embedding_suite.tasks import TaskSuite

    lines = load_job_list(REPO / "large_run_slurms" / "search_joblist.log")
    parser = build_parser()
    parsed = {}
    for line in lines:
        assert line.words[:2] == ["python", "correlation_trainer/search.py"] and "--out_dir" not in line.words
        parsed.setdefault(line.study, []).append(parser.parse_args(line.words[2:]))
    for study, k, verify in (("help_setting_k20_verify5", 20, 5), ("help_setting_k10", 10, 0)):
        runs = parsed[study]
        assert {(a.predictor, a.target_device) for a in runs} == {
            (p, d) for p in ("roofline", "roofline_prior", "flops", "closest_device", "nasflat", "nasflat_plus",
                             "help", "multipredict") for d in ("titan_rtx_256", "gold_6226", "pixel2", "eyeriss", "fpga")}
        assert all(a.k == k and a.verify == verify and a.num_trials == 5 and a.objective == "cifar100" for a in runs)
    suite = TaskSuite.load()
    wider = parsed["wider"]
    assert len({a.target_device for a in wider}) == 40 and {a.objective for a in wider} == {"cifar10", "cifar100", "imagenet16"}
    assert all(a.target_device not in suite.resolve("nb201", a.task_index).train for a in wider)
