"""From a predictor's scores to milliseconds, fit on the k measured samples of the target.

Most predictors score architectures on their own scale (NASFLAT's pairwise loss trains only the
order). A user who wants a latency constraint needs milliseconds, and the k samples are all the
target has measured, so the map is fit on them: a least-squares line ``ms = slope * score +
intercept`` over (the adapted predictor's scores of the k samples, their measured latencies). The
slope is kept at 0 or above, so the map never reverses the predicted order (at a slope of 0 every
architecture gets the samples' mean latency). A line, not isotonic regression: isotonic maps
every score beyond the samples' range to the extreme sample, which loses exactly the archs a
latency constraint is about.

Errors on the evaluated archs: MAPE (mean absolute percentage error), the median absolute
percentage error and the share of archs predicted within 10 % of their measured latency
(nn-Meter's accuracy metric).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np


@dataclass(frozen=True)
class LinearCalibration:
    """``ms = slope * score + intercept`` with ``slope >= 0``."""

    slope: float
    intercept: float

    @classmethod
    def fit(cls, scores: np.ndarray, milliseconds: np.ndarray) -> "LinearCalibration":
        """Least squares on (scores, milliseconds) of the k samples, slope clipped at 0."""
        scores = np.asarray(scores, dtype=np.float64)
        milliseconds = np.asarray(milliseconds, dtype=np.float64)
        centred = scores - scores.mean()
        spread = float(centred @ centred)
        slope = float(centred @ (milliseconds - milliseconds.mean()) / spread) if spread > 0 else 0.0
        slope = max(slope, 0.0)
        return cls(slope, float(milliseconds.mean() - slope * scores.mean()))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return self.slope * np.asarray(scores, dtype=np.float64) + self.intercept


def latency_errors(predicted_ms: np.ndarray, measured_ms: np.ndarray) -> Dict[str, float]:
    """``mape`` (mean of |predicted - measured| / measured), ``median_ape`` (their median, which a
    few readings near zero cannot blow up) and ``within10`` (share of archs whose relative error is
    at most 10 %), over archs with a positive measured latency."""
    predicted_ms = np.asarray(predicted_ms, dtype=np.float64)
    measured_ms = np.asarray(measured_ms, dtype=np.float64)
    usable = measured_ms > 0
    if not usable.any():
        return {"mape": float("nan"), "median_ape": float("nan"), "within10": float("nan")}
    relative = np.abs(predicted_ms[usable] - measured_ms[usable]) / measured_ms[usable]
    return {"mape": float(relative.mean()), "median_ape": float(np.median(relative)),
            "within10": float((relative <= 0.10).mean())}
