"""Optimal experimental design for the linear cost model: which architectures to measure.

A linear model ``latency = x w`` learns most from samples that span its design matrix. With a
Gaussian prior ``w ~ N(m, cov)`` and noise variance ``noise``, measuring architecture ``x`` shrinks
the coefficients' covariance by a rank-one update (Sherman-Morrison), whatever its latency turns
out to be, so a whole design can be chosen greedily before any measurement:

- :func:`greedy_d_optimal`: each step adds the candidate that most increases
  ``log det`` of the information matrix (the one with the largest current predictive variance
  ``x' cov x``): D-optimal design, with ``cov`` a ridge term for the isotropic case;
- :func:`greedy_variance_reduction`: each step adds the candidate that most reduces the summed
  predictive variance over a reference set of architectures (the whole space):
  ``|X_ref cov x|^2 / (noise + x' cov x)``. Under the source devices' prior this spends the
  measurements on the directions of coefficient space the sources leave uncertain *and* that
  matter for the space's architectures (V-optimal design).

Both cost ``O(k C d^2)`` for C candidates of d columns (NB201: d = 25, FBNet: d = 8).
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np


def _rank_one_downdate(cov: np.ndarray, x: np.ndarray, noise: float) -> np.ndarray:
    """Posterior covariance after observing ``x w + noise``."""
    v = cov @ x
    return cov - np.outer(v, v) / (noise + x @ v)


def greedy_d_optimal(candidates: np.ndarray, k: int, cov: np.ndarray) -> List[int]:
    """k rows of ``candidates`` ``[C, d]`` that greedily maximise the log determinant of the
    information matrix, starting from coefficient covariance ``cov`` (unit noise). Ties go to the
    earlier row."""
    cov = np.array(cov, dtype=np.float64)
    picked: List[int] = []
    for _ in range(k):
        gain = np.sum((candidates @ cov) * candidates, axis=1)
        gain[picked] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        cov = _rank_one_downdate(cov, candidates[best], 1.0)
    return picked


def greedy_variance_reduction(candidates: np.ndarray, k: int, cov: np.ndarray, noise: float,
                              reference_moment: np.ndarray, exclude: Sequence[int] = ()) -> List[int]:
    """k rows of ``candidates`` that greedily minimise the mean predictive variance over a
    reference set whose second moment ``X_ref' X_ref / n`` is ``reference_moment`` ``[d, d]``,
    from coefficient covariance ``cov`` (``exclude``: rows never to pick, e.g. measured ones whose
    information ``cov`` already holds)."""
    cov = np.array(cov, dtype=np.float64)
    picked: List[int] = []
    for _ in range(k):
        blocked = picked + list(exclude)
        spread = candidates @ cov  # [C, d]: cov x for every candidate
        gain = np.sum((spread @ reference_moment) * spread, axis=1)
        gain /= noise + np.sum(spread * candidates, axis=1)
        gain[blocked] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        cov = _rank_one_downdate(cov, candidates[best], noise)
    return picked


def log_det_information(design: np.ndarray, ridge: float) -> float:
    """``log det(X'X + ridge I)`` of the rows ``design``: how much a design tells a linear model
    (larger is better)."""
    information = design.T @ design + ridge * np.eye(design.shape[1])
    return float(np.linalg.slogdet(information)[1])
