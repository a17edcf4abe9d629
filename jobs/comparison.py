"""The comparison table: NASFLAT beside the baselines, per space and k, from job-list results.

    python -m jobs.comparison results/unified_joblist results/help_unified_joblist \\
        results/multipredict_unified_joblist results/references_joblist [--out comparison.md]

Reads the done lines of each results folder (as ``--aggregate`` does) and keeps every method's
reference setting (NASFLAT: its headline lines and the FBNet headline at k = 5 and 10). For each
space and k, one Markdown table: a row per method, a column per task (Spearman, mean over trials
of the average over the task's target devices) and the geometric mean over the space's tasks; the
best value of each column is bold.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import pandas as pd

from nas_embedding_suite.output_files import atomic_write_bytes
from nas_embedding_suite.errors import ArgumentParser, NasflatError, run_reporting_errors

from correlation_trainer.predictors.base import table_rank
from jobs.aggregate import collect, geometric_mean, summarise

#: The studies whose lines give NASFLAT's reference-setting rows (the others vary one setting).
NASFLAT_STUDIES = ("headline", "few_shot_fbnet")


def comparison_summary(folders: Sequence[Path]) -> pd.DataFrame:
    """Per method, space, task and k: Spearman mean and std over trials (reference settings only)."""
    frames = []
    for folder in folders:
        if not (Path(folder) / "lines").is_dir():
            raise NasflatError(f"{folder} holds no job-list results (no lines/ folder)")
        frames.append(collect(Path(folder)))
    tidy = pd.concat(frames, ignore_index=True)
    # NASFLAT: its headline lines (other studies vary one setting); baselines: their own settings
    keep = (tidy["variant"] == "reference") & ((tidy["method"] != "nasflat")
                                               | tidy["study"].isin(NASFLAT_STUDIES))
    tidy = tidy[keep]
    if tidy.empty:
        raise NasflatError("no finished reference-setting lines in " + ", ".join(map(str, folders)))
    # one group per method whatever its source budget (16 or 900 NB201 archs, say); a method that
    # also measures fixed reference archs on the target (HELP) says so in its name
    tidy = tidy.assign(study="comparison", source_size=0, method=[
        _labelled(method, settings) for method, settings in zip(tidy["method"], tidy.get(
            "predictor_settings", pd.Series([None] * len(tidy), index=tidy.index)))])
    return summarise(tidy.drop_duplicates(subset=["method", "task", "target_device", "k", "trial"]))


def _labelled(method: str, settings) -> str:
    try:
        extra = json.loads(settings).get("reference_archs") if isinstance(settings, str) else None
    except ValueError:
        extra = None
    return f"{method} (k + {extra} measured)" if extra else method


def comparison_markdown(summary: pd.DataFrame) -> str:
    """One table per (space, k): methods x tasks, geometric mean last, best per column in bold."""
    parts = ["Spearman rho (honest protocol), mean over trials of the average over each task's target "
             "devices; gm = geometric mean over the space's tasks; best per column in bold.", ""]
    present = list(dict.fromkeys(summary["method"]))
    methods = sorted(present, key=lambda m: (table_rank(m.split(" ")[0]), m))
    for space, by_space in summary.groupby("space", sort=False):
        tasks = list(dict.fromkeys(by_space["task"]))
        for k in sorted(by_space["k"].unique()):
            table = by_space[by_space["k"] == k]
            values = {}
            for method in methods:
                rows = table[table["method"] == method].set_index("task")["spr"]
                cells = [rows.get(task, float("nan")) for task in tasks]
                complete = all(pd.notna(c) for c in cells)
                values[method] = cells + [geometric_mean(cells) if complete else float("nan")]
            columns = tasks + ["gm"]
            best = [max((v[i] for v in values.values() if pd.notna(v[i])), default=None)
                    for i in range(len(columns))]
            parts += [f"**{space}, k = {k}**", "", "| method | " + " | ".join(columns) + " |",
                      "|---|" + "---|" * len(columns)]
            for method, cells in values.items():
                if all(pd.isna(c) for c in cells):
                    continue
                text = []
                for value, top in zip(cells, best):
                    cell = "-" if pd.isna(value) else f"{value:.3f}"
                    text.append(f"**{cell}**" if top is not None and pd.notna(value) and value == top else cell)
                parts.append(f"| {method} | " + " | ".join(text) + " |")
            parts.append("")
    return "\n".join(parts)


def build_parser() -> ArgumentParser:
    """The command line of ``python -m jobs.comparison`` (also read by ``jobs.publish`` for docs/cli.md)."""
    p = ArgumentParser(prog="python -m jobs.comparison", description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="+", help="results folders of job lists (each holding lines/)")
    p.add_argument("--out", help="also write the Markdown here (atomically)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Print (and with ``--out`` write) the comparison tables."""
    args = build_parser().parse_args(argv)

    def run() -> None:
        text = comparison_markdown(comparison_summary([Path(r) for r in args.results]))
        print(text)
        if args.out:
            atomic_write_bytes(Path(args.out), lambda stream: stream.write(text.encode()))

    return run_reporting_errors(run)


if __name__ == "__main__":
    sys.exit(main())
