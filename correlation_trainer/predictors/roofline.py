"""``--predictor roofline`` and ``roofline_prior``: latency as a linear function of cost totals.

Latency on these devices follows the cost of each operation closely, so a regression of latency
(milliseconds) on a few architecture totals of :mod:`nas_embedding_suite.cost_features` (FLOPs,
pointwise-conv FLOPs, depthwise-conv FLOPs, activation elements written, kernel launches,
parameters, input elements read; for NB201 also the same over the live ops and the per-op counts)
is a strong few-shot predictor. Totals are standardised over the whole space (they are analytic: no
target information), then:

- ``roofline``: ridge regression with an intercept on the k target samples only; the ridge
  strength is the one with the smallest leave-one-out error on those samples. No pretraining.
- ``roofline_prior``: the same fit on every source device (on the shared source set) gives
  coefficient vectors; with each device's latencies divided by their mean, their mean and
  covariance are a Gaussian prior, and the target's coefficients are its posterior mean given the
  k samples (scaled by their own mean). The sources span few directions of coefficient space, so
  the prior is widened isotropically by the factor (of its mean variance) with the smallest
  leave-one-out error on the k samples. Predictions are scaled back to milliseconds.

Scores are predicted milliseconds.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from .base import PREDICTORS, Adaptation, FewShotPredictor

TOTALS = ("flops", "pointwise_flops", "depthwise_flops", "activations", "kernels", "params", "act_in")
RIDGE_GRID = tuple(10.0 ** e for e in range(-4, 4))
#: added to the prior covariance's diagonal (in standardised units) so that it stays invertible
PRIOR_JITTER = 1e-4
#: multiples of the prior's mean variance tried as extra isotropic width (leave-one-out choice)
WIDENING_GRID = (0.0, 0.01, 0.1, 1.0, 10.0, 100.0, 1e4)


def design_matrix(totals: np.ndarray) -> np.ndarray:
    """Standardised totals with a leading column of ones (the intercept)."""
    spread = totals.std(axis=0)
    scaled = (totals - totals.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    return np.hstack([np.ones((len(totals), 1)), scaled])


def ridge_fit(x: np.ndarray, y: np.ndarray, strength: float) -> np.ndarray:
    """Coefficients minimising ``|y - x w|^2 + strength |w[1:]|^2`` (the intercept is not shrunk)."""
    penalty = strength * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    return np.linalg.solve(x.T @ x + penalty, x.T @ y)


def loo_ridge(x: np.ndarray, y: np.ndarray, grid=RIDGE_GRID) -> Tuple[np.ndarray, float]:
    """Ridge coefficients at the strength of ``grid`` with the smallest leave-one-out squared
    error (closed form: residual / (1 - leverage)); returns (coefficients, strength)."""
    best: Optional[Tuple[float, float]] = None
    for strength in grid:
        penalty = strength * np.eye(x.shape[1])
        penalty[0, 0] = 0.0
        inverse = np.linalg.pinv(x.T @ x + penalty)
        leverage = np.einsum("ij,jk,ik->i", x, inverse, x)
        residual = y - x @ (inverse @ x.T @ y)
        error = np.mean((residual / np.clip(1.0 - leverage, 1e-6, None)) ** 2)
        if best is None or error < best[0]:
            best = (error, strength)
    return ridge_fit(x, y, best[1]), best[1]


def posterior_mean(x: np.ndarray, y: np.ndarray, prior_mean: np.ndarray, prior_cov: np.ndarray,
                   noise: float) -> np.ndarray:
    """Posterior mean of w for ``y = x w + noise`` with ``w ~ N(prior_mean, prior_cov)``."""
    precision = np.linalg.inv(prior_cov)
    return np.linalg.solve(x.T @ x / noise + precision, x.T @ y / noise + precision @ prior_mean)


def loo_posterior(x: np.ndarray, y: np.ndarray, prior_mean: np.ndarray, prior_cov: np.ndarray,
                  noise: float, widening=WIDENING_GRID) -> Tuple[np.ndarray, float]:
    """Posterior mean under the prior widened by the factor of ``widening`` (added to the
    covariance as that multiple of its mean variance, times the identity) with the smallest
    leave-one-out squared error on (x, y); returns (coefficients, widening).

    The source devices span few directions of coefficient space and a target may lie off them:
    the k samples decide how far to trust the sources.
    """
    residual_target = y - x @ prior_mean
    scale = float(np.mean(np.diag(prior_cov)))
    best: Optional[Tuple[float, np.ndarray, float]] = None
    for factor in widening:
        precision = np.linalg.inv(prior_cov + factor * scale * np.eye(len(prior_mean)))
        inverse = np.linalg.inv(x.T @ x + noise * precision)
        leverage = np.einsum("ij,jk,ik->i", x, inverse, x)
        shift = inverse @ x.T @ residual_target
        residual = residual_target - x @ shift
        error = np.mean((residual / np.clip(1.0 - leverage, 1e-6, None)) ** 2)
        if best is None or error < best[0]:
            best = (error, prior_mean + shift, factor)
    return best[1], best[2]


def coefficient_state(coefficients: np.ndarray) -> Dict[str, torch.Tensor]:
    """The adapted state of a roofline predictor: its coefficients (ms per standardised total)."""
    return {"coefficients": torch.as_tensor(np.asarray(coefficients, dtype=np.float64))}


@lru_cache(maxsize=None)
def roofline_design(space) -> np.ndarray:
    """The roofline design matrix of every architecture of ``space`` (intercept first; computed
    once per space: every trial, target and checkpoint model shares it)."""
    design = design_matrix(space.cost_features.columns(TOTALS))
    design.setflags(write=False)  # shared by every caller
    return design


class _RooflineBase(FewShotPredictor):
    def __init__(self, config, data, torch_device):
        super().__init__(config, data, torch_device)
        self.x = roofline_design(data.space)

    def settings(self) -> Dict[str, object]:
        return {"totals": list(TOTALS), "ridge_grid": [RIDGE_GRID[0], RIDGE_GRID[-1]]}


@PREDICTORS.register("roofline")
class RooflinePredictor(_RooflineBase):
    """Ridge regression of latency on cost totals, fit on the k target samples only."""

    name = "roofline"
    display_name = "roofline"
    table_order = 30
    checkpoint_kind = "linear"
    pretrains = False
    deterministic = True

    def pretrain(self, archs, seq, progress):
        return None

    def adapt(self, state, target, archs, eval_archs, seq, scored_epochs, keep_model, progress):
        y = self.data.table.values[target, archs]
        coefficients, _ = loo_ridge(self.x[archs], y)
        return Adaptation([self.x[eval_archs] @ coefficients], sample_scores=self.x[archs] @ coefficients,
                          model_state=coefficient_state(coefficients) if keep_model else None)


@PREDICTORS.register("roofline_prior")
class RooflinePriorPredictor(_RooflineBase):
    """Bayesian linear regression on cost totals with a prior learned from the source devices."""

    name = "roofline_prior"
    display_name = "roofline with source prior"
    table_order = 40
    checkpoint_kind = "linear"
    help_source_budget = True  # source measurements are free: fit the prior on many

    def pretrain(self, archs, seq, progress):
        if len(archs) == 0:
            return None
        fits, noise = [], []
        for source in self.data.source_devices:
            y = self.data.table.values[source, archs]
            known = ~np.isnan(y)
            y = y[known] / y[known].mean()
            coefficients, _ = loo_ridge(self.x[archs][known], y)
            fits.append(coefficients)
            noise.append(np.mean((y - self.x[archs][known] @ coefficients) ** 2))
        fits = np.array(fits)
        cov = np.cov(fits, rowvar=False) if len(fits) > 1 else np.zeros((fits.shape[1],) * 2)
        cov += PRIOR_JITTER * np.eye(fits.shape[1])
        return {"mean": fits.mean(axis=0), "cov": cov, "noise": max(float(np.mean(noise)), 1e-8)}

    def adapt(self, state, target, archs, eval_archs, seq, scored_epochs, keep_model, progress):
        y = self.data.table.values[target, archs]
        scale = y.mean()
        if state is None:  # no source set: the plain ridge fit
            coefficients = loo_ridge(self.x[archs], y / scale)[0]
        else:
            coefficients, _ = loo_posterior(self.x[archs], y / scale, state["mean"], state["cov"], state["noise"])
        return Adaptation([scale * (self.x[eval_archs] @ coefficients)],
                          sample_scores=scale * (self.x[archs] @ coefficients),
                          model_state=coefficient_state(scale * coefficients) if keep_model else None)
