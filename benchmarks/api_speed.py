"""Time the Python API: fitting a predictor on k = 20 measurements, then scoring all 15,625 NB201
cells (the target: under 2 s), and loading a saved predictor.

    python benchmarks/api_speed.py [--predictors roofline nasflat] [--repeats 5] [--data_dir DIR]

The device is ND's target pixel2, whose published latencies stand in for measurements. Prints the
wall time of each step (median of the repeats for predicting) and the held-out Spearman.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from scipy.stats import spearmanr

from correlation_trainer.api import LatencyPredictor
from nas_embedding_suite.latency_table import load_latency_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--predictors", nargs="+", default=["roofline", "nasflat"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()
    every_cell = np.arange(15625)
    for name in args.predictors:
        started = time.perf_counter()
        predictor = LatencyPredictor(name, space="nb201", task="ND", data_dir=args.data_dir)
        chosen = predictor.choose_samples(20)
        predictor.fit("pixel2", archs=chosen)
        fit_s = time.perf_counter() - started
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            predicted = predictor.predict(every_cell)
            times.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as folder:
            predictor.save(folder)
            started = time.perf_counter()
            LatencyPredictor.load(folder, data_dir=args.data_dir).predict(every_cell)
            load_s = time.perf_counter() - started
        truth = load_latency_table(predictor.space, ["pixel2"]).latencies("pixel2")
        held = np.setdiff1d(every_cell, chosen)
        rho = spearmanr(predicted[held], truth[held])[0]
        print(f"{name}: fit {fit_s:.2f} s; predict all 15,625 cells {1000 * np.median(times):.2f} ms "
              f"(median of {args.repeats}); load + predict {1000 * load_s:.1f} ms; held-out Spearman {rho:.3f}")


if __name__ == "__main__":
    main()
