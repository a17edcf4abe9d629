"""One experiment: for each trial and source size, pretrain on the sources, then transfer to each
target with k samples and evaluate. Each (trial, source size) unit is saved on its own, so an
interrupted run resumes where it stopped."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm

from nas_embedding_suite.errors import NasflatError
from nas_embedding_suite.samplers import SamplingContext, build_sampler

from .evaluation import PROTOCOLS, rank_correlations
from .latency_calibration import LinearCalibration, latency_errors
from .predictors import PREDICTORS, Adaptation, FewShotPredictor
from .predictors.base import predictor_options
from .pretrained_store import PretrainedStore, pretraining_settings
from .results import TransferResult, load_unit, save_unit
from .task_data import TaskData


def own_settings() -> Dict[str, List[str]]:
    """Settings only some methods read (their declared options that are not in every run key):
    name -> the methods that read it. The others leave them out of their run key, and a row of
    another method that recorded one is no variant of it."""
    return {name: readers for name, (option, readers) in predictor_options().items()
            if not option.in_every_run_key}


@dataclass(frozen=True)
class ExperimentConfig:
    """Every setting that influences the numbers (recorded in each result row)."""

    predictor: str = "nasflat"
    space: str = "nb201"
    task_index: int = 0
    representation: str = "adj_gin"
    graph_mode: str = "compute"
    sample_sizes: Sequence[int] = (16,)
    transfer_sample_sizes: Sequence[int] = (5, 10, 20)
    seed: int = 0
    epochs: int = 150
    lr: float = 1e-3
    weight_decay: float = 1e-5
    eta_min: float = 1e-6
    batch_size: int = 128
    transfer_lr: float = 3e-3
    transfer_epochs: int = 40
    transfer_batch_size: Optional[int] = None  # None: all k samples in one batch
    transfer_hwemb: bool = True
    hwemb_to_mlp: bool = False
    gnn_type: str = "ensemble"
    ensemble_fuse_method: str = "add"
    dropout: float = 0.1
    supp_dropout: Optional[float] = None  # the encoding MLP's dropout; None: the same as dropout
    # independent pretrainings (and fine-tunes) on the same source archs and k samples, whose
    # standardised scores are averaged (1: a single model)
    ensemble_size: int = 1
    sampling_metric: str = "flops"
    sampling_method: str = "kmeancosine"
    source_sampon: bool = True
    meta_episodes: int = 2000  # HELP's meta-training episodes
    plus_parts: Sequence[str] = ("base",)  # NASFLAT+'s parts (--plus_parts); the ablation's best
    # The k target samples are drawn with the seed of (seed, trial, source size, target, k); with
    # this set, of this source size instead (baselines take the samples of NASFLAT's default run).
    sample_seed_size: Optional[int] = None
    eval_protocol: str = "honest"
    device: str = "cpu"
    # values of declared predictor options that have no field above, as sorted (name, value) pairs
    predictor_options: Tuple[Tuple[str, object], ...] = ()

    def option(self, name: str):
        """The value of predictor option ``name`` (a field, or one of ``predictor_options``)."""
        if name in _FIELDS:
            return getattr(self, name)
        values = dict(self.predictor_options)
        if name not in values:
            raise KeyError(f"no predictor option '{name}' in this configuration")
        return values[name]

    def settings(self) -> dict:
        """Every setting as a dict; ``predictor_options`` flattened in, left out when empty."""
        settings = asdict(self)
        options = settings.pop("predictor_options")
        settings.update({name: value for name, value in options})
        return settings

    def _hashed(self) -> dict:
        settings = self.settings()
        for name, readers in own_settings().items():
            if self.predictor not in readers:
                settings.pop(name, None)
        # fields added after results were first saved are left out at their defaults, so that
        # earlier runs keep their keys
        for name, default in (("predictor", "nasflat"), ("sample_seed_size", None), ("supp_dropout", None),
                              ("ensemble_size", 1)):
            if settings[name] == default:
                del settings[name]
        return settings

    def run_key(self, num_trials: int) -> str:
        """Hash identifying a whole run (its result rows replace those of an identical earlier run)."""
        text = json.dumps({**self._hashed(), "num_trials": num_trials}, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def unit_key(self, trial: int, source_size: int) -> str:
        """Hash of everything that determines one (trial, source size) unit's numbers."""
        settings = self._hashed()
        settings.pop("sample_sizes")
        settings.pop("transfer_sample_sizes")
        settings.update(trial=trial, source_size=source_size, ks=list(self.transfer_sample_sizes))
        text = json.dumps(settings, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


_FIELDS = frozenset(f.name for f in fields(ExperimentConfig))


def _seed_sequence(*parts: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts])


def member_seed(seq: np.random.SeedSequence, member: int) -> np.random.SeedSequence:
    """The seeds of ensemble member ``member``: ``seq`` itself for member 0 (so that a single model
    is member 0 of every ensemble), else an independent child of it (spawn keys from 1000 up, clear
    of the children ``seq.spawn`` hands out)."""
    if member == 0:
        return seq
    return np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, 1000 + member))


class Experiment:
    """Runs an :class:`ExperimentConfig` on a task's data, trial by trial, with the predictor
    ``config.predictor`` (see :mod:`correlation_trainer.predictors`)."""

    def __init__(self, config: ExperimentConfig, data: TaskData, unit_dir: Optional[Path] = None,
                 show_progress: bool = True,
                 transfer_samples: Optional[Dict[Tuple[int, int], np.ndarray]] = None,
                 keep_models: bool = False, pretrained_store: Optional[PretrainedStore] = None,
                 check_budget: bool = True):
        """``transfer_samples[(target, k)]``, when given, are the k samples of that target in every
        trial instead of the sampler's choice (measured device files); ``keep_models`` keeps each
        fine-tuned model's weights in its :class:`TransferResult`; ``pretrained_store``, when
        given, supplies pretrainings an earlier run already did and keeps new ones; ``check_budget``
        False lets a target hold only its k samples (fitting without evaluating, as the API does)."""
        self.config = config
        self.pretrained_store = pretrained_store
        self.transfer_samples = dict(transfer_samples or {})
        self.keep_models = keep_models
        self.unit_dir = unit_dir
        self.show_progress = show_progress
        self.protocol = PROTOCOLS.get(config.eval_protocol)
        self.sampler = build_sampler(config.sampling_metric, config.sampling_method)
        self.torch_device = torch.device(config.device)
        self._vectors: Dict[str, np.ndarray] = {}  # encodings the sampler loaded, shared by all draws
        self._prior_cache: Dict[str, object] = {}  # the design samplers' source prior, shared likewise
        self._source_latency: Optional[np.ndarray] = None
        for k in config.transfer_sample_sizes if check_budget else ():
            data.check_budget(k)
        self.data = data.to(self.torch_device)
        self.predictor: FewShotPredictor = PREDICTORS.get(config.predictor)(
            config, self.data, self.torch_device)

    def unit_epochs(self, source_size: int) -> int:
        """Progress steps one (trial, source size) unit reports."""
        c = self.config
        transfers = len(self.data.target_devices) * len(c.transfer_sample_sizes)
        pretraining = self.predictor.pretrain_epochs() if source_size > 0 else 0
        return c.ensemble_size * (pretraining + transfers * self.predictor.adapt_epochs())

    def total_epochs(self, trials: Sequence[int]) -> int:
        """Progress steps the whole run reports."""
        return len(trials) * sum(self.unit_epochs(s) for s in self.config.sample_sizes)

    def run(self, trials: Sequence[int]) -> List[TransferResult]:
        """Run (or load from finished units) every trial and source size."""
        results: List[TransferResult] = []
        with tqdm(total=self.total_epochs(trials), desc=f"{self.data.task.label} trials",
                  unit="epoch", disable=not self.show_progress, leave=False) as bar:
            for trial in trials:
                for source_size in self.config.sample_sizes:
                    results.extend(self.run_unit(trial, source_size, bar))
        return results

    def run_unit(self, trial: int, source_size: int, bar) -> List[TransferResult]:
        """Pretrain once (once per ensemble member), transfer to every target and k; reuse a saved
        unit when present."""
        c = self.config
        key = c.unit_key(trial, source_size)
        path = None
        if self.unit_dir is not None:
            prefix = "" if c.predictor == "nasflat" else f"{c.predictor}_"
            path = self.unit_dir / f"{prefix}{c.space}_{self.data.task.label}_t{trial}_s{source_size}_{key}.npz"
            saved = load_unit(path)
            if saved is not None:
                bar.update(self.unit_epochs(source_size))
                return saved
        pretrained = [self.pretrain(trial, source_size, bar, member) for member in range(c.ensemble_size)]
        results = []
        for target in self.data.target_devices:
            for k in c.transfer_sample_sizes:
                results.append(self.transfer(pretrained, trial, source_size, target, k, bar))
        if path is not None:
            save_unit(path, results, {**asdict(c), "trial": trial, "source_size": source_size})
        return results

    def source_archs(self, source_size: int, rng: np.random.Generator) -> np.ndarray:
        """The shared source set: ``source_size`` archs measured on every source device."""
        c = self.config
        pool = self.data.measured_on_all(self.data.source_devices)
        if source_size > len(pool):
            raise NasflatError(
                f"--sample_sizes {source_size} exceeds the {len(pool)} architectures measured on "
                "every source device"
            )
        if c.source_sampon:
            mean_source = np.nanmean(self.data.table.values[self.data.source_devices], axis=0)
            context = SamplingContext(self.data.space, mean_source, self._vectors, predictor=self.predictor,
                                      measure=lambda arch: float(mean_source[arch]))  # source latencies are free
            return self.sampler(pool, source_size, rng, context)
        return rng.choice(pool, size=source_size, replace=False)

    def pretrain(self, trial: int, source_size: int, bar, member: int = 0):
        """Choose the source set (seeded) and let the predictor pretrain on it (or take the same
        pretraining from the store). Every ensemble ``member`` has the same source set and its own
        initialisation and batch order."""
        seq = _seed_sequence(self.config.seed, trial, source_size, 0)
        store = self.pretrained_store if source_size > 0 and self.predictor.pretrains else None
        if store is not None:
            settings = pretraining_settings(self.config, trial, source_size, self.data, member)
            key = store.key(settings)
            state = store.load(key)
            if state is not None:
                bar.update(self.predictor.pretrain_epochs())
                return state
        archs = np.zeros(0, dtype=np.int64)
        if source_size > 0 and self.predictor.pretrains:
            archs = self.source_archs(source_size, np.random.default_rng(seq.spawn(1)[0]))
        state = self.predictor.pretrain(np.asarray(archs, dtype=np.int64), member_seed(seq, member), bar.update)
        if store is not None:
            store.save(key, state, settings)
        return state

    def choose_samples(self, trial: int, source_size: int, target: int, k: int,
                       state=None) -> Tuple[np.ndarray, np.random.SeedSequence]:
        """The k samples of ``target`` in this trial (the fixed ones when given, else the sampler's
        seeded choice among its measured archs, which may look at the predictor and its pretrained
        ``state``) and the seed sequence of their adaptation."""
        c = self.config
        seed_size = source_size if c.sample_seed_size is None else c.sample_seed_size
        seq = _seed_sequence(c.seed, trial, seed_size, 1, target, k)
        rng = np.random.default_rng(seq)
        if (target, k) in self.transfer_samples:
            archs = np.asarray(self.transfer_samples[(target, k)], dtype=np.int64)
        else:
            latencies = self.data.table.values
            if self._source_latency is None:  # the design samplers' prior reads them; copied once
                self._source_latency = latencies[self.data.source_devices]
            context = SamplingContext(self.data.space, latencies[target], self._vectors,
                                      predictor=self.predictor, state=state,
                                      source_latency=self._source_latency,
                                      measure=lambda arch: float(latencies[target, arch]),
                                      prior_cache=self._prior_cache)
            archs = np.asarray(self.sampler(self.data.measured(target), k, rng, context), dtype=np.int64)
        if len(np.unique(archs)) != k:
            raise NasflatError(f"sampler {c.sampling_metric} returned duplicate architectures")
        return archs, seq

    def adapt_members(self, pretrained: Sequence, target: int, archs: np.ndarray, score_archs: np.ndarray,
                      seq: np.random.SeedSequence, bar) -> Adaptation:
        """Adapt each pretrained ensemble member to ``target`` from its latencies on ``archs`` and
        score ``score_archs``; the members' average (or the single member)."""
        members = [self.predictor.adapt(state, target, archs, score_archs, member_seed(seq, member),
                                        self.protocol.epochs_averaged, self.keep_models, bar.update)
                   for member, state in enumerate(pretrained)]
        return members[0] if len(members) == 1 else Adaptation.average(members)

    def transfer(self, pretrained: Sequence, trial: int, source_size: int, target: int, k: int,
                 bar) -> TransferResult:
        """Choose k samples on ``target``, let the predictor adapt each pretrained ensemble member
        (``pretrained``: one state per member) to them, and evaluate the members' average."""
        archs, seq = self.choose_samples(trial, source_size, target, k, pretrained[0])
        eval_archs = self.protocol.eval_archs(self.data.measured(target),
                                              np.union1d(archs, self.predictor.known_archs()))
        truth = self.data.table.values[target, eval_archs]
        adapted = self.adapt_members(pretrained, target, archs, eval_archs, seq, bar)
        metrics = [rank_correlations(s, truth) for s in adapted.scores]
        errors = {"mape": float("nan"), "within10": float("nan")}
        if adapted.sample_scores is not None:
            calibration = LinearCalibration.fit(adapted.sample_scores, self.data.table.values[target, archs])
            found = latency_errors(calibration(adapted.scores[-1]), truth)
            errors = {name: found[name] for name in errors}
        return TransferResult(
            trial=trial, source_size=source_size, k=k, target=self.data.device_name(target),
            spr=float(np.mean([m["spr"] for m in metrics])),
            kdt=float(np.mean([m["kdt"] for m in metrics])),
            n_eval=len(eval_archs), hw_source=adapted.hw_source, transfer_archs=archs,
            eval_archs=eval_archs, predicted=adapted.scores[-1], measured=truth,
            model_state=adapted.model_state, **errors,
        )
