"""Evaluation protocols: which architectures are scored, and rank correlations."""
from __future__ import annotations

from typing import Dict

import numpy as np
from scipy.stats import kendalltau, spearmanr

from nas_embedding_suite.registry import Registry

PROTOCOLS: Registry = Registry("evaluation protocol")


def rank_correlations(predicted: np.ndarray, measured: np.ndarray) -> Dict[str, float]:
    """Spearman rho and Kendall tau-b (scipy) of inputs of equal length (``measured`` NaN-free).

    Predictions that rank nothing score 0: constant ones, and ones with a non-finite value (a
    diverged model), where scipy would give NaN and averages over trials would silently skip the
    failed trial. When the measurements themselves rank nothing (fewer than two, or all equal) the
    correlation is undefined: NaN, with the reason under ``"undefined"``.
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    measured = np.asarray(measured, dtype=np.float64)
    if len(measured) < 2 or np.ptp(measured) == 0:
        reason = (f"only {len(measured)} measured architecture(s)" if len(measured) < 2
                  else "every measured latency is the same")
        return {"spr": float("nan"), "kdt": float("nan"), "undefined": reason}
    if len(predicted) < 2 or not np.isfinite(predicted).all() or np.ptp(predicted) == 0:
        return {"spr": 0.0, "kdt": 0.0}
    return {
        "spr": float(spearmanr(predicted, measured)[0]),
        "kdt": float(kendalltau(predicted, measured, variant="b")[0]),
    }


class HonestProtocol:
    """Every measured architecture of the target except the transfer samples, after the last epoch."""

    name = "honest"
    epochs_averaged = 1

    @staticmethod
    def eval_archs(measured: np.ndarray, transfer: np.ndarray) -> np.ndarray:
        return np.setdiff1d(measured, transfer, assume_unique=True)


class PaperProtocol:
    """The original code's: architectures 0..127 (transfer samples included), mean of last 4 epochs."""

    name = "paper"
    epochs_averaged = 4

    @staticmethod
    def eval_archs(measured: np.ndarray, transfer: np.ndarray) -> np.ndarray:
        return measured[measured < 128]


PROTOCOLS.register("honest")(HonestProtocol)
PROTOCOLS.register("paper")(PaperProtocol)


def list_protocols():
    """Names of the evaluation protocols."""
    return PROTOCOLS.names()
