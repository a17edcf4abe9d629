"""The Python API: a few-shot latency predictor to call from your own NAS code.

    from correlation_trainer.api import LatencyPredictor

    predictor = LatencyPredictor("roofline", space="nb201", task="ND")
    archs = predictor.choose_samples(20)                  # what to measure on the new device
    predictor.fit("my_phone", archs=archs, latency_ms=measured_ms)
    ms = predictor.predict(range(15625))                  # milliseconds of any architectures
    predictor.save("my_phone_predictor")
    predictor = LatencyPredictor.load("my_phone_predictor")

Any registered predictor works (``list_predictors()``). Fitting runs exactly what ``main.py
--target_device_file`` runs: pretraining on the task's source devices (kept in and reused from
``pretrained_dir`` when given), then adaptation to the k measured architectures, ``trials`` times
with the trial seeds of ``main.py``; the trials' standardised scores are averaged, and mapped to
milliseconds by a log-linear fit on the k measurements (higher score, slower). Because a search
space is finite, the fitted predictor is stored as its score of every architecture of the space
with that map: ``save`` writes them with ``torch.save`` and ``load`` reads them with
``weights_only=True``, and ``predict`` is a look-up (the whole NB201 space in milliseconds).
"""
from __future__ import annotations

import datetime
import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np
import torch
from tqdm import tqdm

from nas_embedding_suite.data_directory import DataDirectory
from nas_embedding_suite.device_file import MeasuredDevice, read_device_file
from nas_embedding_suite.devices import list_devices
from nas_embedding_suite.errors import DataError, NasflatError
from nas_embedding_suite.latency_table import load_latency_table
from nas_embedding_suite.output_files import atomic_write_bytes, atomic_write_text
from nas_embedding_suite.safe_loading import load_torch_file
from nas_embedding_suite.samplers import choose_new_device_samples
from nas_embedding_suite.spaces import get_space
from nas_embedding_suite.tasks import TaskSuite

from .checkpoint import latency_map
from .code_version import git_commit
from .configuration import build_config
from .experiment import Experiment, ExperimentConfig
from .predictors import predictor_class
from .pretrained_store import PretrainedStore
from .representations import encoding_of
from .task_data import TaskData

Architectures = Union[Iterable[Union[int, str]], np.ndarray]
STATE_FILE = "latency_predictor.pt"
RECORD_FILE = "latency_predictor.json"


class LatencyPredictor:
    """A latency predictor for one device: ``fit`` on k measured architectures, then ``predict``
    milliseconds of any architectures of the space.

    ``predictor``: a registered predictor name; ``task``: a task label or index whose source
    devices it pretrains on; ``settings``: any flag of ``main.py`` that names a setting
    (``epochs=50``, ``sampling_metric="params"``, a predictor's own options), the rest at the
    command line's defaults.
    """

    def __init__(self, predictor: str = "roofline", space: str = "nb201", task: Union[str, int] = "ND", *,
                 trials: int = 1, seed: int = 0, data_dir: Optional[str] = None,
                 pretrained_dir: Optional[str] = None, progress: bool = False, **settings):
        if trials < 1:
            raise NasflatError("trials must be at least 1")
        self.data_dir = DataDirectory.resolve(data_dir)
        self.space = get_space(space, self.data_dir)
        self.task = TaskSuite.load().resolve(space, task)
        self.predictor_name = predictor
        self.trials = trials
        self.seed = seed
        self.settings = settings
        self.pretrained_dir = pretrained_dir
        self.progress = progress
        build_config(predictor, space, self.task.index, seed=seed, **settings)  # bad settings fail here
        self.config: Optional[ExperimentConfig] = None
        self.device_name: Optional[str] = None
        self.samples: Optional[np.ndarray] = None
        self.sample_latency_ms: Optional[np.ndarray] = None
        self.space_scores: Optional[np.ndarray] = None
        self.mapping: Optional[dict] = None

    # ------------------------------------------------------------------ choosing and fitting

    @property
    def sampling_metric(self) -> str:
        """The sampler ``choose_samples`` uses (the setting, else the space's default)."""
        return build_config(self.predictor_name, self.space.name, self.task.index, **self.settings).sampling_metric

    def choose_samples(self, k: int, sampling_metric: Optional[str] = None,
                       pool: Optional[Architectures] = None,
                       measure: Optional[Callable[[int], float]] = None) -> np.ndarray:
        """The k architectures to measure on a new device: the sampler over the whole space (or
        over ``pool``, e.g. the architectures a published table covers) with this predictor's seed,
        exactly as ``main.py --choose_samples k`` lists them. The ``sequential`` sampler chooses
        while measuring: give ``measure(index) -> ms`` (your timing of one architecture)."""
        metric = sampling_metric or self.settings.get("sampling_metric")
        config = build_config(self.predictor_name, self.space.name, self.task.index, seed=self.seed,
                              **{**self.settings, "sampling_metric": metric})
        within = None if pool is None else self._indices(pool)
        return choose_new_device_samples(self.space, k, config.sampling_metric, config.sampling_method, self.seed,
                                         pool=within, measure=measure)

    def reference_archs(self) -> np.ndarray:
        """Architectures this predictor needs measured on the device besides the k samples (HELP's
        reference architectures; empty for most predictors): measure them too, they count as spent."""
        return np.asarray(predictor_class(self.predictor_name).reference_archs(self.space), dtype=np.int64)

    def fit(self, device: Union[str, Path, MeasuredDevice], archs: Optional[Architectures] = None,
            latency_ms: Optional[Sequence[float]] = None) -> "LatencyPredictor":
        """Adapt to a device from k measured architectures; returns ``self``.

        ``device`` is one of: a name with ``latency_ms`` measured on ``archs`` (your own
        measurements); a device file (``measure``'s CSV; its rows are the measurements, or only
        those of ``archs``); a benchmark device of this space, whose published latencies of
        ``archs`` stand in for measurements (it must not be a source device of the task).
        """
        measured = self._measurements(device, archs, latency_ms)
        k = len(measured.indices)
        if k < 2:
            raise NasflatError("fit needs at least 2 measured architectures")
        missing = np.setdiff1d(self.reference_archs(), measured.indices)  # checked before any building
        if len(missing):
            raise NasflatError(f"--predictor {self.predictor_name} also needs the latencies of its {len(missing)} "
                               f"reference architectures on the device (e.g. {missing[0]}); measure them too")
        config = build_config(self.predictor_name, self.space.name, self.task.index, seed=self.seed,
                              **{**self.settings, "transfer_sample_sizes": (k,)})
        data = TaskData.build(self.task, self.space, encoding_of(config.representation), config.graph_mode)
        data = data.with_measured_targets([measured])
        target = data.target_devices[0]
        store = PretrainedStore(Path(self.pretrained_dir)) if self.pretrained_dir else None
        experiment = Experiment(config, data, show_progress=False, transfer_samples={(target, k): measured.indices},
                                pretrained_store=store, check_budget=False)
        every_arch = np.arange(self.space.num_archs)
        source_size = config.sample_sizes[0]
        scores = []
        with tqdm(total=experiment.total_epochs(range(self.trials)), desc="fit", unit="epoch",
                  disable=not self.progress, leave=False) as bar:
            for trial in range(self.trials):
                state = experiment.pretrain(trial, source_size, bar)
                samples, seq = experiment.choose_samples(trial, source_size, target, k, state)
                raw = np.asarray(experiment.adapt_members([state], target, samples, every_arch, seq, bar).scores[-1],
                                 dtype=np.float64)
                spread = raw.std()
                scores.append((raw - raw.mean()) / (spread if spread > 0 else 1.0))
        self.space_scores = np.mean(scores, axis=0)
        self.config, self.device_name = config, measured.name
        self.samples, self.sample_latency_ms = measured.indices.copy(), measured.latency_ms.copy()
        self.mapping = latency_map(self.space_scores[self.samples], self.sample_latency_ms)
        return self

    def _measurements(self, device, archs, latency_ms) -> MeasuredDevice:
        if isinstance(device, MeasuredDevice):
            measured = device
        elif latency_ms is not None:
            if archs is None:
                raise NasflatError("latency_ms needs the archs it was measured on")
            indices = self._indices(archs, unique=True)
            values = np.asarray(latency_ms, dtype=np.float64)
            if values.shape != indices.shape:
                raise NasflatError(f"{len(indices)} archs but {values.size} latencies")
            if not np.all(np.isfinite(values)) or np.any(values <= 0):
                raise NasflatError("latencies must be positive finite milliseconds")
            return MeasuredDevice(str(device), self.space.name, indices, values)
        elif str(device) in {d.name for d in list_devices(self.space.name)}:
            if archs is None:
                raise NasflatError(f"name the architectures whose published {device} latencies stand in for "
                                   "measurements (archs=..., e.g. choose_samples(k))")
            indices = self._indices(archs, unique=True)
            values = load_latency_table(self.space, [str(device)]).latencies(str(device))[indices]
            if np.isnan(values).any():
                raise NasflatError(f"{device} has no published latency for architecture "
                                   f"{indices[np.isnan(values)][0]}")
            return MeasuredDevice(str(device), self.space.name, indices, values)
        elif Path(device).is_file():
            measured = read_device_file(Path(device), self.space)
        else:
            raise NasflatError(f"'{device}' is neither a device file nor a {self.space.name} device; "
                               "for your own measurements pass latency_ms=... with archs=...")
        if archs is not None:
            indices = self._indices(archs, unique=True)
            position = {int(i): p for p, i in enumerate(measured.indices)}
            absent = [int(i) for i in indices if int(i) not in position]
            if absent:
                raise NasflatError(f"{measured.path or measured.name} has no measurement of architecture {absent[0]}")
            rows = np.asarray([position[int(i)] for i in indices])
            measured = MeasuredDevice(measured.name, measured.space, indices, measured.latency_ms[rows],
                                      measured.metadata, measured.path)
        return measured

    def _indices(self, archs: Architectures, unique: bool = False) -> np.ndarray:
        """Indices of ``archs`` (indices or arch strings); an error for a bad one, and with
        ``unique`` for a repeated one."""
        if isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
            indices = archs.astype(np.int64).ravel()
            if len(indices) and (indices.min() < 0 or indices.max() >= self.space.num_archs):
                bad = indices[(indices < 0) | (indices >= self.space.num_archs)][0]
                self.space.check_index(int(bad))
        else:
            indices = np.asarray([self.space.resolve_arch(a) for a in archs], dtype=np.int64)
        if unique and len(np.unique(indices)) != len(indices):
            values, counts = np.unique(indices, return_counts=True)
            raise NasflatError(f"architecture {values[counts > 1][0]} is given twice; measure each once")
        return indices

    # ------------------------------------------------------------------ predicting

    def _fitted(self) -> None:
        if self.space_scores is None:
            raise NasflatError("the predictor is not fitted yet: call fit(...) or LatencyPredictor.load(...)")

    def scores(self, archs: Architectures) -> np.ndarray:
        """Scores of ``archs`` (higher = slower; standardised, averaged over trials)."""
        self._fitted()
        return self.space_scores[self._indices(archs)]

    def predict(self, archs: Architectures) -> np.ndarray:
        """Predicted milliseconds of ``archs`` (indices or arch strings) on the fitted device."""
        scores = self.scores(archs)
        return np.exp(self.mapping["intercept"] + self.mapping["slope"] * scores)

    # ------------------------------------------------------------------ saving and loading

    def save(self, folder: Union[str, Path]) -> Path:
        """Write the fitted predictor into ``folder`` (a tensor file and a JSON record)."""
        self._fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"scores": torch.from_numpy(self.space_scores), "samples": torch.from_numpy(self.samples),
                   "sample_latency_ms": torch.from_numpy(self.sample_latency_ms)}
        atomic_write_bytes(folder / STATE_FILE, lambda stream: torch.save(tensors, stream))
        record = {"config": asdict(self.config), "task": self.task.label, "device": self.device_name,
                  "trials": self.trials, "latency_map": self.mapping, "settings": self.settings,
                  "code_commit": git_commit(), "torch": torch.__version__,
                  "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        atomic_write_text(folder / RECORD_FILE, json.dumps(record, indent=1, default=list) + "\n")
        return folder

    @classmethod
    def load(cls, folder: Union[str, Path], data_dir: Optional[str] = None) -> "LatencyPredictor":
        """A predictor saved by :meth:`save` (tensors read with ``weights_only=True``)."""
        folder = Path(folder)
        path = folder / RECORD_FILE
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            config = dict(record["config"])
            space, task, trials = config["space"], record["task"], int(record["trials"])
            mapping = {"intercept": float(record["latency_map"]["intercept"]),
                       "slope": float(record["latency_map"]["slope"])}
        except FileNotFoundError:
            raise DataError(f"no saved latency predictor in {folder} ({RECORD_FILE} is missing)") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path} is not a saved latency predictor: {exc}") from None
        predictor = cls(config["predictor"], space=space, task=task, trials=trials, seed=int(config["seed"]),
                        data_dir=data_dir, **record.get("settings", {}))
        stored = load_torch_file(folder / STATE_FILE)
        try:
            scores = stored["scores"].numpy().astype(np.float64)
            samples = stored["samples"].numpy().astype(np.int64)
            sample_ms = stored["sample_latency_ms"].numpy().astype(np.float64)
        except (TypeError, KeyError, AttributeError):
            raise DataError(f"{folder / STATE_FILE} does not hold a latency predictor's tensors") from None
        if scores.shape != (predictor.space.num_archs,):
            raise DataError(f"{folder / STATE_FILE} scores {scores.size} architectures, not the "
                            f"{predictor.space.num_archs} of {space}")
        config["predictor_options"] = tuple(tuple(pair) for pair in config.get("predictor_options", ()))
        for name in ("sample_sizes", "transfer_sample_sizes", "plus_parts"):
            config[name] = tuple(config[name])
        predictor.config = ExperimentConfig(**config)
        predictor.device_name = record["device"]
        predictor.space_scores, predictor.samples, predictor.sample_latency_ms = scores, samples, sample_ms
        predictor.mapping = mapping
        return predictor
