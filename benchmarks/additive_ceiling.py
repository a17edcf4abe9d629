"""How far latency on each target device follows an additive per-op cost model.

    python benchmarks/additive_ceiling.py [--data_dir DIR]

For every target device of the 12 tasks, fits latency by least squares on one-hot ops (NB201:
6 edges x 5 ops; FBNet: 22 layers x 9 blocks) over ALL measured architectures and prints the
in-sample Spearman (an optimistic ceiling for predictors that see only the architecture), beside
the Spearman of FLOPs. Devices with whole-millisecond readings (phones) have many ties, which cap
any ranking.
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import spearmanr

from nas_embedding_suite.data_directory import DataDirectory
from nas_embedding_suite.latency_table import load_latency_table
from nas_embedding_suite.spaces import get_space
from nas_embedding_suite.tasks import TaskSuite


def one_hot_design(space) -> np.ndarray:
    """One-hot op choices per position (the graph's nodes between input and output) plus a bias
    column; the columns of the input and output ops are all zero and change no fit."""
    choices = space.graphs.op_ids[:, 1:-1]
    encoded = np.eye(len(space.node_op_names))[choices].reshape(len(choices), -1)
    return np.concatenate([encoded, np.ones((len(choices), 1))], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()
    data_dir = DataDirectory.resolve(args.data_dir)
    for task in TaskSuite.load().tasks:
        if task.quick:
            continue
        space = get_space(task.space, data_dir)
        table = load_latency_table(space, task.test)
        design = one_hot_design(space)
        rows = []
        for name in task.test:
            measured = table.measured(name)
            y = table.latencies(name)[measured]
            weights = np.linalg.lstsq(design[measured], y, rcond=None)[0]
            additive = spearmanr(design[measured] @ weights, y)[0]
            flops = spearmanr(space.flops[measured], y)[0]
            rows.append((name, additive, flops, len(np.unique(y))))
        mean = np.mean([r[1] for r in rows])
        print(f"{task.label}: mean additive ceiling {mean:.3f}")
        for name, additive, flops, distinct in rows:
            print(f"    {name:45s} additive {additive:.3f}  flops {flops:.3f}  distinct values {distinct}")


if __name__ == "__main__":
    main()
