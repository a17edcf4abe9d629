"""Scores to milliseconds on the k samples, and the errors reported beside the rank correlations."""
import numpy as np
import pandas as pd

from correlation_trainer.latency_calibration import LinearCalibration, latency_errors
from correlation_trainer.main import main


def test_calibration_recovers_a_line_and_never_reverses_the_order():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=20)
    calibration = LinearCalibration.fit(scores, 3.0 * scores + 10.0)
    assert np.isclose(calibration.slope, 3.0) and np.isclose(calibration.intercept, 10.0)
    # scores that disagree with the latencies: the map stays monotone (flat at their mean)
    flat = LinearCalibration.fit(scores, -scores + 5.0)
    assert flat.slope == 0.0 and np.allclose(flat(scores), np.mean(-scores + 5.0))
    grid = np.linspace(-3, 3, 50)
    assert (np.diff(calibration(grid)) >= 0).all() and (np.diff(flat(grid)) >= 0).all()


def test_latency_errors():
    errors = latency_errors(np.array([1.0, 2.1, 2.0, 5.0]), np.array([1.0, 2.0, 4.0, 5.0]))
    assert np.isclose(errors["mape"], (0 + 0.05 + 0.5 + 0) / 4)
    assert np.isclose(errors["within10"], 3 / 4)


def test_every_row_reports_calibrated_errors(tmp_path):
    for predictor in ("roofline", "flops"):
        args = ["--task_index", "9999", "--num_trials", "1", "--transfer_sample_sizes", "10",
                "--no_progress", "--predictor", predictor, "--out_dir", str(tmp_path)]
        assert main(args) == 0
    roofline = pd.read_csv(tmp_path / "roofline" / "nb201_samp_eff.csv")
    flops = pd.read_csv(tmp_path / "flops" / "nb201_samp_eff.csv")
    for frame in (roofline, flops):
        assert frame["mape"].between(0, 10).all() and frame["within10"].between(0, 1).all()
    # a fit of latency on cost totals lands nearer the measured milliseconds than a line in FLOPs
    assert roofline["mape"].mean() < flops["mape"].mean()
