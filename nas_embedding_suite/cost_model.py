"""The linear cost model: latency as a linear function of an architecture's cost totals.

Shared by the ``roofline`` predictors (which fit it) and the design samplers (which choose the
architectures that teach it most), so both see the same design matrix and the same source prior:

- :func:`cost_design`: the standardised cost totals of every architecture of a space with a
  leading column of ones (the intercept); analytic, no device information;
- :func:`ridge_fit`, :func:`evidence_ridge`, :func:`loo_ridge`: ridge regression, the strength
  chosen by the marginal likelihood or by leave-one-out;
- :func:`source_prior`: a Gaussian prior over the coefficients from the fits on source devices
  (each device's latencies divided by their mean, so devices of any speed are comparable).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Tuple

import numpy as np

#: the cost totals of :mod:`nas_embedding_suite.cost_features` the model regresses on (with their
#: ``live_`` versions and per-op counts where the space has them)
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


@lru_cache(maxsize=None)
def cost_design(space) -> np.ndarray:
    """The design matrix ``[A, d]`` of every architecture of ``space`` (intercept first; computed
    once per space and shared read-only by every caller)."""
    design = design_matrix(space.cost_features.columns(TOTALS))
    design.setflags(write=False)
    return design


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
        leverage = np.sum((x @ inverse) * x, axis=1)
        residual = y - x @ (inverse @ x.T @ y)
        error = np.mean((residual / np.clip(1.0 - leverage, 1e-6, None)) ** 2)
        if best is None or error < best[0]:
            best = (error, strength)
    return ridge_fit(x, y, best[1]), best[1]


def evidence_ridge(x: np.ndarray, y: np.ndarray, grid=RIDGE_GRID) -> Tuple[np.ndarray, float]:
    """Ridge coefficients at the strength of ``grid`` with the largest marginal likelihood of y
    (empirical Bayes: ``w[1:] ~ N(0, s2 / strength)``, a flat intercept, the noise variance s2 at
    its maximum); returns (coefficients, strength).

    Unlike leave-one-out, the evidence stays well defined when every sample has high leverage,
    as the samples of a D-optimal design do and as few samples of many columns always have.
    """
    n, d = x.shape
    gram, moment, energy = x.T @ x, x.T @ y, float(y @ y)
    best: Optional[Tuple[float, float]] = None
    for strength in grid:
        precision = np.full(d, float(strength))
        precision[0] = 1e-8  # the intercept: (nearly) flat
        inner = gram + np.diag(precision)
        residual = max(energy - moment @ np.linalg.solve(inner, moment), 1e-300) / n
        log_evidence = -0.5 * (np.linalg.slogdet(inner)[1] - np.log(precision).sum() + n * np.log(residual))
        if best is None or log_evidence > best[0]:
            best = (log_evidence, strength)
    return ridge_fit(x, y, best[1]), best[1]


#: how the ``roofline`` predictor chooses its ridge strength
RIDGE_CHOICES = {"evidence": evidence_ridge, "loo": loo_ridge}


@dataclass(frozen=True)
class CoefficientPrior:
    """``w ~ N(mean, cov)`` for the coefficients of latency divided by its mean; ``noise`` is the
    sources' mean residual variance in the same units."""

    mean: np.ndarray
    cov: np.ndarray
    noise: float


def source_prior(design: np.ndarray, latencies: np.ndarray, archs: np.ndarray) -> Optional[CoefficientPrior]:
    """The prior from source devices: ``latencies`` ``[S, A]`` (ms, NaN where unmeasured) fit on
    ``archs`` one ridge model per device; their coefficients' mean and covariance. ``None``
    without sources (or with no measured archs)."""
    fits, noise = [], []
    for row in np.atleast_2d(latencies):
        y = row[archs]
        known = ~np.isnan(y)
        if known.sum() < 2:
            continue
        y = y[known] / y[known].mean()
        x = design[archs][known]
        coefficients, _ = loo_ridge(x, y)
        fits.append(coefficients)
        noise.append(np.mean((y - x @ coefficients) ** 2))
    if not fits:
        return None
    fits = np.array(fits)
    cov = np.cov(fits, rowvar=False) if len(fits) > 1 else np.zeros((fits.shape[1],) * 2)
    cov += PRIOR_JITTER * np.eye(fits.shape[1])
    return CoefficientPrior(fits.mean(axis=0), cov, max(float(np.mean(noise)), 1e-8))


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
        leverage = np.sum((x @ inverse) * x, axis=1)
        shift = inverse @ x.T @ residual_target
        residual = residual_target - x @ shift
        error = np.mean((residual / np.clip(1.0 - leverage, 1e-6, None)) ** 2)
        if best is None or error < best[0]:
            best = (error, prior_mean + shift, factor)
    return best[1], best[2]
