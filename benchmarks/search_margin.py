"""The search's safety margin without verification: violations against accuracy, per margin.

    python benchmarks/search_margin.py [--k 10] [--trials 5] [--safety 0 0.25 0.5 0.75 1]
        [--data_dir DIR]

Without ``--verify``, ``search.py`` picks the most accurate candidate whose predicted latency,
multiplied by ``exp(safety x prediction error)``, meets the budget. The prediction error is the
roofline's in-sample log spread over the k samples, doubled (:func:`residual_spread`); a
leave-one-out error (each sample predicted by the fit on the others) is the alternative measured
here. Two settings, the roofline fit on the search's own samples (``choose_samples(k)``, seeds
0..trials-1):

- HELP's: its 5 devices and budgets, CIFAR-100; printed per margin: the violation rate and the
  budgets (of the 10 where HELP's published pick meets its budget) where the mean accuracy stays
  below HELP's;
- the other 35 NB201 devices, budgets at their 10th, 25th and 50th latency percentile, three
  datasets (the wider test's cases); printed per error estimate at ``safety = 1``: the mean regret
  and violation rate, over all of them and by table source (HELP, LatBench).
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from correlation_trainer.api import LatencyPredictor
from correlation_trainer.latency_search import Measurements, best_within, residual_spread
from jobs.search_summary import HELP_PICKS
from nas_embedding_suite.data_directory import DataDirectory
from nas_embedding_suite.latency_table import load_latency_table
from nas_embedding_suite.spaces import get_space
from nas_embedding_suite.tasks import TaskSuite

OBJECTIVES = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16": "imagenet16_120"}


def fit_spreads(device: str, task: str, latency: np.ndarray, k: int, seed: int, pool) -> tuple:
    """The roofline's predictions of every architecture from k samples of ``device``, the samples,
    and its two error estimates (doubled in-sample spread, leave-one-out) in log ms."""
    predictor = LatencyPredictor("roofline", space="nb201", task=task, seed=seed)
    samples = np.asarray(predictor.choose_samples(k, pool=pool))
    predictor.fit(device, archs=samples, latency_ms=latency[samples])
    predicted = predictor.predict(np.arange(len(latency)))
    measured = Measurements()
    measured.add(samples, latency[samples])
    surprises = []
    for left_out in range(len(samples)):
        rest = np.delete(samples, left_out)
        predictor.fit(device, archs=rest, latency_ms=latency[rest])
        surprises.append(np.log(latency[samples[left_out]] / predictor.predict(samples[left_out:left_out + 1])[0]))
    loo = max(float(np.sqrt(np.mean(np.square(surprises)))), 0.02)
    return predicted, samples, {"in-sample x2": residual_spread(predicted, measured), "leave-one-out": loo}


def pick(predicted, samples, latency, accuracy, candidates, budget, spread, safety) -> int:
    """The search's pick without verification (measured samples at their readings)."""
    shrunk = predicted * np.exp(safety * spread)
    shrunk[samples] = latency[samples]
    return best_within(shrunk, accuracy, candidates, budget)


def score(chosen, accuracy, latency, budget) -> tuple:
    """(accuracy, violates) of a pick, as ``search.py`` scores it: no pick counts as a violation
    with no accuracy (NaN, left out of the mean regret)."""
    if chosen is None:
        return float("nan"), True
    return float(accuracy[chosen]), bool(latency[chosen] > budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=10, help="measured samples")
    parser.add_argument("--trials", type=int, default=5, help="sample draws (seeds 0..trials-1)")
    parser.add_argument("--safety", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0],
                        help="margins tried in HELP's setting")
    parser.add_argument("--data_dir", default=None, help="data directory (default: $NASFLAT_DATA_DIR)")
    args = parser.parse_args()
    space = get_space("nb201", DataDirectory.resolve(args.data_dir))
    table = load_latency_table(space)
    accuracies = {name: space.accuracies[column].to_numpy(np.float64) for name, column in OBJECTIVES.items()}

    rows = []
    for device, picks in HELP_PICKS.items():
        latency = table.latencies(device)
        accuracy = accuracies["cifar100"]
        candidates = np.flatnonzero(np.isfinite(accuracy))
        for seed in range(args.trials):
            predicted, samples, spreads = fit_spreads(device, "ND", latency, args.k, seed, None)
            for estimate, spread in spreads.items():
                for safety in args.safety:
                    for budget, help_ms, help_accuracy in picks:
                        chosen = pick(predicted, samples, latency, accuracy, candidates, budget, spread, safety)
                        rows.append((estimate, safety, device, budget, help_accuracy if help_ms <= budget else np.nan,
                                     *score(chosen, accuracy, latency, budget)))
    help_setting = pd.DataFrame(rows, columns=["estimate", "safety", "device", "budget", "help", "accuracy", "violates"])
    print(f"HELP's setting, roofline, k = {args.k}, {args.trials} trials, no verification")
    for (estimate, safety), part in help_setting.groupby(["estimate", "safety"]):
        means = part.groupby(["device", "budget"]).agg(accuracy=("accuracy", "mean"), help=("help", "first")).dropna()
        short = [f"{d} {b:g}" for (d, b), r in means.iterrows() if r["accuracy"] < r["help"] - 1e-9]
        print(f"  {estimate:13s} safety {safety:4.2f}: violations {part['violates'].mean():6.1%}; "
              f"HELP's accuracy reached at {len(means) - len(short)} of {len(means)} budgets"
              + (f" (short: {', '.join(short)})" if short else ""))

    nb201_tasks = sorted((t for t in TaskSuite.load().tasks if t.space == "nb201" and t.index < 100),
                         key=lambda t: t.label != "ND")
    rows = []
    origin = {device.name: device.source for device in table.devices}
    for device in table.device_names:
        if device in HELP_PICKS:
            continue
        task = next(t.label for t in nb201_tasks if device not in t.train)  # as the wider job lines choose
        latency = table.latencies(device)
        covered = np.flatnonzero(np.isfinite(latency))
        budgets = np.nanpercentile(latency, [10, 25, 50])
        for seed in range(args.trials):
            predicted, samples, spreads = fit_spreads(device, task, latency, args.k, seed, covered)
            for objective, accuracy in accuracies.items():
                candidates = np.intersect1d(np.flatnonzero(np.isfinite(accuracy)), covered)
                for budget in budgets:
                    oracle = accuracy[candidates[latency[candidates] <= budget]].max()
                    for estimate, spread in spreads.items():
                        chosen = pick(predicted, samples, latency, accuracy, candidates, budget, spread, 1.0)
                        gained, violates = score(chosen, accuracy, latency, budget)
                        rows.append((estimate, origin[device], oracle - gained, violates))
    wider = pd.DataFrame(rows, columns=["estimate", "source", "regret", "violates"])
    print(f"\nThe other {wider.groupby('estimate').size().iloc[0] // (9 * args.trials)} NB201 devices, "
          f"wider-test budgets, three datasets, safety 1")
    for estimate, part in wider.groupby("estimate"):
        by_source = ", ".join(f"{source} {p['regret'].mean():.3f} / {p['violates'].mean():.1%}"
                              for source, p in part.groupby("source"))
        print(f"  {estimate:13s}: mean regret {part['regret'].mean():.3f}, violations {part['violates'].mean():.1%} "
              f"(regret / violations by source: {by_source})")


if __name__ == "__main__":
    main()
