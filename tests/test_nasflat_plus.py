"""NASFLAT+ (cost features and a roofline residual base) on the quick task."""
import numpy as np
import pandas as pd
import pytest

from correlation_trainer.main import main
from correlation_trainer.predictors.nasflat_plus import roofline_base
from nas_embedding_suite.cost_model import design_matrix

QUICK = ["--task_index", "9999", "--num_trials", "1", "--transfer_sample_sizes", "10", "--sample_sizes", "32",
         "--epochs", "5", "--transfer_epochs", "10", "--no_progress", "--predictor", "nasflat_plus"]


def test_roofline_base_is_in_the_units_of_the_measured_range():
    rng = np.random.default_rng(0)
    totals = rng.uniform(1, 10, size=(100, 3))
    latency = totals @ np.array([2.0, 1.0, 0.5]) + 3.0
    x = design_matrix(totals)
    archs = np.arange(20)
    base = roofline_base(x, archs, latency[archs])
    assert np.isclose(base[archs].min(), 0, atol=1e-3) and np.isclose(base[archs].max(), 1, atol=1e-3)
    assert np.corrcoef(base, latency)[0, 1] > 0.999


def test_nasflat_plus_learns_and_is_deterministic(tmp_path):
    assert main(QUICK + ["--out_dir", str(tmp_path / "a")]) == 0
    assert main(QUICK + ["--out_dir", str(tmp_path / "b")]) == 0
    first = pd.read_csv(tmp_path / "a" / "nasflat_plus" / "nb201_samp_eff.csv")
    second = pd.read_csv(tmp_path / "b" / "nasflat_plus" / "nb201_samp_eff.csv")
    pd.testing.assert_frame_equal(first, second)
    assert (first["spr"] > 0.8).all(), first[["target_device", "spr"]]
    assert first["plus_parts"].iloc[0] == "base"


@pytest.mark.parametrize("parts", [["cost"], ["nodes"], ["cost", "nodes", "base"]])
def test_each_part_alone_runs(tmp_path, parts):
    assert main(QUICK + ["--out_dir", str(tmp_path), "--plus_parts", *parts]) == 0
    rows = pd.read_csv(tmp_path / "nasflat_plus" / "nb201_samp_eff.csv")
    assert rows["plus_parts"].iloc[0] == " ".join(parts) and rows["spr"].notna().all()
