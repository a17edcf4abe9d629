"""One experiment: for each trial and source size, pretrain on the sources, then transfer to each
target with k samples and evaluate. Each (trial, source size) unit is saved on its own, so an
interrupted run resumes where it stopped."""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from scipy.stats import spearmanr
from tqdm import tqdm

from nas_embedding_suite.errors import NasflatError

from .evaluation import PROTOCOLS, rank_correlations
from .models import NASFLATModel
from .results import load_unit, save_unit
from .samplers import SamplingContext, build_sampler
from .task_data import TaskData
from .training import FitSettings, fit, predict


@dataclass(frozen=True)
class ExperimentConfig:
    """Every setting that influences the numbers (recorded in each result row)."""

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
    sampling_metric: str = "flops"
    sampling_method: str = "kmeancosine"
    source_sampon: bool = True
    eval_protocol: str = "honest"
    device: str = "cpu"

    def run_key(self, num_trials: int) -> str:
        """Hash identifying a whole run (its result rows replace those of an identical earlier run)."""
        text = json.dumps({**asdict(self), "num_trials": num_trials}, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def unit_key(self, trial: int, source_size: int) -> str:
        """Hash of everything that determines one (trial, source size) unit's numbers."""
        settings = asdict(self)
        settings.pop("sample_sizes")
        settings.pop("transfer_sample_sizes")
        settings.update(trial=trial, source_size=source_size, ks=list(self.transfer_sample_sizes))
        text = json.dumps(settings, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class TransferResult:
    """One fine-tune on one target with k samples, evaluated."""

    trial: int
    source_size: int
    k: int
    target: str
    spr: float
    kdt: float
    n_eval: int
    hw_source: str
    transfer_archs: np.ndarray
    eval_archs: np.ndarray
    predicted: np.ndarray
    measured: np.ndarray
    model_state: Optional[Dict[str, torch.Tensor]] = None  # the fine-tuned weights, when kept


def _seed_sequence(*parts: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts])


def _torch_generator(seq: np.random.SeedSequence) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(int(seq.generate_state(1, dtype=np.uint64)[0] & 0x7FFFFFFFFFFFFFFF))
    return generator


def closest_source(data: TaskData, target: int, archs: np.ndarray) -> int:
    """The source device whose latencies on ``archs`` have the highest Spearman with the target's."""
    measured = data.targets[target, archs]
    best, best_rho = data.source_devices[0], -np.inf
    for source in data.source_devices:
        values = data.targets[source, archs]
        both = ~np.isnan(values) & ~np.isnan(measured)
        if both.sum() < 2 or np.ptp(values[both]) == 0 or np.ptp(measured[both]) == 0:
            continue
        rho = spearmanr(values[both], measured[both])[0]
        if rho > best_rho:
            best, best_rho = source, rho
    return best


def build_predictor(config: ExperimentConfig, data: TaskData, num_devices: int) -> NASFLATModel:
    """A freshly initialised NASFLAT model for ``config`` on ``data``'s space and encoding."""
    supp_dim = 0 if data.supplementary is None else data.supplementary.shape[1]
    return NASFLATModel(
        num_ops=len(data.space.node_op_names),
        num_devices=num_devices,
        gnn_type=config.gnn_type,
        ensemble_fuse_method=config.ensemble_fuse_method,
        hwemb_to_mlp=config.hwemb_to_mlp,
        supp_dim=supp_dim,
        dropout=config.dropout,
    )


class Experiment:
    """Runs an :class:`ExperimentConfig` on a task's data, trial by trial."""

    def __init__(self, config: ExperimentConfig, data: TaskData, unit_dir: Optional[Path] = None,
                 show_progress: bool = True,
                 transfer_samples: Optional[Dict[Tuple[int, int], np.ndarray]] = None,
                 keep_models: bool = False):
        """``transfer_samples[(target, k)]``, when given, are the k samples of that target in every
        trial instead of the sampler's choice (measured device files); ``keep_models`` keeps each
        fine-tuned model's weights in its :class:`TransferResult`."""
        self.config = config
        self.transfer_samples = dict(transfer_samples or {})
        self.keep_models = keep_models
        self.data = data
        self.unit_dir = unit_dir
        self.show_progress = show_progress
        self.protocol = PROTOCOLS.get(config.eval_protocol)
        self.sampler = build_sampler(config.sampling_metric, config.sampling_method)
        self.torch_device = torch.device(config.device)
        self._vectors: Dict[str, np.ndarray] = {}  # encodings the sampler loaded, shared by all draws
        for k in config.transfer_sample_sizes:
            data.check_budget(k)
        self.data = data.to(self.torch_device)

    def build_model(self) -> NASFLATModel:
        """A freshly initialised predictor for this task (seed it before calling)."""
        return build_predictor(self.config, self.data, len(self.data.task.devices)).to(self.torch_device)

    def unit_epochs(self, source_size: int) -> int:
        """Epochs one (trial, source size) unit trains (for the progress bar)."""
        c = self.config
        transfers = len(self.data.target_devices) * len(c.transfer_sample_sizes)
        return (c.epochs if source_size > 0 else 0) + transfers * c.transfer_epochs

    def total_epochs(self, trials: Sequence[int]) -> int:
        """Epochs the whole run will train (for the progress bar)."""
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
        """Pretrain once, transfer to every target and k; reuse a saved unit when present."""
        c = self.config
        key = c.unit_key(trial, source_size)
        path = None
        if self.unit_dir is not None:
            path = self.unit_dir / f"{c.space}_{self.data.task.label}_t{trial}_s{source_size}_{key}.npz"
            saved = load_unit(path)
            if saved is not None:
                bar.update(self.unit_epochs(source_size))
                return saved
        pretrained = self.pretrain(trial, source_size, bar)
        results = []
        for target in self.data.target_devices:
            for k in c.transfer_sample_sizes:
                results.append(self.transfer(pretrained, trial, source_size, target, k, bar))
        if path is not None:
            save_unit(path, results, {**asdict(c), "trial": trial, "source_size": source_size})
        return results

    def pretrain(self, trial: int, source_size: int, bar) -> Dict[str, torch.Tensor]:
        """Initialise (seeded) and pretrain on ``source_size`` archs of every source device."""
        c = self.config
        seq = _seed_sequence(c.seed, trial, source_size, 0)
        torch.manual_seed(int(seq.generate_state(1)[0]))
        model = self.build_model()
        if source_size > 0:
            rng = np.random.default_rng(seq.spawn(1)[0])
            pool = self.data.measured_on_all(self.data.source_devices)
            if source_size > len(pool):
                raise NasflatError(
                    f"--sample_sizes {source_size} exceeds the {len(pool)} architectures measured on "
                    "every source device"
                )
            if c.source_sampon:
                mean_source = np.nanmean(self.data.table.values[self.data.source_devices], axis=0)
                context = SamplingContext(self.data.space, mean_source, self._vectors)
                archs = self.sampler(pool, source_size, rng, context)
            else:
                archs = rng.choice(pool, size=source_size, replace=False)
            devices = np.repeat(self.data.source_devices, len(archs))
            all_archs = np.tile(archs, len(self.data.source_devices))
            settings = FitSettings(c.epochs, c.lr, c.batch_size, c.weight_decay, c.eta_min)
            fit(model, self.data, all_archs, devices, settings, _torch_generator(seq),
                progress=bar.update)
        return copy.deepcopy(model.state_dict())

    def transfer(self, pretrained, trial: int, source_size: int, target: int, k: int, bar) -> TransferResult:
        """Choose k samples on ``target``, fine-tune from ``pretrained`` and evaluate."""
        c = self.config
        seq = _seed_sequence(c.seed, trial, source_size, 1, target, k)
        rng = np.random.default_rng(seq)
        measured = self.data.measured(target)
        context = SamplingContext(self.data.space, self.data.table.values[target], self._vectors)
        if (target, k) in self.transfer_samples:
            archs = np.asarray(self.transfer_samples[(target, k)], dtype=np.int64)
        else:
            archs = np.asarray(self.sampler(measured, k, rng, context), dtype=np.int64)
        if len(np.unique(archs)) != k:
            raise NasflatError(f"sampler {c.sampling_metric} returned duplicate architectures")

        torch.manual_seed(int(seq.generate_state(1)[0]))
        model = self.build_model()
        model.load_state_dict(pretrained)
        hw_source = "-"
        if c.transfer_hwemb:
            source = closest_source(self.data, target, archs)
            model.copy_hardware_embedding(source, target)
            hw_source = self.data.device_name(source)

        eval_archs = self.protocol.eval_archs(measured, archs)
        truth = self.data.table.values[target, eval_archs]
        scores_per_epoch: List[np.ndarray] = []

        def evaluate(epoch: int) -> None:
            if epoch >= c.transfer_epochs - self.protocol.epochs_averaged:
                scores_per_epoch.append(predict(model, self.data, eval_archs, target))

        settings = FitSettings(c.transfer_epochs, c.transfer_lr, c.transfer_batch_size or k,
                               c.weight_decay, c.eta_min)
        fit(model, self.data, archs, np.full(k, target), settings, _torch_generator(seq),
            on_epoch_end=evaluate, progress=bar.update)
        if not scores_per_epoch:  # zero fine-tuning epochs: evaluate the pretrained model
            scores_per_epoch.append(predict(model, self.data, eval_archs, target))
        metrics = [rank_correlations(s, truth) for s in scores_per_epoch]
        return TransferResult(
            trial=trial, source_size=source_size, k=k, target=self.data.device_name(target),
            spr=float(np.mean([m["spr"] for m in metrics])),
            kdt=float(np.mean([m["kdt"] for m in metrics])),
            n_eval=len(eval_archs), hw_source=hw_source, transfer_archs=archs,
            eval_archs=eval_archs, predicted=scores_per_epoch[-1], measured=truth,
            model_state={n: t.detach().cpu().clone() for n, t in model.state_dict().items()}
            if self.keep_models else None,
        )
