"""``--predictor roofline`` and ``roofline_prior``: latency as a linear function of cost totals.

Latency on these devices follows the cost of each operation closely, so a regression of latency
(milliseconds) on a few architecture totals of :mod:`nas_embedding_suite.cost_features` (FLOPs,
pointwise-conv FLOPs, depthwise-conv FLOPs, activation elements written, kernel launches,
parameters, input elements read; for NB201 also the same over the live ops and the per-op counts)
is a strong few-shot predictor. Totals are standardised over the whole space (they are analytic: no
target information), then:

- ``roofline``: ridge regression with an intercept on the k target samples only; the ridge
  strength is the one with the largest marginal likelihood of those samples (``--ridge_choice
  evidence``, the default) or the smallest leave-one-out error (``loo``, the earlier default).
  No pretraining.
- ``roofline_prior``: the same fit on every source device (on the shared source set) gives
  coefficient vectors; with each device's latencies divided by their mean, their mean and
  covariance are a Gaussian prior, and the target's coefficients are its posterior mean given the
  k samples (scaled by their own mean). The sources span few directions of coefficient space, so
  the prior is widened isotropically by the factor (of its mean variance) with the smallest
  leave-one-out error on the k samples. Predictions are scaled back to milliseconds.

Scores are predicted milliseconds.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import torch

from nas_embedding_suite.cost_model import (RIDGE_CHOICES, RIDGE_GRID, TOTALS, cost_design, loo_posterior,
                                            loo_ridge, source_prior)

from .base import PREDICTORS, Adaptation, FewShotPredictor, PredictorOption

def coefficient_state(coefficients: np.ndarray) -> Dict[str, torch.Tensor]:
    """The adapted state of a roofline predictor: its coefficients (ms per standardised total)."""
    return {"coefficients": torch.as_tensor(np.asarray(coefficients, dtype=np.float64))}


def roofline_design(space) -> np.ndarray:
    """The roofline design matrix of every architecture of ``space`` (intercept first; shared with
    the design samplers, computed once per space)."""
    return cost_design(space)


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
    options = (PredictorOption(
        "ridge_choice", "evidence", "how the roofline chooses its ridge strength on the k samples: evidence "
        "(largest marginal likelihood; measured better with the design samplers and at k >= 10) or loo "
        "(smallest leave-one-out error, the earlier default)", choices=tuple(RIDGE_CHOICES)),)

    def pretrain(self, archs, seq, progress):
        return None

    def adapt(self, state, target, archs, eval_archs, seq, scored_epochs, keep_model, progress):
        y = self.data.table.values[target, archs]
        coefficients, _ = RIDGE_CHOICES[self.config.option("ridge_choice")](self.x[archs], y)
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
        prior = source_prior(self.x, self.data.table.values[self.data.source_devices], archs)
        return None if prior is None else {"mean": prior.mean, "cov": prior.cov, "noise": prior.noise}

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
