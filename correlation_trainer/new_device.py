"""Devices of one's own: measured device files as transfer targets, and what the run writes.

With ``--target_device_file FILE`` the trainer pretrains on the task's source devices as usual and
uses each file as a target device. Its k transfer samples are not drawn from the file: they are
:func:`choose_new_device_samples` of the sampler, k and seed, the architectures that
``--choose_samples k`` lists and ``measure --sampler ... --k k`` measures, the same in every trial.
Every other architecture of the file is held out for evaluation. Besides the usual result CSVs,
the run writes per target the predicted latency and rank of every architecture of the space, the
evaluation beside two references (the FLOPs ranking and the closest source device's ranking), and
a checkpoint of the adapted predictor for ``correlation_trainer/predict.py``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from nas_embedding_suite.device_file import MeasuredDevice, read_device_file
from nas_embedding_suite.errors import NasflatError
from nas_embedding_suite.output_files import atomic_write_text, check_output_file
from nas_embedding_suite.samplers import choose_new_device_samples

from .checkpoint import AdaptedPredictor, latency_map
from .evaluation import rank_correlations
from .experiment import ExperimentConfig
from .predictors.base import display_name
from .results import TransferResult, write_csv
from .task_data import TaskData, closest_source

CHECKPOINT_FOLDER = "predictor"


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


def fixed_transfer_samples(data: TaskData, measured: Sequence[MeasuredDevice],
                           config: ExperimentConfig) -> Dict[Tuple[int, int], np.ndarray]:
    """``{(target, k): samples}`` for the measured targets of ``data``; an error when a file lacks one."""
    samples = {}
    for k in config.transfer_sample_sizes:
        chosen = choose_new_device_samples(data.space, k, config.sampling_metric, config.sampling_method,
                                           config.seed)
        for target, device in zip(data.target_devices, measured):
            missing = chosen[~np.isin(chosen, device.indices)]
            if len(missing):
                raise NasflatError(
                    f"{device.path} lacks {len(missing)} of the {k} transfer samples (e.g. architecture "
                    f"{missing[0]}); measure them with: {measure_command(device, config, k)}"
                )
            if len(device.indices) < k + 2:
                raise NasflatError(
                    f"{device.path} has {len(device.indices)} measurements; k={k} transfer samples and an "
                    "evaluation need at least k + 2 (measure some random architectures too)"
                )
            samples[(target, k)] = chosen
    return samples


def write_choice(space, config: ExperimentConfig, k: int, path: Optional[Path] = None) -> str:
    """The k architectures to measure on a new device as ``index,arch`` lines (written to ``path``)."""
    chosen = choose_new_device_samples(space, k, config.sampling_metric, config.sampling_method, config.seed)
    lines = ["index,arch"] + [f"{i},{space.arch_str(i)}" for i in chosen]
    text = "\n".join(lines) + "\n"
    if path is not None:
        atomic_write_text(check_output_file(path, "--write_indices"), text)
    return text




def _reference_rows(data: TaskData, target: int, samples: np.ndarray, eval_archs: np.ndarray,
                    truth: np.ndarray) -> List[Dict[str, object]]:
    flops = rank_correlations(data.space.flops[eval_archs], truth)
    source = closest_source(data, target, samples)
    closest = rank_correlations(data.table.values[source, eval_archs], truth)
    return [
        {"ranking": "flops", **flops},
        {"ranking": f"closest source ({data.device_name(source)})", **closest},
    ]


def write_new_device_outputs(config: ExperimentConfig, data: TaskData, measured: Sequence[MeasuredDevice],
                             results: Sequence[TransferResult], out_dir: Path) -> str:
    """Predictions of the whole space, evaluation with references and the checkpoint; a text report.

    ``data`` is the CPU task data with the measured targets; ``results`` the run's transfers, with
    their fine-tuned weights kept.
    """
    all_archs = np.arange(data.space.num_archs)
    predictor = AdaptedPredictor(config, data.task.label, list(data.task.devices), {}, {})
    evaluation: List[Dict[str, object]] = []
    report: List[str] = []
    k = config.transfer_sample_sizes[0]
    for target, device in zip(data.target_devices, measured):
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
        method = display_name(config.predictor)
        rows = [{"ranking": f"{method}, mean of {len(runs)} trial(s)", "spr": trial_spr.mean(),
                 "kdt": trial_kdt.mean(), "spr_std": trial_spr.std(ddof=1) if len(runs) > 1 else 0.0,
                 "kdt_std": trial_kdt.std(ddof=1) if len(runs) > 1 else 0.0}]
        if len(runs) > 1:
            rows.append({"ranking": f"{method}, ensemble of {len(runs)} trials",
                         **rank_correlations(scores[eval_archs], truth)})
        rows += _reference_rows(data, target, samples, eval_archs, truth)
        for row in rows:
            evaluation.append({"target_device": name, "file": str(device.path), "k": k,
                               "n_eval": len(eval_archs), **row})

        role = np.full(len(all_archs), "", dtype=object)
        role[eval_archs] = "held_out"
        role[samples] = "transfer_sample"
        frame = pd.DataFrame({
            "index": all_archs, "arch": [data.space.arch_str(i) for i in all_archs], "score": scores,
            "predicted_latency_ms": predicted_ms, "measured_latency_ms": truth_row, "role": role,
        })
        frame.insert(2, "rank", frame["score"].rank(method="first").astype(int))
        path = out_dir / f"{name}_predictions.csv"
        write_csv(frame.sort_values("rank"), path)

        report.append(f"{name} ({device.path}): k = {k} transfer samples, {len(eval_archs)} held-out "
                      f"architectures")
        width = max(len(str(r["ranking"])) for r in rows)
        for row in rows:
            spread = f" +- {row['spr_std']:.3f}" if "spr_std" in row and len(runs) > 1 else ""
            report.append(f"  {str(row['ranking']).ljust(width)}  spearman {row['spr']:.3f}{spread}"
                          f"  kendall {row['kdt']:.3f}")
        report.append(f"  predicted latency of all {len(all_archs)} architectures: {path}")
    folder = predictor.save(out_dir / CHECKPOINT_FOLDER)
    write_csv(pd.DataFrame(evaluation), out_dir / "new_device_evaluation.csv")
    report.append(f"adapted predictor: {folder} (python correlation_trainer/predict.py --checkpoint {folder} "
                  "--archs ...)")
    return "\n".join(report)
