"""Latency-constrained NAS: the most accurate architecture under each latency budget.

    python correlation_trainer/search.py --task_index ND --target_device pixel2 \\
        --latency_budget 14 18 22 --objective cifar100 --k 20 --verify 5
    python correlation_trainer/search.py --task_index ND --target_device_file measurements/nb201_my_cpu.csv \\
        --latency_budget 4 6 --verify 3                 # times verification picks on this machine
    python correlation_trainer/search.py --checkpoint results/my_cpu/predictor --latency_budget 5

A predictor of the registry (``--predictor``, fit on ``--k`` samples chosen by
``--sampling_metric`` as in ``main.py --choose_samples``) predicts the latency of every candidate
(every architecture with an accuracy: ``--objective`` reads NB201's published test accuracies,
``--accuracy_file`` any space's), and the most accurate candidate within each budget is picked
(measured latencies replace predicted ones). ``--verify M`` measures each pick (a table look-up on
a benchmark device, real timing on this machine's own device), refits on every measurement and
searches again, until the pick's measured latency meets the budget or M extra measurements are
spent; the pick is then a measured architecture. On benchmark devices, whose every latency is
known, each result row also records the pick's true latency, whether it breaks the budget, the
oracle (the most accurate candidate that truly meets it) and the regret. Writes
``<out_dir>/<name_desc>/search_picks.csv``, ``search_front.csv`` (the predicted Pareto front),
``search.png`` (accuracy against latency) and prints a summary. Errors are one line (exit status 2).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from correlation_trainer.api import LatencyPredictor
from correlation_trainer.checkpoint import AdaptedPredictor
from correlation_trainer.code_version import code_fingerprint, git_commit
from correlation_trainer.configuration import add_predictor_options, setting_names
from correlation_trainer.cpu_setup import configure_cpu
from correlation_trainer.latency_search import (
    Measurements, best_within, check_budgets, pareto_front, revise_with_every_measurement, search_budget,
)
from correlation_trainer.predictors import list_predictors
from correlation_trainer.representations import encoding_of
from correlation_trainer.results import merge_csv, write_csv
from correlation_trainer.task_data import TaskData
from nas_embedding_suite.data_directory import ENV_VAR, DataDirectory
from nas_embedding_suite.device_file import read_device_file
from nas_embedding_suite.devices import list_devices
from nas_embedding_suite.errors import ArgumentParser, NasflatError, read_text_file, run_reporting_errors
from nas_embedding_suite.latency_table import load_latency_table
from nas_embedding_suite.output_files import atomic_write_bytes, check_output_folder
from nas_embedding_suite.samplers import list_sampling_metrics
from nas_embedding_suite.spaces import get_space, list_spaces
from nas_embedding_suite.tasks import TaskSuite

#: --objective names and the NB201 accuracy columns they read
OBJECTIVES = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16": "imagenet16_120"}


def build_parser() -> argparse.ArgumentParser:
    """Every flag, with its default and meaning."""
    p = ArgumentParser(prog="python correlation_trainer/search.py", description=__doc__.split("\n")[0],
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--space", default="nb201", choices=list_spaces(), help="search space")
    p.add_argument("--task_index", default="ND", help="task (label or index) whose source devices the predictor "
                                                      "pretrains on")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--target_device", help="a benchmark device of the space (its table stands in for "
                                                "measurements, and scores the picks)")
    target.add_argument("--target_device_file", help="a device file measured with `measure` (own device)")
    target.add_argument("--checkpoint", help="an adapted predictor saved by main.py --target_device_file")
    budgets = p.add_mutually_exclusive_group(required=True)
    budgets.add_argument("--latency_budget", type=float, nargs="+", metavar="MS",
                         help="latency budgets in milliseconds")
    budgets.add_argument("--budget_percentiles", type=float, nargs="+", metavar="P",
                         help="--target_device only: budgets at these percentiles (0-100) of the device's "
                              "latencies over the candidates (an experiment design, not a measurement)")
    p.add_argument("--predictor", default="roofline", choices=list_predictors(),
                   help="the latency predictor (roofline: best measured at k = 20 on the benchmark tasks)")
    p.add_argument("--k", type=int, default=20, help="measured samples the predictor is fit on")
    p.add_argument("--sampling_metric", "--sampling-metric", dest="sampling_metric", default=None,
                   choices=list_sampling_metrics(), help="sampler of the k samples. Default: the space's")
    p.add_argument("--seed", type=int, default=0, help="base seed (trial t draws with seed + t)")
    p.add_argument("--num_trials", type=int, default=1, help="trials, each with its own k samples")
    p.add_argument("--objective", default=None, choices=list(OBJECTIVES),
                   help="NB201 test accuracy to maximise (default: cifar100 unless --accuracy_file)")
    p.add_argument("--accuracy_file", default=None, help="CSV of index or arch, accuracy (any space)")
    p.add_argument("--verify", type=int, default=0, metavar="M",
                   help="measure-and-refit: at most M extra measurements per budget")
    p.add_argument("--safety", type=float, default=1.0,
                   help="without --verify: a predicted latency must meet the budget with this many prediction "
                        "errors to spare (the error measured on the samples); 0 = none")
    p.add_argument("--epochs", type=int, default=None, help="pretraining epochs of learned predictors")
    add_predictor_options(p)
    p.add_argument("--pretrained_dir", default=None,
                   help="pretrained weights kept and reused (default: <out_dir>/pretrained; 'none': kept nowhere)")
    p.add_argument("--name_desc", default=None, help="results subfolder. Default: search_<predictor>")
    p.add_argument("--out_dir", default="results", help="results folder")
    p.add_argument("--data_dir", default=None, help=f"data directory (default: ${ENV_VAR}, ./data, ../shared/data)")
    p.add_argument("--trust_modified_data", action="store_true",
                   help="use data files that differ from SHA256SUMS with a warning instead of refusing them")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch CPU threads")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")
    p.add_argument("--no_plot", action="store_true", help="no PNG")
    return p


def read_accuracy_file(path: str, space) -> np.ndarray:
    """Accuracy per architecture (NaN where the file has none) from ``index or arch, accuracy`` lines."""
    lines = [line for line in read_text_file(path, "accuracy file").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    accuracy = np.full(space.num_archs, np.nan)
    seen: Dict[int, int] = {}
    for number, line in enumerate(lines, 1):
        cells = [c.strip() for c in line.rsplit(",", 1)]
        if number == 1 and len(cells) == 2 and cells[0] in ("index", "arch"):
            continue
        if len(cells) != 2:
            raise NasflatError(f"{path} line {number}: expected 'index or arch,accuracy'")
        try:
            index = space.resolve_arch(cells[0])
        except NasflatError as exc:
            raise NasflatError(f"{path} line {number}: {exc}") from None
        try:
            value = float(cells[1])
        except ValueError:
            raise NasflatError(f"{path} line {number}: accuracy '{cells[1][:30]}' is not a number") from None
        if not math.isfinite(value):
            raise NasflatError(f"{path} line {number}: accuracy {cells[1]} is not finite")
        if index in seen:
            raise NasflatError(f"{path} lists architecture {index} twice (lines {seen[index]} and {number})")
        seen[index] = number
        accuracy[index] = value
    if not seen:
        raise NasflatError(f"{path} lists no architectures")
    return accuracy


def objective_accuracy(args: argparse.Namespace, space) -> np.ndarray:
    """The accuracy to maximise, per architecture (NaN: not a candidate)."""
    if args.accuracy_file:
        if args.objective:
            raise NasflatError("give --objective or --accuracy_file, not both")
        return read_accuracy_file(args.accuracy_file, space)
    if not space.has_accuracies:
        raise NasflatError(f"the {space.name} space has no published accuracies; pass --accuracy_file CSV")
    return space.accuracies[OBJECTIVES[args.objective or "cifar100"]].to_numpy(dtype=np.float64)


class Target:
    """The device searched for: how to measure an architecture on it, and the truth where known."""

    def __init__(self, args: argparse.Namespace, space):
        self.space = space
        self.truth: Optional[np.ndarray] = None  # every latency (benchmark devices)
        self.file_latency: Dict[int, float] = {}
        self.device_file = None
        if args.target_device:
            names = [d.name for d in list_devices(space.name)]
            if args.target_device not in names:
                raise NasflatError(f"unknown {space.name} device '{args.target_device}'; valid: {', '.join(names)}")
            self.name = args.target_device
            self.truth = load_latency_table(space, [self.name]).latencies(self.name)
            self.measurable = "a table look-up"
        elif args.target_device_file:
            self.device_file = read_device_file(Path(args.target_device_file), space)
            self.name = self.device_file.name
            self.file_latency = dict(zip(self.device_file.indices.tolist(), self.device_file.latency_ms.tolist()))
            self.measurable = self._this_machine()
        else:
            self.name = None
            self.measurable = None

    def _this_machine(self) -> Optional[str]:
        from nas_embedding_suite.measure import MeasureProtocol, machine_description

        protocol = {k: v for k, v in self.device_file.protocol.items()
                    if k in ("batch_size", "threads", "warmup", "repeats", "torch_device")}
        self.protocol = MeasureProtocol(**protocol)
        here = machine_description(self.protocol.torch_device)
        return "real timing" if self.device_file.metadata.get("machine") == here else None

    def known(self, index: int) -> float:
        """The latency known without measuring (table, or the device file), else NaN."""
        if self.truth is not None:
            return float(self.truth[index])
        return self.file_latency.get(int(index), float("nan"))

    def measure(self, index: int) -> float:
        """Measure one architecture on the target."""
        if self.truth is not None:
            return float(self.truth[index])
        if int(index) in self.file_latency:
            return self.file_latency[int(index)]
        from nas_embedding_suite.measure import measure_archs

        device = measure_archs(self.space, [int(index)], self.device_file.path, self.name, self.protocol,
                               show_progress=False)
        self.file_latency = dict(zip(device.indices.tolist(), device.latency_ms.tolist()))
        return self.file_latency[int(index)]


def check_args(args: argparse.Namespace) -> None:
    """Values argparse cannot check, one line each."""
    for name, minimum in (("k", 2), ("num_trials", 1), ("verify", 0), ("threads", 1)):
        if getattr(args, name) < minimum:
            raise NasflatError(f"--{name} must be at least {minimum}")
    if not math.isfinite(args.safety) or args.safety < 0:
        raise NasflatError("--safety must be a finite number, 0 or more")
    if args.epochs is not None and args.epochs < 0:
        raise NasflatError("--epochs must be at least 0")


def predictor_settings(args: argparse.Namespace) -> dict:
    """The trainer settings the flags give (predictor options, epochs, sampler)."""
    names = setting_names()
    settings = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None
                and name not in ("seed", "space", "predictor", "task_index")}
    return {name: tuple(v) if isinstance(v, list) else v for name, v in settings.items()}


def run_trial(args, space, task, target: Target, accuracy: np.ndarray, candidates: np.ndarray,
              trial: int, bar) -> tuple:
    """Fit on k samples and pick per budget (with verification): (one row per budget, the fitted
    predictor, the measurements)."""
    pretrained = None if args.pretrained_dir == "none" else (args.pretrained_dir or str(Path(args.out_dir) / "pretrained"))
    predictor = LatencyPredictor(args.predictor, space=space.name, task=task.label, seed=args.seed + trial,
                                 data_dir=args.data_dir, pretrained_dir=pretrained, **predictor_settings(args))
    covered = None if target.truth is None or np.isfinite(target.truth).all() else np.flatnonzero(np.isfinite(target.truth))
    samples = predictor.choose_samples(args.k, pool=covered)
    references = np.setdiff1d(predictor.reference_archs(), samples)
    samples = np.concatenate((samples, references))  # spent as well
    measured = Measurements()
    missing = [int(i) for i in samples if not np.isfinite(target.known(i))]
    if missing and target.truth is None and target.measurable is None:
        raise NasflatError(f"{target.device_file.path} lacks {len(missing)} of the {len(samples)} architectures it needs (e.g. "
                           f"{missing[0]}); measure them with: python -m nas_embedding_suite measure --space "
                           f"{space.name} --device-name {target.name} --sampling_metric "
                           f"{predictor.sampling_metric} --k {args.k} --seed {args.seed + trial} "
                           f"--out {target.device_file.path}"
                           + (f" and --indices {' '.join(map(str, references))} (the predictor's reference "
                              "architectures)" if len(references) else ""))
    if missing and target.truth is not None:
        raise NasflatError(f"{target.name} has no published latency for architecture {missing[0]}")
    measured.add(samples, [target.measure(i) for i in samples])

    fitted = {}

    def predict(current: Measurements) -> np.ndarray:
        """Predicted ms of every architecture, refit only when there are new measurements."""
        count = len(current.latency_ms)
        if count not in fitted:
            predictor.fit(target.name, archs=current.archs, latency_ms=current.values)
            fitted.clear()
            fitted[count] = predictor.predict(np.arange(space.num_archs))
            bar.update(1)
        return fitted[count]

    if trial == 0:
        check_budgets(args.latency_budget, predict(measured), candidates, measured, space.arch_str)
    verifying = bool(args.verify and target.measurable)
    picks = []
    for budget in args.latency_budget:
        before = len(measured.verified)
        pick = search_budget(budget, accuracy, candidates, measured, predict,
                             target.measure if verifying else None, args.verify, safety=args.safety)
        picks.append((pick, len(measured.latency_ms), len(measured.verified) - before))
    if verifying:  # every pick from every measurement: one budget's verifications may find another's best
        final = predict(measured)
        picks = [(revise_with_every_measurement(pick, measured, accuracy, candidates, final),
                  len(measured.latency_ms), extra) for pick, _, extra in picks]
    rows = [result_row(args, space, target, accuracy, candidates, trial, pick, predictor, spent, extra)
            for pick, spent, extra in picks]
    return rows, predictor, measured


def result_row(args, space, target: Target, accuracy, candidates, trial, pick, predictor, spent, extra) -> dict:
    """One result row: the pick, and on benchmark devices its true latency, the oracle and the regret."""
    row = {"trial": trial, "seed": args.seed + trial, "budget_ms": pick.budget, "pick_index": pick.index,
           "pick_arch": space.arch_str(pick.index) if pick.index is not None else "",
           "predicted_ms": pick.predicted_ms, "measured_ms": pick.measured_ms, "verified": pick.verified,
           "accuracy": accuracy[pick.index] if pick.index is not None else float("nan"),
           "extra_measurements": extra, "measurements_used": spent}
    if target.truth is not None:
        oracle = best_within(target.truth, accuracy, candidates, pick.budget)
        true_ms = target.truth[pick.index] if pick.index is not None else float("nan")
        row.update(true_ms=true_ms, violates=bool(pick.index is None or true_ms > pick.budget),
                   oracle_index=oracle, oracle_accuracy=accuracy[oracle] if oracle is not None else float("nan"),
                   oracle_ms=target.truth[oracle] if oracle is not None else float("nan"),
                   regret=(accuracy[oracle] - row["accuracy"]) if oracle is not None else float("nan"),
                   exact=pick.index == oracle)
    return row


def checkpoint_rows(args, space, accuracy, candidates) -> tuple:
    """Search with an adapted predictor from ``main.py --target_device_file`` (no refitting)."""
    if args.verify:
        raise NasflatError("--verify refits the predictor on new measurements; a checkpoint cannot be refit: "
                           "use --target_device_file with the device file")
    adapted = AdaptedPredictor.load(Path(args.checkpoint))
    if adapted.config.space != space.name:
        raise NasflatError(f"the checkpoint is of the {adapted.config.space} space; pass --space {adapted.config.space}")
    name = next(iter(adapted.targets))
    sources = TaskSuite.load().resolve(adapted.config.space, adapted.config.task_index)
    data = TaskData.build(sources, space, encoding_of(adapted.config.representation), adapted.config.graph_mode)
    every = np.arange(space.num_archs)
    predicted = adapted.latency_ms(adapted.scores(adapted.models(data, name), data, every, name), name)
    measured = Measurements()
    check_budgets(args.latency_budget, predicted, candidates, measured, space.arch_str)
    rows = []
    for budget in args.latency_budget:
        pick = search_budget(budget, accuracy, candidates, measured, lambda _: predicted, safety=0.0)
        rows.append({"trial": 0, "seed": adapted.config.seed, "budget_ms": budget, "pick_index": pick.index,
                     "pick_arch": space.arch_str(pick.index) if pick.index is not None else "",
                     "predicted_ms": pick.predicted_ms, "measured_ms": float("nan"), "verified": False,
                     "accuracy": accuracy[pick.index] if pick.index is not None else float("nan"),
                     "extra_measurements": 0, "measurements_used": len(adapted.targets[name]["transfer_archs"])})
    return rows, predicted, name


def write_plot(path: Path, predicted, truth, accuracy, candidates, front, measured: Measurements, rows, title: str):
    """Accuracy against latency: candidates, the predicted front, the measured points, budgets, picks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 5))
    shown = truth if truth is not None else predicted
    axis.scatter(shown[candidates], accuracy[candidates], s=3, c="0.8",
                 label="candidates (" + ("true" if truth is not None else "predicted") + " ms)")
    axis.plot(predicted[front], accuracy[front], "-", c="tab:blue", lw=1.2, label="predicted Pareto front")
    if measured.latency_ms:
        archs = measured.archs
        axis.scatter(measured.values, accuracy[archs], s=14, c="tab:green", marker="s", label="measured")
    for row in rows:
        axis.axvline(row["budget_ms"], c="tab:red", lw=0.8, ls="--")
        if row["pick_index"] is not None:
            known = [row.get("true_ms", float("nan")), row["measured_ms"], row["predicted_ms"]]
            x = next(value for value in known if np.isfinite(value))
            axis.scatter([x], [row["accuracy"]], s=60, facecolors="none", edgecolors="tab:red")
    axis.set_xlabel("latency (ms)")
    axis.set_ylabel("accuracy (%)")
    axis.set_title(title)
    axis.legend(loc="lower right", fontsize=8)
    atomic_write_bytes(path, lambda stream: figure.savefig(stream, format="png", dpi=110, bbox_inches="tight"))
    plt.close(figure)


def run(args: argparse.Namespace) -> None:
    """Run the search the flags describe."""
    check_args(args)
    configure_cpu(args.threads)
    data_dir = DataDirectory.resolve(args.data_dir, args.trust_modified_data)
    space = get_space(args.space, data_dir)
    task = TaskSuite.load().resolve(args.space, args.task_index)
    accuracy = objective_accuracy(args, space)
    candidates = np.flatnonzero(np.isfinite(accuracy))
    print(f"{len(candidates)} of {space.num_archs} {space.name} architectures have an accuracy: the candidates")
    target = Target(args, space)
    if target.truth is not None and not np.isfinite(target.truth[candidates]).all():
        covered = np.isfinite(target.truth[candidates])
        print(f"{target.name} has published latencies of {int(covered.sum())} of the {len(candidates)} candidates: "
              "the samples and the candidates are chosen among those")
        candidates = candidates[covered]
    if args.budget_percentiles:
        if target.truth is None:
            raise NasflatError("--budget_percentiles needs a benchmark --target_device (whose every latency is known)")
        if any(not 0 < q < 100 for q in args.budget_percentiles):
            raise NasflatError("--budget_percentiles must lie strictly between 0 and 100")
        args.latency_budget = [float(np.round(np.percentile(target.truth[candidates], q), 4))
                               for q in args.budget_percentiles]
    if args.verify and target.measurable is None and not args.checkpoint:
        raise NasflatError(f"--verify measures picks on the target, but {target.device_file.path} was measured on "
                           f"another machine ({target.device_file.metadata.get('machine', 'unknown')}); "
                           "verify there, or search without --verify")
    name = args.name_desc or f"search_{args.predictor}"
    out_dir = check_output_folder(Path(args.out_dir) / name, "--out_dir")
    started = time.perf_counter()
    truth = target.truth
    if args.checkpoint:
        rows, predicted, device = checkpoint_rows(args, space, accuracy, candidates)
        measured = Measurements()
    else:
        device = target.name
        rows = []
        steps = args.num_trials * (1 + len(args.latency_budget) * (1 + args.verify))
        with tqdm(total=steps, desc="search", unit="fit", disable=args.no_progress, leave=False) as bar:
            for trial in range(args.num_trials):
                trial_rows, predictor, measured = run_trial(args, space, task, target, accuracy, candidates, trial, bar)
                rows += trial_rows
        predicted = predictor.predict(np.arange(space.num_archs))
    settings = {"space": space.name, "task": task.label, "target": device, "predictor": args.predictor,
                "k": args.k, "sampling_metric": args.sampling_metric or "", "objective": args.objective or
                ("file" if args.accuracy_file else "cifar100"), "verify": args.verify, "safety": args.safety, "num_trials": args.num_trials,
                **{f"setting_{k}": v for k, v in predictor_settings(args).items()}}
    run_key = hashlib.sha256(json.dumps({**settings, "budgets": args.latency_budget, "seed": args.seed},
                                        sort_keys=True, default=str).encode()).hexdigest()[:12]
    frame = pd.DataFrame([{"run_key": run_key, **settings, **row, "code_commit": git_commit(),
                           "code_fingerprint": code_fingerprint()} for row in rows])
    merge_csv(frame, out_dir / "search_picks.csv")
    front = pareto_front(predicted, accuracy, candidates)
    write_csv(pd.DataFrame({"index": front, "arch": [space.arch_str(i) for i in front],
                            "predicted_ms": predicted[front], "accuracy": accuracy[front]}), out_dir / "search_front.csv")
    if not args.no_plot:
        write_plot(out_dir / "search.png", predicted, truth, accuracy, candidates, front, measured, rows[-len(args.latency_budget):],
                   f"{space.name} on {device}: {args.predictor}, k = {args.k}" + (f", verify {args.verify}" if args.verify else ""))
    print(summary(frame, truth is not None))
    print(f"results in {out_dir} ({time.perf_counter() - started:.1f} s)")


def summary(frame: pd.DataFrame, scored: bool) -> str:
    """Per budget: the picks (and on benchmark devices violations, regret and exact oracle hits)."""
    lines = []
    for budget, group in frame.groupby("budget_ms", sort=False):
        first = group.iloc[0]
        text = (f"budget {budget:g} ms: pick {first['pick_index']} ({first['accuracy']:.2f}%), predicted "
                f"{first['predicted_ms']:.2f} ms" + (f", measured {first['measured_ms']:.2f} ms"
                                                    if not pd.isna(first["measured_ms"]) else ""))
        if scored:
            text += (f"; over {len(group)} trial(s): violations {int(group['violates'].sum())}, mean regret "
                     f"{group['regret'].mean():.2f} points, oracle exact {int(group['exact'].sum())}, "
                     f"measurements {group['measurements_used'].mean():.1f}")
        lines.append(text)
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse flags and run; one-line errors instead of tracebacks."""
    args = build_parser().parse_args(argv)
    return run_reporting_errors(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
