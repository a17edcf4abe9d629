"""Cost features and the roofline predictors on the real spaces."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from correlation_trainer.main import main
from nas_embedding_suite.cost_model import design_matrix, loo_ridge, posterior_mean
from nas_embedding_suite.spaces.fbnet.costs import fbnet_fixed_cost
from nas_embedding_suite.spaces.nb201.costs import nb201_fixed_cost
from nas_embedding_suite.cost_features import ADDITIVE, FEATURES


def test_nb201_per_op_costs_sum_to_the_network_totals(nb201):
    features = nb201.cost_features
    fixed_params, fixed_flops = nb201_fixed_cost()
    assert np.allclose(features.total("flops") + fixed_flops, nb201.flops * 1e6)
    assert np.allclose(features.total("params") + fixed_params, nb201.params * 1e6)
    node_flops = features.nodes[..., FEATURES.index("flops")].sum(axis=1)
    assert np.allclose(node_flops, features.total("flops"))
    stages = [features.total(f"flops_stage{s}") for s in range(3)]
    assert np.allclose(sum(stages), features.total("flops"))
    # a none edge still launches its multiply-by-zero; a skip launches nothing
    none, skip = nb201.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), \
        nb201.parse("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|")
    assert features.total("kernels")[none] == 6 * 15 and features.total("kernels")[skip] == 0


def test_nb201_live_totals_leave_out_dead_ends_and_zero_ops(nb201):
    features = nb201.cost_features
    counts = features.columns(["flops"])
    assert counts.shape[1] == 2 + 2 * 5  # flops, live flops, 5 op counts, 5 live op counts
    assert (sum(features.total(f"count_{op}") for op in nb201.node_op_names[2:]) == 6).all()
    assert (features.total("live_count_none") == 0).all()
    # the 3x3 conv on edge 0->1 is a dead end (node 1 feeds only none edges); the 1x1 conv is live
    cell = nb201.parse("|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|")
    assert features.total("count_nor_conv_3x3")[cell] == 1 and features.total("live_count_nor_conv_3x3")[cell] == 0
    assert features.total("live_count_nor_conv_1x1")[cell] == 1
    conv1x1 = nb201.parse("|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|")
    assert features.total("live_flops")[cell] == features.total("live_flops")[conv1x1] > 0
    assert features.total("flops")[cell] > features.total("flops")[conv1x1]


def test_fbnet_per_op_costs_sum_to_the_network_totals(fbnet):
    features = fbnet.cost_features
    fixed_params, fixed_flops = fbnet_fixed_cost()
    assert np.allclose(features.total("flops") + fixed_flops, fbnet.flops)
    assert np.allclose(features.total("params") + fixed_params, fbnet.params)
    flops = features.total("flops")
    assert (features.total("pointwise_flops") + features.total("depthwise_flops") <= flops).all()
    assert (features.nodes[:, [0, -1]] == 0).all() and features.nodes.shape[1:] == (24, len(FEATURES))
    assert len(ADDITIVE) < len(FEATURES)


def test_ridge_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    x = design_matrix(rng.normal(size=(200, 5)) * [1, 10, 100, 3, 7] + 50)
    truth = np.array([5.0, 1.0, -2.0, 0.5, 3.0, 0.0])
    y = x @ truth + rng.normal(scale=1e-3, size=200)
    coefficients, strength = loo_ridge(x[:30], y[:30])
    assert strength <= 1e-2 and np.allclose(coefficients, truth, atol=1e-2)
    # a tight prior wins over 30 samples; a loose one leaves the least-squares answer
    prior = np.zeros(6)
    assert np.allclose(posterior_mean(x[:30], y[:30], prior, 1e-9 * np.eye(6), 1.0), prior, atol=1e-4)
    assert np.allclose(posterior_mean(x[:30], y[:30], prior, 1e6 * np.eye(6), 1e-6), truth, atol=1e-2)


@pytest.mark.parametrize("predictor", ["roofline", "roofline_prior"])
def test_roofline_predicts_milliseconds_on_the_quick_task(tmp_path, predictor):
    args = ["--task_index", "9999", "--num_trials", "2", "--transfer_sample_sizes", "10", "--no_progress",
            "--predictor", predictor, "--sample_sizes", "64"]
    assert main(args + ["--out_dir", str(tmp_path / "a")]) == 0
    assert main(args + ["--out_dir", str(tmp_path / "b")]) == 0
    first = pd.read_csv(tmp_path / "a" / predictor / "nb201_samp_eff.csv")
    pd.testing.assert_frame_equal(first, pd.read_csv(tmp_path / "b" / predictor / "nb201_samp_eff.csv"))
    assert (first["spr"] > 0.8).all(), first[["target_device", "spr"]]
    unit = next((tmp_path / "a" / predictor / "units").glob("*.npz"))
    with np.load(unit) as stored:
        predicted, measured = stored["0/predicted"], stored["0/measured"]
    # milliseconds: the predictions sit on the measured scale
    assert 0.3 < np.median(predicted) / np.median(measured) < 3


def test_roofline_blend_reproduces_both_ends(tmp_path):
    """benchmarks/roofline_blend.py: weight 1 scores the stored predictions, weight 0 refits the
    roofline on the same k samples and gives the roofline predictor's own Spearman."""
    for predictor in ("roofline", "flops"):
        assert main(["--task_index", "9999", "--num_trials", "1", "--transfer_sample_sizes", "10",
                     "--no_progress", "--predictor", predictor, "--out_dir", str(tmp_path)]) == 0
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "roofline_blend.py"
    output = subprocess.run([sys.executable, str(script), str(tmp_path / "flops"), "--weights", "0", "1"],
                            capture_output=True, text=True, check=True).stdout
    rows = {float(line.split()[1]): float(line.split()[2]) for line in output.splitlines()
            if line.startswith("10 ")}
    stored = {name: pd.read_csv(tmp_path / name / "nb201_samp_eff.csv")["spr"].mean()
              for name in ("roofline", "flops")}
    assert rows[0.0] == pytest.approx(stored["roofline"], abs=1e-3)
    assert rows[1.0] == pytest.approx(stored["flops"], abs=1e-3)
    assert rows[0.0] != pytest.approx(rows[1.0], abs=1e-2)
