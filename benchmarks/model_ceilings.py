"""Per-device ceilings of each family of cost model, and whether a nonlinear one helps at k = 20.

    python benchmarks/model_ceilings.py [--tasks F4 FA] [--trials 3] [--data_dir DIR]

For every target device of the tasks (default: FBNet's phone-heavy F4 and FA, whose whole-millisecond
phones cap the linear roofline near 0.83), each model family is fit by ridge regression:

- ``linear``: the roofline's design (intercept and standardised cost totals);
- ``linear+stages``: plus every additive total per stage of the network;
- ``quadratic``: the linear design plus all pairwise products and squares of its totals;
- ``one-hot``: the op choice at every position (an additive per-op model, no cost features);
- ``one-hot+linear``: both.

Printed per device: the in-sample Spearman on every measured architecture (ceiling), the 5-fold
cross-validated Spearman (what the family can learn from 80 % of the space), and the held-out
Spearman at k = 20 with the ``doptimal_prior`` samples (task sources as prior), mean over trials,
the ridge strength chosen by the marginal likelihood.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from correlation_trainer.code_version import code_fingerprint, git_commit
from nas_embedding_suite.cost_model import cost_design, design_matrix, evidence_ridge, ridge_fit
from nas_embedding_suite.data_directory import DataDirectory
from nas_embedding_suite.latency_table import load_latency_table
from nas_embedding_suite.output_files import atomic_write_text
from nas_embedding_suite.samplers import SamplingContext, build_sampler
from nas_embedding_suite.spaces import get_space
from nas_embedding_suite.tasks import TaskSuite

CEILING_RIDGE = 1e-3


def families(space) -> Dict[str, np.ndarray]:
    """Each family's design matrix over every architecture of ``space`` (intercept first)."""
    linear = cost_design(space)
    totals = linear[:, 1:]
    pairs = [totals[:, i] * totals[:, j] for i in range(totals.shape[1]) for j in range(i, totals.shape[1])]
    quadratic = np.hstack([linear, design_matrix(np.stack(pairs, axis=1))[:, 1:]])
    stages = np.hstack([linear, design_matrix(space.cost_features.totals)[:, 1:]])
    choices = space.graphs.op_ids[:, 1:-1]
    one_hot = np.eye(len(space.node_op_names))[choices].reshape(len(choices), -1)
    one_hot = one_hot[:, one_hot.std(axis=0) > 0]
    return {"linear": linear, "linear+stages": stages, "quadratic": quadratic,
            "one-hot": np.hstack([np.ones((len(one_hot), 1)), one_hot]),
            "one-hot+linear": np.hstack([linear, one_hot])}


def cross_validated(x: np.ndarray, y: np.ndarray, folds: int = 5) -> float:
    """Spearman of out-of-fold predictions (folds by a fixed permutation)."""
    order = np.random.default_rng(0).permutation(len(y))
    predicted = np.empty(len(y))
    for held in np.array_split(order, folds):
        fit = np.setdiff1d(order, held)
        predicted[held] = x[held] @ ridge_fit(x[fit], y[fit], CEILING_RIDGE)
    return float(spearmanr(predicted, y)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["F4", "FA"], help="task labels whose targets to fit")
    parser.add_argument("--trials", type=int, default=3, help="k = 20 draws per device")
    parser.add_argument("--k", type=int, default=20, help="samples of the few-shot fit")
    parser.add_argument("--data_dir", default=None, help="data directory")
    parser.add_argument("--out", default=None, help="record CSV to write (default: print only)")
    args = parser.parse_args()
    data_dir = DataDirectory.resolve(args.data_dir)
    suite = TaskSuite.load()
    record = []
    print(f"| task | device | family | ceiling (all archs) | 5-fold CV | k = {args.k}, doptimal_prior ({args.trials} trials) |")
    print("|---|---|---|---|---|---|")
    for label in args.tasks:
        task = suite.by_label(label)
        space = get_space(task.space, data_dir)
        table = load_latency_table(space)
        designs = families(space)
        sources = table.values[[table.row(name) for name in task.train]]
        cache: Dict[str, object] = {}
        for device in task.test:
            row = table.values[table.row(device)]
            measured = np.flatnonzero(~np.isnan(row))
            draws = []
            for trial in range(args.trials):
                context = SamplingContext(space, source_latency=sources, prior_cache=cache)
                draws.append(build_sampler("doptimal_prior")(measured, args.k, np.random.default_rng(trial), context))
            for name, x in designs.items():
                y = row[measured]
                ceiling = spearmanr(x[measured] @ ridge_fit(x[measured], y, CEILING_RIDGE), y)[0]
                few_shot = []
                for chosen in draws:
                    held = np.setdiff1d(measured, chosen)
                    weights, _ = evidence_ridge(x[chosen], row[chosen])
                    few_shot.append(spearmanr(x[held] @ weights, row[held])[0])
                record.append({"task": label, "device": device, "family": name, "ceiling (all archs)": f"{ceiling:.3f}",
                               "5-fold CV": f"{cross_validated(x[measured], y):.3f}",
                               f"k = {args.k}, doptimal_prior": f"{np.mean(few_shot):.3f} ± {np.std(few_shot):.3f}"})
                print("| " + " | ".join(record[-1].values()) + " |", flush=True)
    if args.out:
        frame = pd.DataFrame(record).assign(provenance="benchmark", code_commit=git_commit(),
                                            code_fingerprint=code_fingerprint())
        atomic_write_text(Path(args.out), frame.to_csv(index=False))
        print(f"record: {args.out}")


if __name__ == "__main__":
    main()
