"""Collect the finished lines of a job list into one tidy CSV and a Markdown summary.

``tidy_results.csv``: one row per (study, method, variant, task, target device, source size, k,
trial) with Spearman (spr), Kendall tau-b (kdt) and every setting. ``method`` is the row's
``predictor`` column when the trainer records one, else ``nasflat``; ``variant`` names the
settings that differ from the reference ones (``reference`` when none do).

``summary.csv`` / ``summary.md``: per study, method, variant, task, source size and k, the mean
and std over trials of the Spearman averaged over the task's target devices, the number of
trials, and per space the geometric mean over tasks of those means. Only lines with a done
marker are read, and the outputs are written atomically to the results folder, which no line
writes to.
"""
from __future__ import annotations

import math
import sys
from dataclasses import fields
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd

from correlation_trainer.experiment import ExperimentConfig, own_settings
from correlation_trainer.predictors.base import PREDICTORS, predictor_class, predictor_options
from correlation_trainer.results import read_results_csv, write_csv
from nas_embedding_suite.output_files import atomic_write_bytes
from nas_embedding_suite.errors import ArgumentParser, NasflatError, run_reporting_errors
from nas_embedding_suite.spaces import list_spaces, space_class

from jobs.line_state import read_json

#: the methods that read ``--representation`` (for the others it is no variant)
#: Settings that do not make a variant: they identify the run or are columns of their own.
NOT_VARIANT = {"space", "task_index", "sample_sizes", "transfer_sample_sizes", "seed", "device", "predictor",
               "sample_seed_size", "predictor_options"}
#: Per-space reference values: each space's trainer defaults (``default_settings``) and the
#: settings of its headline (``headline_settings``, e.g. the ZCP encoding of the FBNet headline).
SPACE_REFERENCE = {space: {**{name: value for name, value in space_class(space).default_settings.items()
                              if name != "sample_sizes"}, **space_class(space).headline_settings}
                   for space in list_spaces()}
#: Study of the lines that follow no "# study:" line.
DEFAULT_STUDY = "default"
KEY_COLUMNS = ["study", "method", "variant", "space", "task", "target_device", "source_size", "k", "trial"]
GROUP_COLUMNS = ["study", "method", "variant", "space", "task", "source_size", "k"]


def _same(value, reference) -> bool:
    if isinstance(reference, (list, tuple)):  # written as space-separated text
        return str(value) == " ".join(map(str, reference))
    if isinstance(reference, bool):
        return str(value).strip().lower() == str(reference).lower()
    if isinstance(reference, (int, float)):
        try:
            return math.isclose(float(value), float(reference), rel_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return str(value) == str(reference)


def variant_of(row: Dict) -> str:
    """The settings of a result row that differ from the reference ones, as ``name=value`` text."""
    reference = {f.name: f.default for f in fields(ExperimentConfig) if f.name not in NOT_VARIANT}
    for name, (option, _) in predictor_options().items():  # options declared beyond the fields
        reference.setdefault(name, option.default)
    reference.update(SPACE_REFERENCE.get(str(row.get("space")), {}))
    predictor = str(row.get("predictor", "nasflat"))
    if predictor not in PREDICTORS or not predictor_class(predictor).reads_representation:
        reference.pop("representation")  # the other methods bring their own inputs
    for name, readers in own_settings().items():
        if predictor not in readers:
            reference.pop(name, None)
    changed = [f"{name}={row[name]}" for name, default in reference.items()
               if name in row and not pd.isna(row[name]) and not _same(row[name], default)]
    return " ".join(changed) or "reference"


def done_lines(results_root: Path) -> List[Dict]:
    """The done markers of every finished line under ``results_root``."""
    markers = []
    for marker in sorted((Path(results_root) / "lines").glob("*/done.json")):
        record = read_json(marker)
        if record is not None:
            markers.append({**record, "folder": marker.parent})
    return markers


def collect(results_root: Path, studies: Optional[Dict[str, List[str]]] = None,
            study_order: Sequence[str] = ()) -> pd.DataFrame:
    """Every trial row of every done line, tidy, studies in job-list order. ``studies`` maps a
    line id to the studies that list it (a line shared by two studies counts in both); by default
    the study in its marker. ``study_order``: the job list's studies in file order."""
    frames = []
    for record in done_lines(results_root):
        line_studies = (studies or {}).get(record["id"]) or [record.get("study") or DEFAULT_STUDY]
        for csv in sorted(Path(record["folder"], "out").glob("**/*_trials.csv")):
            frame = read_results_csv(csv)
            if frame.empty:
                continue
            frame["method"] = frame["predictor"] if "predictor" in frame.columns else "nasflat"
            frame["variant"] = [variant_of(row) for row in frame.to_dict("records")]
            frame["line_id"] = record["id"]
            for study in line_studies:
                frames.append(frame.assign(study=study))
    if not frames:
        return pd.DataFrame(columns=KEY_COLUMNS + ["spr", "kdt"])
    tidy = pd.concat(frames, ignore_index=True)
    tidy = tidy.drop_duplicates(subset=KEY_COLUMNS + ["line_id"], keep="last")
    first = KEY_COLUMNS + ["spr", "kdt", "mape", "within10", "n_eval", "hw_source", "line_id"]
    ordered = [c for c in first if c in tidy.columns] + [c for c in tidy.columns if c not in first]
    tidy = tidy[ordered]
    order = list(dict.fromkeys(list(study_order) + list(tidy["study"])))
    rank = tidy["study"].map({study: i for i, study in enumerate(order)})
    tidy = tidy.assign(_rank=rank).sort_values(["_rank"] + KEY_COLUMNS[1:], kind="stable")
    return tidy.drop(columns="_rank").reset_index(drop=True)


def summarise(tidy: pd.DataFrame) -> pd.DataFrame:
    """Per study/method/variant/task/source size/k: Spearman and Kendall averaged over target
    devices within each trial, then mean and std over trials, and n (trials)."""
    if tidy.empty:
        return pd.DataFrame(columns=GROUP_COLUMNS + ["spr", "spr_std", "kdt", "kdt_std", "n"])
    errors = [c for c in ("mape", "within10") if c in tidy.columns]
    per_trial = tidy.groupby(GROUP_COLUMNS + ["trial"], sort=False)[["spr", "kdt"] + errors].mean().reset_index()
    table = per_trial.groupby(GROUP_COLUMNS, sort=False).agg(
        spr=("spr", "mean"), spr_std=("spr", "std"), kdt=("kdt", "mean"), kdt_std=("kdt", "std"),
        n=("trial", "nunique"), **{c: (c, "mean") for c in errors})
    return table.reset_index().fillna({"spr_std": 0.0, "kdt_std": 0.0})


def geometric_mean(values: Sequence[float]) -> float:
    """Geometric mean of positive values (NaN if any is not positive)."""
    values = list(values)
    if not values or min(values) <= 0:
        return float("nan")
    return math.exp(sum(math.log(v) for v in values) / len(values))


def markdown(summary: pd.DataFrame) -> str:
    """The summary as Markdown: per study and setting, a task x k table of Spearman mean ± std (n)
    and the geometric mean over tasks."""
    if summary.empty:
        return "# Results\n\nNo finished lines yet.\n"
    parts = ["# Results", "",
             "Spearman rho, mean ± std over trials (n = trials) of the average over each task's "
             "target devices; last row: geometric mean over the tasks of the means.", ""]
    for study, by_study in summary.groupby("study", sort=False):
        parts += [f"## {study}", ""]
        settings = ["method", "variant", "space", "source_size"]
        for (method, variant, space, source), table in by_study.groupby(settings, sort=False):
            ks = sorted(table["k"].unique())
            parts += [f"**{method}**, {variant}, {space}, {source} source archs per device", "",
                      "| task | " + " | ".join(f"k={k}" for k in ks) + " |",
                      "|---|" + "---|" * len(ks)]
            for task, rows in table.groupby("task", sort=False):
                cells = []
                for k in ks:
                    row = rows[rows["k"] == k]
                    cells.append("-" if row.empty else
                                 f"{row['spr'].iloc[0]:.3f} ± {row['spr_std'].iloc[0]:.3f} (n={row['n'].iloc[0]})")
                parts.append(f"| {task} | " + " | ".join(cells) + " |")
            means = [geometric_mean(table[table["k"] == k]["spr"]) for k in ks]
            parts.append("| geometric mean | " + " | ".join(f"{m:.3f}" for m in means) + " |")
            parts.append("")
    return "\n".join(parts)


def study_membership(joblist: Optional[Path]) -> Tuple[Dict[str, List[str]], List[str]]:
    """Line id -> the studies of the job list that contain that command; and the studies in file
    order (both empty without a job list)."""
    if joblist is None:
        return {}, []
    from jobs.job_list import load_job_list

    membership: Dict[str, List[str]] = {}
    order: List[str] = []
    for line in load_job_list(joblist):
        study = line.study or DEFAULT_STUDY
        studies = membership.setdefault(line.line_id, [])
        if study not in studies:
            studies.append(study)
        if study not in order:
            order.append(study)
    return membership, order


def aggregate(results_root: Path, joblist: Optional[Path] = None, plots: bool = True,
              say=print) -> pd.DataFrame:
    """Write ``tidy_results.csv``, ``summary.csv``, ``summary.md`` (and ``plots/``) into
    ``results_root``; returns the tidy frame."""
    results_root = Path(results_root)
    if not (results_root / "lines").is_dir():
        raise NasflatError(f"{results_root} holds no job-list results (no lines/ folder)")
    tidy = collect(results_root, *study_membership(joblist))
    summary = summarise(tidy)
    write_csv(tidy, results_root / "tidy_results.csv")
    write_csv(summary, results_root / "summary.csv")
    atomic_write_bytes(results_root / "summary.md", lambda s: s.write(markdown(summary).encode()))
    say(f"{len(done_lines(results_root))} done line(s), {len(tidy)} row(s): "
        f"{results_root / 'tidy_results.csv'}, {results_root / 'summary.md'}")
    if plots and not tidy.empty:
        from jobs.plots import plot_all

        written = plot_all(results_root, tidy)
        say(f"{len(written)} plot(s) in {results_root / 'plots'}")
    return tidy


def build_parser() -> ArgumentParser:
    """The command line of ``python -m jobs.aggregate`` (also read by ``jobs.publish`` for docs/cli.md)."""
    p = ArgumentParser(prog="python -m jobs.aggregate", description=__doc__.split("\n")[0])
    p.add_argument("results", help="results folder of a job list (the one holding lines/)")
    p.add_argument("--joblist", help="the job list, to count a line under every study that lists it")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m jobs.aggregate RESULTS [--joblist FILE] [--no-plots]``."""
    args = build_parser().parse_args(argv)
    return run_reporting_errors(lambda: aggregate(Path(args.results), args.joblist and Path(args.joblist),
                                                  plots=not args.no_plots))


if __name__ == "__main__":
    sys.exit(main())
