"""Tables and the pixel2 plot of the search job list (``large_run_slurms/search_joblist.log``).

    python -m jobs.search_summary --results results/search_joblist [--plot docs/search_pixel2.png]

Reads every done line's ``search_picks.csv`` and prints, as Markdown: per predictor and setting
the violation rate, mean regret, exact-oracle count and measurements of HELP's setting (5 devices
x 3 budgets, CIFAR-100, 5 trials each); per device and budget the picks beside HELP's and
BRP-NAS's published picks (a published pick over its budget is marked); and the wider test
(every NB201 device, three budgets, three datasets) per predictor. ``--plot`` draws accuracy
against true latency on pixel2: the true Pareto front, a predictor's picks and NASFLAT's
published Pareto points.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from correlation_trainer.predictors.base import display_name, table_rank
from nas_embedding_suite.devices import list_devices
from nas_embedding_suite.errors import ArgumentParser, NasflatError, run_reporting_errors
from nas_embedding_suite.output_files import atomic_write_bytes, atomic_write_text

#: HELP, Table 4 (latency ms, CIFAR-100 %): its picks for each budget, in budget order
HELP_PICKS = {
    "titan_rtx_256": ((18, 17.8, 69.7), (21, 18.9, 71.5), (25, 24.2, 71.8)),
    "gold_6226": ((8, 8.0, 67.3), (11, 10.7, 70.2), (14, 14.3, 72.1)),
    "pixel2": ((14, 13.0, 69.7), (18, 19.0, 71.8), (22, 25.0, 73.2)),
    "eyeriss": ((5, 3.9, 71.5), (7, 5.1, 71.8), (9, 9.1, 73.5)),
    "fpga": ((4, 3.8, 70.2), (5, 4.7, 71.8), (6, 7.4, 73.5)),
}
#: BRP-NAS's published picks in the same setting (latency ms, CIFAR-100 %), as HELP reports them
BRP_PICKS = {
    "eyeriss": ((4.7, 71.7), (9.1, 73.5)), "fpga": ((7.2, 73.4), (7.4, 73.5)),
    "gold_6226": ((8.7, 68.2), (9.5, 66.9), (17.0, 73.5)), "pixel2": ((14, 66.9), (34, 73.5)),
    "titan_rtx_256": ((19, 71.5), (21, 67.0), (23, 70.7)),
}
#: NASFLAT's own pixel2 Pareto points with 20 samples (latency ms, CIFAR-100 %)
NASFLAT_PIXEL2 = ((12.2, 65.86), (14.2, 69.82), (19.8, 71.93), (25.6, 72.99), (34.0, 73.51))
HELP_STUDIES = ("help_setting_k20_verify5", "help_setting_k10")


def collect(results: Path) -> pd.DataFrame:
    """Every done line's pick rows, with the line's study and name."""
    frames = []
    for path in sorted(Path(results).glob("lines/*/out/*/search_picks.csv")):
        if not (path.parents[2] / "done.json").is_file():
            continue
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
        name = path.parent.name
        frame["study"] = next((s for s in HELP_STUDIES + ("wider",) if name.startswith(s)), "other")
        frames.append(frame)
    if not frames:
        raise NasflatError(f"no done search lines under {results}")
    return pd.concat(frames, ignore_index=True)


def _methods(frame: pd.DataFrame) -> List[str]:
    return sorted(frame["predictor"].unique(), key=table_rank)


SETTING_COLUMNS = ["predictor", "setting", "cases x trials", "violations", "mean regret (points)",
                   "oracle exact (trial-cases)", "cases with the oracle in >= 3 of 5 trials", "measurements per trial"]
WIDER_COLUMNS = ["predictor", "devices", "cases x trials", "violation rate", "mean regret (points)", "oracle exact",
                 "mean regret, HELP tables", "mean regret, LatBench tables"]


def _versions(rows: pd.DataFrame) -> dict:
    """The code versions of some pick rows (every distinct one, in order of appearance)."""
    return {column: ", ".join(dict.fromkeys(rows[column].astype(str))) if column in rows.columns else "unknown"
            for column in ("code_commit", "code_fingerprint")}


def setting_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Per predictor and setting: violations, regret, exact oracle picks, measurements (the cells,
    with the code versions of the rows behind them)."""
    out = []
    for study in HELP_STUDIES:
        part = frame[frame["study"] == study]
        for method in _methods(part):
            rows = part[part["predictor"] == method]
            per_case = rows.groupby(["target", "budget_ms"])["exact"].sum()
            used = rows.groupby(["target", "trial"])["measurements_used"].max().mean()
            cells = [display_name(method), "k = 20, verify 5" if "verify" in study else "k = 10",
                     f"{rows.groupby(['target', 'budget_ms']).ngroups} x {rows['trial'].nunique()}",
                     f"{rows['violates'].mean():.0%} ({int(rows['violates'].sum())})", f"{rows['regret'].mean():.2f}",
                     f"{int(rows['exact'].sum())} of {len(rows)}", f"{int((per_case >= 3).sum())} of {len(per_case)}",
                     f"{used:.1f}"]
            out.append({**dict(zip(SETTING_COLUMNS, cells)), **_versions(rows)})
    return pd.DataFrame(out, columns=SETTING_COLUMNS + ["code_commit", "code_fingerprint"])


def wider_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The wider test per predictor: devices, cases, violation rate and mean regret (the cells, with
    the code versions of the rows behind them)."""
    part = frame[frame["study"] == "wider"]
    origin = {device.name: device.source for device in list_devices("nb201")}
    out = []
    for method in _methods(part):
        rows = part[part["predictor"] == method]
        by_source = rows.groupby(rows["target"].map(origin))["regret"].mean()
        cells = [display_name(method), str(rows["target"].nunique()),
                 f"{rows.groupby(['target', 'objective', 'budget_ms']).ngroups} x {rows['trial'].nunique()}",
                 f"{rows['violates'].mean():.1%}", f"{rows['regret'].mean():.3f}", f"{rows['exact'].mean():.0%}"]
        cells += [f"{by_source[source]:.3f}" if source in by_source else "" for source in ("HELP", "LatBench")]
        out.append({**dict(zip(WIDER_COLUMNS, cells)), **_versions(rows)})
    return pd.DataFrame(out, columns=WIDER_COLUMNS + ["code_commit", "code_fingerprint"])


def _markdown(table: pd.DataFrame, columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table[list(columns)].itertuples(index=False)]
    return "\n".join(lines)


def setting_table(frame: pd.DataFrame) -> str:
    """Per predictor and setting: violations, regret, exact oracle picks, measurements."""
    return _markdown(setting_rows(frame), SETTING_COLUMNS)


def picks_rows(frame: pd.DataFrame, study: str, methods: Sequence[str]) -> pd.DataFrame:
    """Per device and budget: the oracle, HELP's published pick (marked when over its budget) and
    each method's mean accuracy and violation count over the trials (the cells, with the code
    versions of the rows behind each line)."""
    part = frame[frame["study"] == study]
    header = ["device", "budget", "oracle (ms, %)", "HELP (ms, %)"] + [display_name(m) for m in methods]
    out = []
    for device, picks in HELP_PICKS.items():
        for budget, help_ms, help_acc in picks:
            rows = part[(part["target"] == device) & (part["budget_ms"] == budget)]
            if rows.empty:
                continue
            oracle = rows.iloc[0]
            oracle_ms = oracle.get("oracle_ms", float("nan"))
            mark = " **over**" if help_ms > budget else ""
            cells = [device, f"{budget:g}", f"{oracle['oracle_accuracy']:.2f}" + ("" if pd.isna(oracle_ms) else f" ({oracle_ms:.1f})"),
                     f"{help_ms:g}, {help_acc:.1f}{mark}"]
            for method in methods:
                mine = rows[rows["predictor"] == method]
                if mine.empty:
                    cells.append("")
                    continue
                over = int(mine["violates"].sum())
                cells.append(f"{mine['accuracy'].mean():.2f}" + (f" ({over} over)" if over else ""))
            out.append({**dict(zip(header, cells)), **_versions(rows)})
    return pd.DataFrame(out, columns=header + ["code_commit", "code_fingerprint"])


def picks_table(frame: pd.DataFrame, study: str, methods: Sequence[str]) -> str:
    """:func:`picks_rows` as Markdown."""
    table = picks_rows(frame, study, methods)
    return _markdown(table, [c for c in table.columns if c not in ("code_commit", "code_fingerprint")])


def wider_table(frame: pd.DataFrame) -> str:
    """The wider test per predictor: devices, cases, violation rate and mean regret."""
    return _markdown(wider_rows(frame), WIDER_COLUMNS)


def write_records(frame: pd.DataFrame, folder: Path) -> List[Path]:
    """The setting, wider and picks tables as records (``search_help_setting.csv``,
    ``search_wider.csv``, ``search_picks_k20_verify5.csv``, ``search_picks_k10.csv``): their
    cells, with the provenance and code versions of the pick rows behind each."""
    written = []
    tables = [("search_help_setting.csv", setting_rows(frame)), ("search_wider.csv", wider_rows(frame))]
    tables += [(f"search_picks_{study[len('help_setting_'):]}.csv",
                picks_rows(frame, study, _methods(frame[frame["study"] == study]))) for study in HELP_STUDIES]
    for name, table in tables:
        if table.empty:
            continue
        table.insert(len(table.columns) - 2, "provenance", "joblist_records")
        path = Path(folder) / name
        atomic_write_text(path, table.to_csv(index=False))
        written.append(path)
    return written


def plot_pixel2(frame: pd.DataFrame, path: Path, data_dir: Optional[str], method: str) -> None:
    """Accuracy against true pixel2 latency: the true front, ``method``'s picks (k = 20, verify 5)
    and NASFLAT's and HELP's published points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from correlation_trainer.latency_search import pareto_front
    from nas_embedding_suite.data_directory import DataDirectory
    from nas_embedding_suite.latency_table import load_latency_table
    from nas_embedding_suite.spaces import get_space

    space = get_space("nb201", DataDirectory.resolve(data_dir))
    truth = load_latency_table(space, ["pixel2"]).latencies("pixel2")
    accuracy = space.accuracies["cifar100"].to_numpy()
    every = np.arange(space.num_archs)
    front = pareto_front(truth, accuracy, every)
    figure, axis = plt.subplots(figsize=(7.5, 5))
    axis.scatter(truth, accuracy, s=2, c="0.85", label="all 15,625 cells (true ms)")
    axis.step(truth[front], accuracy[front], where="post", c="k", lw=1, label="true Pareto front")
    rows = frame[(frame["study"] == HELP_STUDIES[0]) & (frame["target"] == "pixel2") & (frame["predictor"] == method)]
    axis.scatter(rows["true_ms"], rows["accuracy"], s=40, c="tab:blue", marker="o",
                 label=f"{display_name(method)}, k = 20 + verify 5 (all trials)")
    axis.scatter(*zip(*NASFLAT_PIXEL2), s=50, c="tab:orange", marker="^", label="NASFLAT (published, 20 samples)")
    axis.scatter([p[1] for p in HELP_PICKS["pixel2"]], [p[2] for p in HELP_PICKS["pixel2"]], s=50, c="tab:red",
                 marker="x", label="HELP (published)")
    for budget, _, _ in HELP_PICKS["pixel2"]:
        axis.axvline(budget, c="tab:red", lw=0.7, ls="--")
    axis.set_xlim(5, 40)
    axis.set_ylim(60, 74.5)
    axis.set_xlabel("pixel2 latency (ms, HELP's table)")
    axis.set_ylabel("CIFAR-100 test accuracy (%)")
    axis.legend(loc="lower right", fontsize=8)
    atomic_write_bytes(path, lambda stream: figure.savefig(stream, format="png", dpi=110, bbox_inches="tight"))
    plt.close(figure)


def build_parser() -> ArgumentParser:
    """The command line of ``python -m jobs.search_summary`` (also read by ``jobs.publish`` for docs/cli.md)."""
    p = ArgumentParser(prog="python -m jobs.search_summary", description=__doc__.split("\n")[0])
    p.add_argument("--results", required=True, help="the search job list's results folder")
    p.add_argument("--plot", default=None, help="PNG of the pixel2 search")
    p.add_argument("--plot_predictor", default="roofline", help="the predictor whose picks the plot shows")
    p.add_argument("--data_dir", default=None, help="data directory (for the plot's accuracies)")
    p.add_argument("--record_dir", default=None,
                   help="also write the setting and wider tables as records (CSV with code versions) here")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the tables (and draw the plot)."""
    args = build_parser().parse_args(argv)

    def run() -> None:
        frame = collect(Path(args.results))
        print("### HELP's setting, per predictor\n")
        print(setting_table(frame))
        for study in HELP_STUDIES:
            part = frame[frame["study"] == study]
            if part.empty:
                continue
            print(f"\n### Picks, {study} (mean CIFAR-100 accuracy over the trials)\n")
            print(picks_table(frame, study, _methods(part)))
        print("\nBRP-NAS's published picks (ms, %): " + "; ".join(
            f"{device} " + ", ".join(f"({ms:g}, {acc:g})" for ms, acc in picks) for device, picks in BRP_PICKS.items()))
        if (frame["study"] == "wider").any():
            print("\n### The wider test\n")
            print(wider_table(frame))
        if args.record_dir:
            for path in write_records(frame, Path(args.record_dir)):
                print(f"\nrecord: {path}")
        if args.plot:
            plot_pixel2(frame, Path(args.plot), args.data_dir, args.plot_predictor)
            print(f"\nplot: {args.plot}")

    return run_reporting_errors(run)


if __name__ == "__main__":
    sys.exit(main())
