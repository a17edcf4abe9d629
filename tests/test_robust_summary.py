"""main.py's printed summary: per-device MAPE rows, and over the devices a robust line (median
MAPE, mean within-10% share) instead of a mean MAPE that one device's tiny readings rule."""
import pandas as pd

from correlation_trainer.results import format_results


def _frames():
    per_device = pd.DataFrame({
        "source_size": 16, "k": 20, "target_device": ["raspi4", "fpga", "eyeriss"],
        "spr": [0.9, 0.95, 0.97], "kdt": [0.7, 0.8, 0.85], "spr_std": 0.01, "kdt_std": 0.01,
        "mape": [9.0, 0.10, 0.12], "within10": [0.4, 0.6, 0.8], "trials": 3})
    averaged = pd.DataFrame({"source_size": [16], "k": [20], "spr": [0.94], "kdt": [0.78], "spr_std": [0.01],
                             "kdt_std": [0.01], "mape": [per_device["mape"].mean()],
                             "within10": [per_device["within10"].mean()], "trials": [3]})
    return per_device, averaged


def test_mean_line_gives_the_median_mape_not_the_mean():
    text = format_results(*_frames())
    mean_line = next(line for line in text.splitlines() if "MEAN" in line)
    assert "median MAPE over devices 12.0%" in mean_line  # not the mean, 307.3%
    assert "307" not in mean_line and "within 10% 60%" in mean_line
    raspi = next(line for line in text.splitlines() if "raspi4" in line)
    assert "MAPE 900.0%" in raspi  # the per-device rows keep their MAPE


def test_no_error_columns_no_error_text():
    per_device, averaged = _frames()
    per_device["mape"] = float("nan")
    assert "MAPE" not in format_results(per_device, averaged)
