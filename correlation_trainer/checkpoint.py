"""An adapted predictor: the fine-tuned NASFLAT model(s) of measured devices, saved and reloaded.

A checkpoint is a folder with two files:

- ``predictor.pt``: ``{"states": {target name: [state_dict of trial 0, trial 1, ...]}}`` (each
  target is fine-tuned from the pretrained model on its own samples; for ``roofline`` and
  ``roofline_prior`` a state is ``{"coefficients": ...}``, the fit on the cost totals), written
  with ``torch.save`` and read back with ``weights_only=True``;
- ``predictor.json``: the :class:`ExperimentConfig`, the task, the device names in hardware
  embedding order (sources, then the measured targets) and, per target, its device index, each
  trial's score mean and standard deviation over the whole space, the transfer samples and the
  map from score to milliseconds.

Scores: each trial's model scores an architecture; the score is standardised with that trial's
mean and standard deviation over the whole space, and the standardised scores are averaged over
trials (an ensemble; with one trial, just the standardised score). Higher means slower.

Milliseconds: ``latency_ms = exp(intercept + slope * score)``, a least-squares line of log latency
on score over the k transfer samples (the only measurements the predictor has seen). When that
slope is not positive, the line matching the mean and standard deviation of the two is used
instead, so the map always increases and never changes the ranking.
"""
from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import torch

from nas_embedding_suite.errors import DataError, NasflatError, one_line
from nas_embedding_suite.safe_loading import load_torch_file

from .experiment import ExperimentConfig
from .predictors import build_nasflat_model, list_predictors
from .predictors.base import predictor_class
from .predictors.roofline import roofline_design
from .task_data import TaskData
from .training import predict

STATES_FILE = "predictor.pt"
CONFIG_FILE = "predictor.json"


def checkpoint_predictors() -> List[str]:
    """Every predictor a checkpoint can hold (``--target_device_file`` accepts these): those whose
    class declares a ``checkpoint_kind``."""
    return [name for name in list_predictors() if predictor_class(name).checkpoint_kind is not None]


class CostLinearModel:
    """An adapted roofline predictor: milliseconds = design matrix of the cost totals @ coefficients."""

    def __init__(self, coefficients: torch.Tensor):
        self.coefficients = np.asarray(coefficients, dtype=np.float64)

    def score(self, data: TaskData, archs: np.ndarray) -> np.ndarray:
        return roofline_design(data.space)[np.asarray(archs, dtype=np.int64)] @ self.coefficients


def latency_map(scores: np.ndarray, latency_ms: np.ndarray) -> Dict[str, float]:
    """Intercept and (positive) slope of log latency on score (see the module docstring)."""
    x, y = np.asarray(scores, dtype=np.float64), np.log(np.asarray(latency_ms, dtype=np.float64))
    slope = intercept = None
    if len(x) >= 2 and np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
    if slope is None or slope <= 0:
        spread = x.std()
        slope = y.std() / spread if spread > 0 else 1.0
        intercept = y.mean() - slope * x.mean()
    return {"intercept": float(intercept), "slope": float(slope)}


@dataclass
class AdaptedPredictor:
    """Fine-tuned weights (one per trial) and what turns their outputs into ranked milliseconds."""

    config: ExperimentConfig
    task_label: str
    devices: List[str]  # hardware-embedding order: sources, then targets
    targets: Dict[str, Dict[str, object]]  # name -> device_index, score_mean/std, samples, map
    states: Dict[str, List[Dict[str, torch.Tensor]]] = field(default_factory=dict)

    def models(self, data: TaskData, name: str) -> List[torch.nn.Module]:
        """The fine-tuned models of target ``name``, one per trial, on the CPU."""
        self.target(name)
        mismatch = (f"the weights of checkpoint target '{name}' do not fit a {self.config.space} "
                    f"{self.config.predictor} model (was {CONFIG_FILE} edited or copied from another run?)")
        if predictor_class(self.config.predictor).checkpoint_kind == "linear":
            columns = roofline_design(data.space).shape[1]
            models = []
            for state in self.states[name]:
                coefficients = state.get("coefficients") if isinstance(state, dict) else None
                if not isinstance(coefficients, torch.Tensor) or tuple(coefficients.shape) != (columns,):
                    raise DataError(mismatch)
                models.append(CostLinearModel(coefficients))
            return models
        models = []
        for state in self.states[name]:
            model = build_nasflat_model(self.config, data, len(self.devices))
            try:
                model.load_state_dict(state)
            except (RuntimeError, TypeError, KeyError):
                raise DataError(mismatch) from None
            models.append(model)
        return models

    def target(self, name: str) -> Dict[str, object]:
        """The record of target ``name``; an error lists the valid names."""
        if name not in self.targets:
            raise NasflatError(f"the predictor has no target '{name}'; valid: {', '.join(self.targets)}")
        return self.targets[name]

    def raw_scores(self, models: Sequence[torch.nn.Module], data: TaskData, archs: np.ndarray,
                   name: str) -> np.ndarray:
        """[trials, len(archs)] model outputs for target ``name``."""
        index = int(self.target(name)["device_index"])
        return np.stack([m.score(data, archs) if isinstance(m, CostLinearModel) else predict(m, data, archs, index)
                         for m in models]).astype(np.float64)

    def scores(self, models: Sequence[torch.nn.Module], data: TaskData, archs: np.ndarray,
               name: str) -> np.ndarray:
        """Ensemble scores (mean over trials of standardised outputs) of ``archs`` on ``name``."""
        record = self.target(name)
        raw = self.raw_scores(models, data, archs, name)
        mean = np.asarray(record["score_mean"])[:, None]
        std = np.asarray(record["score_std"])[:, None]
        return ((raw - mean) / std).mean(axis=0)

    def latency_ms(self, scores: np.ndarray, name: str) -> np.ndarray:
        """Predicted milliseconds of ensemble ``scores`` on ``name``."""
        mapping = self.target(name)["latency_map"]
        return np.exp(mapping["intercept"] + mapping["slope"] * np.asarray(scores))

    def save(self, folder: Path) -> Path:
        """Write ``predictor.pt`` and ``predictor.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"states": self.states}, folder / STATES_FILE)
        record = {
            "config": asdict(self.config), "task": self.task_label, "devices": self.devices,
            "targets": self.targets, "torch": torch.__version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        (folder / CONFIG_FILE).write_text(json.dumps(record, indent=1, default=list) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, path: Path) -> "AdaptedPredictor":
        """Read a checkpoint folder (or either of its two files)."""
        path = Path(path)
        folder = path if path.is_dir() else path.parent
        config_path = folder / CONFIG_FILE
        if not config_path.is_file():
            raise DataError(f"no predictor checkpoint at {path} ({CONFIG_FILE} is missing)")
        try:
            record = json.loads(config_path.read_text(encoding="utf-8"))
            stored = dict(record["config"])
            stored["predictor_options"] = tuple(tuple(pair) for pair in stored.get("predictor_options", ()))
            config = ExperimentConfig(**stored)
            devices, targets, task = list(record["devices"]), dict(record["targets"]), str(record["task"])
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{config_path} is not a predictor checkpoint: {one_line(str(exc))[:160]}") from None
        stored = load_torch_file(folder / STATES_FILE)
        states = stored.get("states") if isinstance(stored, dict) else None
        if not isinstance(states, dict) or any(not isinstance(states.get(t), list) or not states[t] for t in targets):
            raise DataError(f"{folder / STATES_FILE} does not hold the weights of every target of {config_path}")
        return cls(config, task, devices, targets, states)
