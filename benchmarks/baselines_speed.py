"""Wall time and peak memory of every method on one task per space, on this machine.

    python benchmarks/baselines_speed.py [--space nb201|fbnet|both] [--predictors P ...] [--data_dir DIR]

Each method runs in its own process with its default settings (NASFLAT and NASFLAT+: 16 / 800
source archs; HELP, MultiPredict and roofline_prior: 900 / 4000; the references and roofline
train nothing) on task ND (k = 5, 10, 20) or FD
(k = 20), 1 trial, and the script prints wall time, peak RSS and the mean Spearman.
"""
from __future__ import annotations

import argparse
import tempfile

from main_timing import timed_run

METHODS = ["nasflat", "nasflat_plus", "roofline", "roofline_prior", "help", "multipredict", "closest_device",
           "flops", "params"]
TASKS = {
    "nb201": ["--space", "nb201", "--task_index", "ND", "--transfer_sample_sizes", "5", "10", "20"],
    "fbnet": ["--space", "fbnet", "--task_index", "FD", "--transfer_sample_sizes", "20"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", default="both", choices=["nb201", "fbnet", "both"])
    parser.add_argument("--predictors", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()
    common = ["--num_trials", "1"] + (["--data_dir", args.data_dir] if args.data_dir else [])
    spaces = ["nb201", "fbnet"] if args.space == "both" else [args.space]
    with tempfile.TemporaryDirectory() as out:
        for space in spaces:
            for method in args.predictors:
                zcp = space == "fbnet" and method in ("nasflat", "nasflat_plus")
                extra = ["--representation", "adj_gin_zcp"] if zcp else []
                timed_run(TASKS[space] + common + extra + ["--predictor", method, "--out_dir", out],
                          f"{space} {TASKS[space][3]} {method}")


if __name__ == "__main__":
    main()
