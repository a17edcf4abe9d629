"""Sanity report for an encoding: how well a linear probe from its vectors predicts a target.

A ridge regression (closed form, standardised inputs) is cross-validated over ``folds`` random
folds of the architectures with a finite target; the score is the Spearman correlation of the
out-of-fold predictions with the target. An encoding that carries no signal scores near zero.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
from scipy import stats


def ridge_probe(vectors: np.ndarray, target: np.ndarray, folds: int = 5, alpha: float = 1.0,
                max_archs: int = 5000, seed: int = 0) -> float:
    """Cross-validated Spearman of a ridge probe from ``vectors`` [A, d] to ``target`` [A]."""
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(np.isfinite(target) & np.isfinite(vectors).all(axis=1))
    rows = rng.permutation(rows)[:max_archs]
    x, y = vectors[rows].astype(np.float64), target[rows].astype(np.float64)
    fold_of = np.arange(len(rows)) % folds
    predictions = np.empty(len(rows))
    for fold in range(folds):
        train, test = fold_of != fold, fold_of == fold
        mean, std = x[train].mean(0), x[train].std(0) + 1e-12
        xt = (x[train] - mean) / std
        weights = np.linalg.solve(xt.T @ xt + alpha * np.eye(x.shape[1]), xt.T @ (y[train] - y[train].mean()))
        predictions[test] = (x[test] - mean) / std @ weights + y[train].mean()
    return float(stats.spearmanr(predictions, y)[0])


def probe_report(vectors: np.ndarray, targets: Dict[str, np.ndarray], **probe_args) -> List[Sequence]:
    """Rows ``(target name, cross-validated Spearman)`` for each named target."""
    return [(name, ridge_probe(vectors, values, **probe_args)) for name, values in targets.items()]
