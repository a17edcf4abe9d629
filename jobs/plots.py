"""PNG plots of a job list's results (matplotlib, headless).

- ``plots/<study>/samp_eff_<task>.png``: Spearman vs k, one line per method (and variant and
  source size where a study has several), a band of ± one std over trials.
- ``plots/scatter/<task>_<target>.png``: predicted vs measured latency of every evaluated
  architecture, log-log, with Spearman rho and Kendall tau in the title; from the first line (in
  study order) that ran the task, trial 0, its largest source size and k. The model outputs
  ranking scores, not milliseconds, so the scores are put on the latency scale by a least-squares
  fit of log(latency) on the score over the plotted points; that map is monotone and leaves rho
  and tau unchanged.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr

from correlation_trainer.results import load_unit
from nas_embedding_suite.output_files import atomic_write_bytes

plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 9})


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_") or "all"


def _save(figure, path: Path) -> Path:
    atomic_write_bytes(path, lambda stream: figure.savefig(stream, format="png", dpi=120, bbox_inches="tight"))
    plt.close(figure)
    return path


def _curve_label(method: str, variant: str, source_size: int, several_sizes: bool) -> str:
    label = method if variant == "reference" else f"{method}: {variant}"
    return f"{label}, {source_size} source archs" if several_sizes else label


def sample_efficiency(tidy: pd.DataFrame, out_dir: Path) -> List[Path]:
    """One sample-efficiency plot per (study, task)."""
    written = []
    for (study, task), rows in tidy.groupby(["study", "task"], sort=False):
        per_trial = (rows.groupby(["method", "variant", "source_size", "k", "trial"], sort=False)["spr"]
                     .mean().reset_index())
        several_sizes = per_trial["source_size"].nunique() > 1
        figure, axes = plt.subplots(figsize=(7.5, 4.8))
        for (method, variant, size), curve in per_trial.groupby(["method", "variant", "source_size"], sort=False):
            stats = curve.groupby("k")["spr"].agg(["mean", "std"]).fillna(0.0).sort_index()
            ks = stats.index.to_numpy()
            line, = axes.plot(ks, stats["mean"], marker="o", label=_curve_label(method, variant, size, several_sizes))
            axes.fill_between(ks, stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                              color=line.get_color(), alpha=0.2)
        axes.set_xlabel("k (target-device samples used for transfer)")
        axes.set_ylabel("Spearman rho (mean over target devices)")
        axes.set_title(f"{task}: sample efficiency ({study})")
        axes.set_xticks(sorted(per_trial["k"].unique()))
        axes.grid(alpha=0.3)
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        written.append(_save(figure, out_dir / _safe(study) / f"samp_eff_{_safe(task)}.png"))
    return written


def _calibrated(scores: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Scores on the latency scale: exp of a least-squares line of log(measured) on the score."""
    log_measured = np.log(measured)
    if np.ptp(scores) == 0:
        return np.full_like(measured, np.exp(log_measured.mean()))
    slope, intercept = np.polyfit(scores, log_measured, 1)
    return np.exp(intercept + slope * scores)


def scatter(unit_results, task: str, out_dir: Path) -> List[Path]:
    """One predicted-vs-measured plot per target device of one unit's results."""
    written = []
    top_k = max(r.k for r in unit_results)
    for result in (r for r in unit_results if r.k == top_k):
        measured = np.asarray(result.measured, dtype=float)
        scores = np.asarray(result.predicted, dtype=float)
        keep = np.isfinite(measured) & np.isfinite(scores) & (measured > 0)
        measured, scores = measured[keep], scores[keep]
        if len(measured) < 2:
            continue
        rho = spearmanr(scores, measured)[0]
        tau = kendalltau(scores, measured)[0]
        figure, axes = plt.subplots(figsize=(5.5, 5.2))
        axes.scatter(_calibrated(scores, measured), measured, s=4, alpha=0.35, edgecolors="none")
        low, high = measured.min(), measured.max()
        axes.plot([low, high], [low, high], color="grey", linewidth=1, linestyle="--", label="y = x")
        axes.set_xscale("log")
        axes.set_yscale("log")
        for axis in (axes.xaxis, axes.yaxis):
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axis.set_minor_formatter(NullFormatter())
        axes.set_xlabel("predicted latency (ms, score mapped by a log-linear fit)")
        axes.set_ylabel("measured latency (ms)")
        axes.set_title(f"{task} -> {result.target} (k={result.k}, {len(measured)} archs)\n"
                       f"Spearman rho = {rho:.3f}, Kendall tau = {tau:.3f}")
        axes.grid(alpha=0.3, which="both")
        axes.legend(loc="upper left", frameon=False)
        written.append(_save(figure, out_dir / f"{_safe(task)}_{_safe(result.target)}.png"))
    return written


def scatter_plots(results_root: Path, tidy: pd.DataFrame, out_dir: Path) -> List[Path]:
    """Scatter plots for every task, from the first line in study order that ran it."""
    written = []
    for task, rows in tidy.groupby("task", sort=False):
        line_id = rows["line_id"].iloc[0]
        trial = rows["trial"].min()
        source_size = rows[rows["line_id"] == line_id]["source_size"].max()
        units = sorted((Path(results_root) / "lines" / line_id / "out").glob(f"**/units/*_t{trial}_s{source_size}_*.npz"))
        for unit in units[:1]:
            results = load_unit(unit)
            if results:
                written += scatter(results, str(task), out_dir)
    return written


def plot_all(results_root: Path, tidy: pd.DataFrame) -> List[Path]:
    """Every plot of the aggregated results, under ``<results_root>/plots``."""
    out_dir = Path(results_root) / "plots"
    return sample_efficiency(tidy, out_dir) + scatter_plots(results_root, tidy, out_dir / "scatter")
