"""What a learned predictor adds to the roofline fit on the same k samples.

    python benchmarks/roofline_blend.py RESULTS_DIR [--weights 0 0.25 0.5 0.75 1] [--data_dir DIR]

Reads every stored unit (``units/*.npz``) under ``RESULTS_DIR`` (a ``main.py --out_dir`` or a job
list's results folder), refits the roofline (:mod:`correlation_trainer.predictors.roofline`) on
each transfer's own k samples, and scores the blend ``w z(predictor) + (1 - w) z(roofline)`` of
the two standardised predictions of the evaluated archs (w = 0: the roofline alone; w = 1: the
predictor alone). Prints Spearman rho per task (mean over targets, then trials) and the geometric
mean over the tasks, for each k and weight. A predictor whose ranking carries information the
cost totals lack lifts the blend above both ends.
"""
from __future__ import annotations

import argparse
import glob
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from correlation_trainer.predictors.roofline import loo_ridge, roofline_design
from correlation_trainer.results import load_unit, load_unit_config
from nas_embedding_suite.data_directory import DataDirectory
from nas_embedding_suite.latency_table import load_latency_table
from nas_embedding_suite.spaces import get_space
from nas_embedding_suite.tasks import TaskSuite


def standardised(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / (spread if spread > 0 else 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0],
                        help="weights of the predictor in the blend (0: roofline alone)")
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()
    data_dir = DataDirectory.resolve(args.data_dir)
    suite = TaskSuite.load()
    # glob, not Path.rglob: it follows linked line folders
    paths = sorted(Path(p) for p in glob.glob(str(args.results_dir / "**" / "units" / "*.npz"), recursive=True))
    if not paths:
        sys.exit(f"no stored units (units/*.npz) under {args.results_dir}")
    # (space, task, k, weight) -> trial -> Spearman per target
    scores = defaultdict(lambda: defaultdict(list))
    spaces, tables = {}, {}  # one space (and design) per space name, one latency table per task
    for path in paths:
        results = load_unit(path)
        if not results:
            sys.exit(f"{path}: not a readable result unit")
        config = load_unit_config(path)
        if config["space"] not in spaces:
            space = get_space(config["space"], data_dir)
            spaces[config["space"]] = space, roofline_design(space)
        space, design = spaces[config["space"]]
        task = suite.get(config["space"], config["task_index"])
        if (space.name, task.label) not in tables:
            tables[(space.name, task.label)] = load_latency_table(space, task.devices)
        table = tables[(space.name, task.label)]
        for result in results:
            latency = table.latencies(result.target)
            coefficients, _ = loo_ridge(design[result.transfer_archs], latency[result.transfer_archs])
            roofline = standardised(design[result.eval_archs] @ coefficients)
            learned = standardised(np.asarray(result.predicted, dtype=np.float64))
            for weight in args.weights:
                rho = spearmanr(weight * learned + (1 - weight) * roofline, result.measured)[0]
                scores[(space.name, task.label, int(result.k), weight)][int(result.trial)].append(rho)
    for space_name in sorted({key[0] for key in scores}):
        labels = [task.label for task in suite.tasks if task.space == space_name
                  and any(key[:2] == (space_name, task.label) for key in scores)]
        print(f"{space_name}: weight of the predictor (0 = roofline alone)")
        print("k    weight  " + "  ".join(f"{label:>5s}" for label in labels) + "     gm")
        for k in sorted({key[2] for key in scores if key[0] == space_name}):
            for weight in args.weights:
                row = [np.mean([np.mean(v) for v in scores[(space_name, label, k, weight)].values()])
                       if (space_name, label, k, weight) in scores else np.nan for label in labels]
                gm = float(np.exp(np.mean(np.log(row))))
                print(f"{k:<4d} {weight:6.2f}  " + "  ".join(f"{v:5.3f}" for v in row) + f"  {gm:5.3f}")


if __name__ == "__main__":
    main()
