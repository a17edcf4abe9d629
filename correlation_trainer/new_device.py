"""Devices of one's own and published tables: device files as transfer targets, and what the run writes.

With ``--target_device_file FILE`` the trainer pretrains on the task's source devices as usual and
uses each file as a target device. Its k transfer samples come from one of three pools
(:func:`plan_targets`):

- ``space`` (the default for a file of one's own device, and for any file covering the whole
  space): :func:`choose_new_device_samples` of the sampler, k and seed over the whole space, the
  architectures that ``--choose_samples k`` lists and ``measure --sampler ... --k k`` measures; a
  file lacking one is an error that prints the ``measure`` command adding them;
- ``measured`` (``--sample_pool measured``; the default for a file imported from a published table
  that does not cover the space): the same sampler and seed, restricted to the file's architectures;
- ``--transfer_indices FILE``: the architectures the list names.

The samples are the same in every trial, and the trials' seeds do not depend on the pool. Every
other architecture of the file is held out for evaluation. A file that copies latencies across
isomorphic cells (:mod:`nas_embedding_suite.duplicates`) is deduplicated by default (``--dedupe``):
one architecture per class is sampled and evaluated. Besides the usual result CSVs, the run writes
per target the predicted latency and rank of every architecture of the space, the evaluation beside
two references (the FLOPs ranking and the closest source device's ranking) with rank correlations
and millisecond errors, and a checkpoint of the adapted predictor for
``correlation_trainer/predict.py``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from nas_embedding_suite.arch_list import read_arch_list
from nas_embedding_suite.device_file import MeasuredDevice, read_device_file
from nas_embedding_suite.duplicates import CopyReport, copy_report, distinct_held_out, one_per_class
from nas_embedding_suite.errors import NasflatError
from nas_embedding_suite.import_device import SOURCE_KEY
from nas_embedding_suite.output_files import atomic_write_text, check_output_file
from nas_embedding_suite.samplers import choose_new_device_samples, measures_while_choosing

from .checkpoint import AdaptedPredictor, latency_map
from .evaluation import rank_correlations
from .experiment import ExperimentConfig
from .latency_calibration import LinearCalibration, latency_errors
from .predictors.base import display_name
from .results import TransferResult, write_csv
from .task_data import TaskData, closest_source

CHECKPOINT_FOLDER = "predictor"
SAMPLE_POOLS = ("measured", "space")
#: readings below this share of a device's median latency (or below 1 us) make MAPE meaningless
TINY_SHARE = 0.01
TINY_MS = 1e-3


def load_measured(paths: Sequence[str], space) -> List[MeasuredDevice]:
    """Read and check every device file (one-line errors name the file and line).

    A file whose latencies are all equal is refused: it holds no ranking to learn or evaluate.
    """
    devices = [read_device_file(Path(p), space) for p in paths]
    for device in devices:
        if np.ptp(device.latency_ms) == 0:
            raise NasflatError(
                f"{device.path}: all {len(device.latency_ms)} latencies are {device.latency_ms[0]:g} ms; "
                "a device whose architectures all take the same time has no ranking to predict"
            )
    return devices


def measure_command(device: MeasuredDevice, config: ExperimentConfig, k: int) -> str:
    """The command that measures the k transfer samples of ``device`` into its file."""
    return (f"python -m nas_embedding_suite measure --space {config.space} --device-name {device.name} "
            f"--sampler {config.sampling_metric} --k {k} --seed {config.seed} --out {device.path}")


def is_imported(device: MeasuredDevice) -> bool:
    """Whether the file was written by ``import-device`` from a published table (its header
    records the source's sha256)."""
    return SOURCE_KEY in device.metadata


def subset(device: MeasuredDevice, keep: np.ndarray) -> MeasuredDevice:
    """``device`` with only the rows where ``keep`` is True."""
    return replace(device, indices=device.indices[keep], latency_ms=device.latency_ms[keep])


@dataclass
class TargetPlan:
    """How one device file is used: its pool, its k samples, and the rows sampled and evaluated."""

    device: MeasuredDevice  # as read from the file
    used: MeasuredDevice  # the rows sampled and evaluated (one per class when deduplicated)
    pool: str  # "space", "measured" or "list" (--transfer_indices)
    samples: Dict[int, np.ndarray]  # k -> the k samples
    copies: CopyReport
    dedupe: bool
    notes: List[str] = field(default_factory=list)


def default_pool(device: MeasuredDevice, space) -> Tuple[str, str]:
    """(pool, why) when ``--sample_pool`` is not given."""
    covered = len(device.indices)
    if covered == space.num_archs:
        return "space", "the file covers the whole space"
    if is_imported(device):
        return "measured", (f"the file is imported from a published table and covers {covered} of "
                            f"{space.num_archs} architectures")
    return "space", "a file of your own device: measure what it lacks"


def _check_budget(device: MeasuredDevice, k: int) -> None:
    if len(device.indices) < k + 2:
        raise NasflatError(
            f"{device.path} has {len(device.indices)} architectures to sample and evaluate; k={k} transfer "
            "samples and an evaluation need at least k + 2 (measure some random architectures too)"
        )


def file_lookup(device: MeasuredDevice, config: ExperimentConfig, k: int):
    """A sequential sampler's ``measure`` on a device file: the file's latency of an arch, which
    replays the choice that ``measure --sampler`` made while timing; an error naming the command
    when the file lacks the arch."""
    latency = dict(zip(device.indices.tolist(), device.latency_ms.tolist()))

    def measure(index: int) -> float:
        if index not in latency:
            raise NasflatError(
                f"{device.path} lacks architecture {index}, which the {config.sampling_metric} sampler "
                f"chooses given the file's earlier measurements; measure with: {measure_command(device, config, k)}"
            )
        return latency[index]
    return measure


def _space_samples(device: MeasuredDevice, config: ExperimentConfig, space, k: int) -> np.ndarray:
    chosen = choose_new_device_samples(space, k, config.sampling_metric, config.sampling_method, config.seed,
                                       measure=file_lookup(device, config, k))
    missing = chosen[~np.isin(chosen, device.indices)]
    if len(missing):
        raise NasflatError(
            f"{device.path} lacks {len(missing)} of the {k} transfer samples (e.g. architecture "
            f"{missing[0]}); measure them with: {measure_command(device, config, k)} "
            "(or choose the samples among the file's architectures: --sample_pool measured)"
        )
    return chosen


def plan_targets(space, measured: Sequence[MeasuredDevice], config: ExperimentConfig,
                 sample_pool: Optional[str] = None, transfer_indices: Optional[np.ndarray] = None,
                 dedupe: Optional[bool] = None) -> List[TargetPlan]:
    """The pool, samples and evaluated rows of every device file (see the module docstring).

    ``dedupe`` None: on when the file copies latencies across isomorphic cells. With the space pool
    or a list the samples are chosen first and represent their classes; with the measured pool the
    samples are drawn among the classes' representatives (lowest index).
    """
    classes = space.function_classes
    plans = []
    for device in measured:
        copies = copy_report(classes, device.indices, device.latency_ms)
        deduplicate = copies.copied if dedupe is None else bool(dedupe)
        notes = [f"{device.name} ({device.path}): {copies.describe()}"]
        if transfer_indices is not None:
            pool, why = "list", "--transfer_indices"
        elif sample_pool is not None:
            pool, why = sample_pool, "--sample_pool"
        else:
            pool, why = default_pool(device, space)
        samples: Dict[int, np.ndarray] = {}
        used = device
        if pool == "measured":
            if deduplicate:
                used = subset(device, one_per_class(classes, device.indices))
            for k in config.transfer_sample_sizes:
                _check_budget(used, k)
                samples[k] = choose_new_device_samples(space, k, config.sampling_metric, config.sampling_method,
                                                       config.seed, pool=used.indices,
                                                       measure=file_lookup(used, config, k))
        else:
            for k in config.transfer_sample_sizes:
                if pool == "list":
                    missing = transfer_indices[~np.isin(transfer_indices, device.indices)]
                    if len(missing):
                        raise NasflatError(f"{device.path} lacks {len(missing)} of the {len(transfer_indices)} "
                                           f"--transfer_indices architectures (e.g. architecture {missing[0]})")
                    samples[k] = np.sort(transfer_indices)
                else:
                    samples[k] = _space_samples(device, config, space, k)
                _check_budget(device, k)
            if deduplicate:
                chosen = np.unique(np.concatenate(list(samples.values())))
                used = subset(device, one_per_class(classes, device.indices, prefer=chosen))
                for k in samples:
                    _check_budget(used, k)
        notes.append(f"  sample pool: {pool} ({why}); seed {config.seed}, sampler {config.sampling_metric}")
        if copies.copied or dedupe is not None:
            state = "on" if deduplicate else "off"
            reason = ("the default when copies are detected" if dedupe is None and copies.copied
                      else "--dedupe" if dedupe else "--no-dedupe")
            notes.append(f"  dedupe {state} ({reason}): {len(used.indices)} architectures sampled and evaluated"
                         + (f", one per isomorphism class; {len(device.indices) - len(used.indices)} copies left out"
                            if deduplicate else ", copies included"))
        plans.append(TargetPlan(device, used, pool, samples, copies, deduplicate, notes))
    return plans


def read_transfer_indices(path: Path, space) -> np.ndarray:
    """The architectures of a ``--transfer_indices`` file (one index or arch string per line),
    each listed once."""
    indices = read_arch_list(path, space)
    if not indices:
        raise NasflatError(f"--transfer_indices {path} lists no architectures")
    if len(set(indices)) != len(indices):
        twice = next(i for i in indices if indices.count(i) > 1)
        raise NasflatError(f"--transfer_indices {path} lists architecture {twice} twice")
    return np.asarray(indices, dtype=np.int64)


def fixed_transfer_samples(data: TaskData, measured: Sequence[MeasuredDevice],
                           config: ExperimentConfig) -> Dict[Tuple[int, int], np.ndarray]:
    """``{(target, k): samples}`` for the measured targets of ``data`` drawn over the whole space
    (the ``space`` pool); an error when a file lacks one."""
    plans = plan_targets(data.space, measured, config, sample_pool="space", dedupe=False)
    return {(target, k): samples for target, plan in zip(data.target_devices, plans)
            for k, samples in plan.samples.items()}


def write_choice(space, config: ExperimentConfig, k: int, path: Optional[Path] = None) -> str:
    """The k architectures to measure on a new device as ``index,arch`` lines (written to ``path``)."""
    if measures_while_choosing(config.sampling_metric):
        raise NasflatError(
            f"the {config.sampling_metric} sampler chooses each architecture from the latencies measured "
            f"before it, so it cannot list them in advance; measure and choose at once with: python -m "
            f"nas_embedding_suite measure --space {config.space} --device-name NAME --sampler "
            f"{config.sampling_metric} --k {k} --seed {config.seed}"
        )
    chosen = choose_new_device_samples(space, k, config.sampling_metric, config.sampling_method, config.seed)
    lines = ["index,arch"] + [f"{i},{space.arch_str(i)}" for i in chosen]
    text = "\n".join(lines) + "\n"
    if path is not None:
        atomic_write_text(check_output_file(path, "--write_indices"), text)
    return text


def millisecond_errors(predicted_ms: np.ndarray, measured_ms: np.ndarray) -> Dict[str, float]:
    """MAPE, median APE and within-10 % of predicted milliseconds on the evaluated architectures."""
    errors = latency_errors(predicted_ms, measured_ms)
    return {"mape": errors["mape"], "median_ape": errors["median_ape"], "within10": errors["within10"]}


def _calibrated_errors(scores: np.ndarray, samples: np.ndarray, eval_archs: np.ndarray,
                       truth_row: np.ndarray) -> Dict[str, float]:
    """Errors of ``scores`` (over the whole space) turned into ms by the line fit on the k samples."""
    calibration = LinearCalibration.fit(scores[samples], truth_row[samples])
    return millisecond_errors(calibration(scores[eval_archs]), truth_row[eval_archs])


def _reference_rows(data: TaskData, target: int, samples: np.ndarray, eval_archs: np.ndarray,
                    truth: np.ndarray) -> List[Dict[str, object]]:
    truth_row = data.table.values[target]
    flops = np.asarray(data.space.flops, dtype=np.float64)
    source = closest_source(data, target, samples)
    latency = data.table.values[source].astype(np.float64)
    latency = np.where(np.isnan(latency), np.nanmedian(latency), latency)
    return [
        {"ranking": "flops", **rank_correlations(flops[eval_archs], truth),
         **_calibrated_errors(flops, samples, eval_archs, truth_row)},
        {"ranking": f"closest source ({data.device_name(source)})",
         **rank_correlations(data.table.values[source, eval_archs], truth),
         **_calibrated_errors(latency, samples, eval_archs, truth_row)},
    ]


def tiny_readings_warning(device: MeasuredDevice) -> Optional[str]:
    """A warning when some readings are so close to zero that MAPE is meaningless, else None."""
    median = float(np.median(device.latency_ms))
    limit = max(TINY_MS, TINY_SHARE * median)
    tiny = device.latency_ms < limit
    if not tiny.any():
        return None
    return (f"  warning: {int(tiny.sum())} readings of {device.name} are below {limit:.3g} ms (the smallest "
            f"{device.latency_ms.min():.3g} ms, the median {median:.3g} ms): MAPE divides by them and means "
            "little here; read the median APE and within-10% instead")


def write_new_device_outputs(config: ExperimentConfig, data: TaskData, measured: Sequence[MeasuredDevice],
                             results: Sequence[TransferResult], out_dir: Path,
                             plans: Optional[Sequence[TargetPlan]] = None) -> str:
    """Predictions of the whole space, evaluation with references and the checkpoint; a text report.

    ``data`` is the CPU task data with the measured targets; ``results`` the run's transfers, with
    their fine-tuned weights kept; ``plans`` (:func:`plan_targets`) say which rows were left out as
    copies (role ``copy`` in the predictions).
    """
    all_archs = np.arange(data.space.num_archs)
    classes = data.space.function_classes
    predictor = AdaptedPredictor(config, data.task.label, list(data.task.devices), {}, {})
    evaluation: List[Dict[str, object]] = []
    report: List[str] = []
    k = config.transfer_sample_sizes[0]
    for position, (target, device) in enumerate(zip(data.target_devices, measured)):
        plan = plans[position] if plans is not None else None
        name = device.name
        runs = sorted((r for r in results if r.target == name), key=lambda r: r.trial)
        predictor.states[name] = [r.model_state for r in runs]
        samples = runs[0].transfer_archs
        predictor.targets[name] = {"device_index": target, "file": str(device.path),
                                   "transfer_archs": samples.tolist(), "score_mean": [], "score_std": []}
        raw = predictor.raw_scores(predictor.models(data, name), data, all_archs, name)
        mean, std = raw.mean(axis=1), raw.std(axis=1)
        std = np.where(std > 0, std, 1.0)
        predictor.targets[name].update(score_mean=mean.tolist(), score_std=std.tolist())
        scores = ((raw - mean[:, None]) / std[:, None]).mean(axis=0)
        truth_row = data.table.values[target]
        predictor.targets[name]["latency_map"] = latency_map(scores[samples], truth_row[samples])
        predicted_ms = predictor.latency_ms(scores, name)

        eval_archs = runs[0].eval_archs
        truth = truth_row[eval_archs]
        trial_spr = np.array([r.spr for r in runs])
        trial_kdt = np.array([r.kdt for r in runs])
        trial_errors = pd.DataFrame([_calibrated_errors(row, samples, eval_archs, truth_row) for row in raw])
        method = display_name(config.predictor)
        rows = [{"ranking": f"{method}, mean of {len(runs)} trial(s)", "spr": trial_spr.mean(),
                 "kdt": trial_kdt.mean(), "spr_std": trial_spr.std(ddof=1) if len(runs) > 1 else 0.0,
                 "kdt_std": trial_kdt.std(ddof=1) if len(runs) > 1 else 0.0, **trial_errors.mean().to_dict()}]
        if len(runs) > 1:
            rows.append({"ranking": f"{method}, ensemble of {len(runs)} trials",
                         **rank_correlations(scores[eval_archs], truth),
                         **millisecond_errors(predicted_ms[eval_archs], truth)})
        rows += _reference_rows(data, target, samples, eval_archs, truth)
        distinct = distinct_held_out(classes, eval_archs, truth, samples, truth_row[samples])
        for row in rows:
            evaluation.append({"target_device": name, "file": str(device.path), "k": k,
                               "n_eval": len(eval_archs), "n_eval_distinct": distinct,
                               "sample_pool": plan.pool if plan else "space",
                               "dedupe": plan.dedupe if plan else False, **row})

        role = np.full(len(all_archs), "", dtype=object)
        measured_ms = truth_row.copy()
        if plan is not None and plan.dedupe:
            copies = np.setdiff1d(plan.device.indices, plan.used.indices)
            role[copies] = "copy"
            measured_ms[plan.device.indices] = plan.device.latency_ms
        role[eval_archs] = "held_out"
        role[samples] = "transfer_sample"
        frame = pd.DataFrame({
            "index": all_archs, "arch": [data.space.arch_str(i) for i in all_archs], "score": scores,
            "predicted_latency_ms": predicted_ms, "measured_latency_ms": measured_ms, "role": role,
        })
        frame.insert(2, "rank", frame["score"].rank(method="first").astype(int))
        path = out_dir / f"{name}_predictions.csv"
        write_csv(frame.sort_values("rank"), path)

        report.append(f"{name} ({device.path}): k = {k} transfer samples, {len(eval_archs)} held-out "
                      f"architectures ({distinct} distinct measurements)")
        width = max(len(str(r["ranking"])) for r in rows)
        for row in rows:
            spread = f" +- {row['spr_std']:.3f}" if "spr_std" in row and len(runs) > 1 else ""
            report.append(f"  {str(row['ranking']).ljust(width)}  spearman {row['spr']:.3f}{spread}"
                          f"  kendall {row['kdt']:.3f}  MAPE {100 * row['mape']:.1f}%"
                          f"  median APE {100 * row['median_ape']:.1f}%  within 10% {100 * row['within10']:.0f}%")
        warning = tiny_readings_warning(device)
        if warning:
            report.append(warning)
        report.append(f"  predicted latency of all {len(all_archs)} architectures: {path}")
    folder = predictor.save(out_dir / CHECKPOINT_FOLDER)
    write_csv(pd.DataFrame(evaluation), out_dir / "new_device_evaluation.csv")
    report.append(f"adapted predictor: {folder} (python correlation_trainer/predict.py --checkpoint {folder} "
                  "--archs ...)")
    return "\n".join(report)
