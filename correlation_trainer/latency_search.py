"""Latency-constrained search: the most accurate architecture under a latency budget.

The search scores every candidate (every architecture with a known accuracy) with a fitted
latency predictor and picks, per budget, the most accurate one whose latency meets it. Latencies
that were measured (the k samples, and the verification measurements) are used instead of the
predicted ones. With verification (``max_extra > 0``) candidates are measured before one is
returned: each extra measurement goes to the candidate with the largest expected gain in accuracy
over the best measured one within the budget (the chance that it meets the budget, from its
prediction and the predictor's measured error, times the accuracy it would add), the predictor is
refit on every measurement, and the search repeats until no candidate is expected to gain or the
extra measurements are spent; the pick is then always a measured architecture (the
most accurate measured one within the budget), never a predicted one. With several budgets, each
pick is made again once every budget has been searched, from all the measurements
(:func:`revise_with_every_measurement`): one budget's verifications can find another's best.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from nas_embedding_suite.errors import NasflatError


def pareto_front(latency_ms: np.ndarray, accuracy: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The candidates no other candidate beats on both latency and accuracy, fastest first."""
    candidates = np.asarray(candidates, dtype=np.int64)
    order = candidates[np.lexsort((-accuracy[candidates], latency_ms[candidates]))]
    best = np.maximum.accumulate(accuracy[order])
    keep = np.concatenate([[True], accuracy[order][1:] > best[:-1]])
    return order[keep]


def best_within(latency_ms: np.ndarray, accuracy: np.ndarray, candidates: np.ndarray,
                budget: float) -> Optional[int]:
    """The most accurate candidate with ``latency_ms <= budget`` (ties: the faster, then the lower
    index), or None when none meets it."""
    candidates = np.asarray(candidates, dtype=np.int64)
    inside = candidates[latency_ms[candidates] <= budget]
    if len(inside) == 0:
        return None
    order = np.lexsort((inside, latency_ms[inside], -accuracy[inside]))
    return int(inside[order[0]])


@dataclass
class Measurements:
    """Latencies measured on the target so far (the k samples first, then verifications)."""

    latency_ms: Dict[int, float] = field(default_factory=dict)
    verified: List[int] = field(default_factory=list)
    #: log(measured / predicted) of each verification, against the prediction made before it
    surprises: List[float] = field(default_factory=list)

    def add(self, archs: Sequence[int], values: Sequence[float], verification: bool = False) -> None:
        for arch, value in zip(archs, values):
            self.latency_ms[int(arch)] = float(value)
            if verification:
                self.verified.append(int(arch))

    @property
    def archs(self) -> np.ndarray:
        return np.fromiter(self.latency_ms, dtype=np.int64, count=len(self.latency_ms))

    @property
    def values(self) -> np.ndarray:
        return np.fromiter(self.latency_ms.values(), dtype=np.float64, count=len(self.latency_ms))


@dataclass
class Pick:
    """The search's answer for one budget."""

    budget: float
    index: Optional[int]  # None: nothing meets the budget
    predicted_ms: float
    measured_ms: float  # NaN when the pick was not measured
    verified: bool  # the pick's latency was measured (and met the budget)
    extra_measurements: int  # verification measurements this budget used


def effective_latency(predicted_ms: np.ndarray, measured: Measurements) -> np.ndarray:
    """Predicted milliseconds with the measured ones put in their place."""
    latency = np.array(predicted_ms, dtype=np.float64)
    if measured.latency_ms:
        latency[measured.archs] = measured.values
    return latency


def residual_spread(predicted_ms: np.ndarray, measured: Measurements, floor: float = 0.02) -> float:
    """The prediction error in log milliseconds: the root mean square of log(measured / predicted)
    over the verification measurements, each taken against the prediction made before it (out of
    sample), once there are two; before that the in-sample spread over the samples, doubled (an
    in-sample fit flatters itself). At least ``floor``."""
    if len(measured.surprises) >= 2:
        return float(max(np.sqrt(np.mean(np.square(measured.surprises))), floor))
    if len(measured.latency_ms) < 2:
        return 0.1
    ratios = np.log(measured.values / np.maximum(predicted_ms[measured.archs], 1e-12))
    return float(max(2 * ratios.std(), floor))


def measurement_step(values: np.ndarray) -> float:
    """The resolution of the measurements: 1 ms when every measured latency is a whole number of
    milliseconds (phones that report integer ms), else 0 (continuous readings)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) >= 5 and np.all(np.abs(values - np.round(values)) < 1e-9):
        return 1.0
    return 0.0


def expected_gain(predicted_ms: np.ndarray, accuracy: np.ndarray, archs: np.ndarray, budget: float,
                  floor: float, spread: float) -> np.ndarray:
    """For each of ``archs``: the chance that its latency meets ``budget`` (log-normal around the
    prediction with ``spread``) times the accuracy it would add over ``floor``."""
    z = (np.log(budget) - np.log(np.maximum(predicted_ms[archs], 1e-12))) / spread
    chance = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0))) if len(archs) else np.zeros(0)
    return chance * np.maximum(accuracy[archs] - floor, 0.0)


def search_budget(budget: float, accuracy: np.ndarray, candidates: np.ndarray, measured: Measurements,
                  predict: Callable[[Measurements], np.ndarray],
                  measure: Optional[Callable[[int], float]] = None, max_extra: int = 0,
                  safety: float = 1.0) -> Pick:
    """The pick for one budget (see the module docstring).

    ``predict(measured)`` returns predicted milliseconds of every architecture from a predictor
    fit on ``measured`` (called again after each verification); ``measure(index)`` times one
    architecture on the target; ``max_extra`` caps the verification measurements. Without them the
    pick is the most accurate candidate whose measured latency meets the budget or whose predicted
    latency meets it with a margin of ``safety`` prediction errors (:func:`residual_spread`; the
    most accurate of the predictions that fit are the ones most likely to be under-predicted).
    With them each measurement goes to the unmeasured candidate of the largest expected gain over
    the best measured one within the budget (:func:`expected_gain`, with the prediction error of
    :func:`residual_spread`); the pick is the most accurate measured candidate within the budget.
    """
    predicted = predict(measured)
    if max_extra == 0 or measure is None:
        shrink = np.exp(safety * residual_spread(predicted, measured)) if safety > 0 else 1.0
        latency = np.asarray(predicted, dtype=np.float64) * shrink
        if measured.latency_ms:
            latency[measured.archs] = measured.values
        pick = best_within(latency, accuracy, candidates, budget)
        if pick is None:
            return Pick(budget, None, float("nan"), float("nan"), False, 0)
        return Pick(budget, pick, float(predicted[pick]), measured.latency_ms.get(pick, float("nan")),
                    pick in measured.latency_ms, 0)
    spent = 0
    while spent < max_extra:
        best = best_measured(measured, accuracy, candidates, budget)
        floor = accuracy[best] if best is not None else float(np.nanmin(accuracy[candidates])) - 1.0
        open_ = np.setdiff1d(candidates, measured.archs)
        open_ = open_[accuracy[open_] > floor]
        reach = budget + measurement_step(measured.values) / 2  # a reading rounded down to the budget meets it
        gain = expected_gain(predicted, accuracy, open_, reach, floor, residual_spread(predicted, measured))
        if len(open_) == 0 or gain.max() <= 1e-3:
            break
        choice = int(open_[np.lexsort((open_, predicted[open_], -gain))[0]])
        value = measure(choice)
        measured.add([choice], [value], verification=True)
        measured.surprises.append(float(np.log(value / max(predicted[choice], 1e-12))))
        spent += 1
        predicted = predict(measured)
    pick = best_measured(measured, accuracy, candidates, budget)
    if pick is None:
        return Pick(budget, None, float("nan"), float("nan"), False, spent)
    return Pick(budget, pick, float(predicted[pick]), measured.latency_ms[pick], True, spent)


def best_measured(measured: Measurements, accuracy: np.ndarray, candidates: np.ndarray,
                  budget: float) -> Optional[int]:
    """The most accurate measured candidate within the budget."""
    inside = np.intersect1d(measured.archs, candidates)
    if len(inside) == 0:
        return None
    latency = np.full(len(accuracy), np.inf)
    latency[measured.archs] = measured.values
    return best_within(latency, accuracy, inside, budget)


def revise_with_every_measurement(pick: Pick, measured: Measurements, accuracy: np.ndarray,
                                  candidates: np.ndarray, predicted_ms: np.ndarray) -> Pick:
    """A verified pick made again after the other budgets' verifications: a more accurate measured
    candidate within its budget, measured while searching another budget, replaces it (those
    measurements are spent either way)."""
    best = best_measured(measured, accuracy, candidates, pick.budget)
    if best is None or (pick.index is not None and accuracy[best] <= accuracy[pick.index]):
        return pick
    return Pick(pick.budget, best, float(predicted_ms[best]), measured.latency_ms[best], True, pick.extra_measurements)


def fastest(latency_ms: np.ndarray, candidates: np.ndarray) -> int:
    """The fastest candidate."""
    candidates = np.asarray(candidates, dtype=np.int64)
    return int(candidates[np.argmin(latency_ms[candidates])])


def check_budgets(budgets: Sequence[float], latency_ms: np.ndarray, candidates: np.ndarray,
                  measured: Measurements, describe: Callable[[int], str]) -> None:
    """One clear error for a budget below the fastest candidate (by measured, else predicted ms)."""
    latency = effective_latency(latency_ms, measured)
    quickest = fastest(latency, candidates)
    kind = "measured" if quickest in measured.latency_ms else "predicted"
    for budget in budgets:
        if not np.isfinite(budget) or budget <= 0:
            raise NasflatError(f"--latency_budget {budget} is not a positive number of milliseconds")
        if budget < latency[quickest]:
            raise NasflatError(
                f"--latency_budget {budget:g} ms is below the fastest candidate, {describe(quickest)} at "
                f"{latency[quickest]:.3f} ms ({kind}); no architecture can meet it"
            )
