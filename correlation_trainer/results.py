"""Result files: per-unit raw predictions (npz), the per-device and averaged CSVs, a text table.

All files are written to a temporary name and renamed, so an interrupted run never leaves a
half-written file. The three result CSVs of a folder are merged under a lock: rows of other runs
are kept as they were written (text, so types never change), a torn or unparsable row never costs
another row, and the per-device and averaged rows stay consistent with the trial rows.
"""
from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from nas_embedding_suite.output_files import atomic_write_bytes


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
    mape: float = float("nan")  # of the scores calibrated to ms on the k samples (NaN: no calibration)
    within10: float = float("nan")  # share of evaluated archs within 10 % of their measured latency


_ARRAYS = ("transfer_archs", "eval_archs", "predicted", "measured")
_SCALARS = ("trial", "source_size", "k", "target", "spr", "kdt", "n_eval", "hw_source")
#: scalars added later: units saved before them load with NaN
_OPTIONAL_SCALARS = ("mape", "within10")
#: per-transfer measurements (not configuration) in the result rows
METRICS = ("spr", "kdt", "mape", "within10")


def save_unit(path: Path, results: Sequence, config: Dict) -> None:
    """Save one (trial, source size) unit: every transfer's metrics and raw predictions."""
    arrays: Dict[str, np.ndarray] = {"config": np.array(json.dumps(config, default=list))}
    for i, result in enumerate(results):
        for name in _SCALARS + _OPTIONAL_SCALARS:
            arrays[f"{i}/{name}"] = np.array(getattr(result, name))
        for name in _ARRAYS:
            arrays[f"{i}/{name}"] = np.asarray(getattr(result, name))
    atomic_write_bytes(path, lambda stream: np.savez(stream, **arrays))


def load_unit(path: Path) -> Optional[List]:
    """The results saved in ``path``, or None if it is absent or unreadable (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            count = len({name.split("/")[0] for name in stored.files if "/" in name})
            results = []
            for i in range(count):
                values = {name: stored[f"{i}/{name}"][()] for name in _SCALARS}
                values.update({name: float(stored[f"{i}/{name}"][()]) for name in _OPTIONAL_SCALARS
                               if f"{i}/{name}" in stored.files})
                values.update({name: stored[f"{i}/{name}"] for name in _ARRAYS})
                values["target"] = str(values["target"])
                values["hw_source"] = str(values["hw_source"])
                results.append(TransferResult(**values))
            return results
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def load_unit_config(path: Path) -> Dict:
    """The run configuration saved with the unit in ``path`` (as :func:`save_unit` wrote it)."""
    with np.load(path, allow_pickle=False) as stored:
        return json.loads(str(stored["config"]))


def results_frame(results: Sequence, config: Dict, task_label: str) -> pd.DataFrame:
    """One row per transfer (trial-level), with the configuration columns first."""
    rows = []
    for r in results:
        row = dict(config)
        row.update(task=task_label, trial=r.trial, source_size=r.source_size, k=r.k,
                   target_device=r.target, spr=r.spr, kdt=r.kdt, mape=r.mape, within10=r.within10,
                   n_eval=r.n_eval, hw_source=r.hw_source)
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, (list, tuple))).any():
            frame[column] = frame[column].map(lambda v: " ".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    return frame


def _with_error_columns(trials: pd.DataFrame) -> pd.DataFrame:
    """``trials`` with the ms-error columns (NaN in rows written before they existed)."""
    missing = {name: float("nan") for name in ("mape", "within10") if name not in trials.columns}
    return trials.assign(**missing) if missing else trials


def per_device_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over trials per (target device, source size, k); config columns kept."""
    trials = _with_error_columns(trials)
    keys = [c for c in trials.columns if c not in ("trial", "n_eval", "hw_source") + METRICS]
    grouped = trials.groupby(keys, sort=False, dropna=False)
    table = grouped.agg(spr=("spr", "mean"), kdt=("kdt", "mean"), spr_std=("spr", "std"),
                        kdt_std=("kdt", "std"), mape=("mape", "mean"), within10=("within10", "mean"),
                        n_eval=("n_eval", "mean"), trials=("trial", "nunique"))
    return table.reset_index().fillna({"spr_std": 0.0, "kdt_std": 0.0})


def averaged_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per (source size, k): average over target devices per trial, then mean and std over trials."""
    trials = _with_error_columns(trials)
    keys = [c for c in trials.columns
            if c not in ("trial", "n_eval", "hw_source", "target_device") + METRICS]
    per_trial = trials.groupby(keys + ["trial"], sort=False, dropna=False)[list(METRICS)].mean().reset_index()
    grouped = per_trial.groupby(keys, sort=False, dropna=False)
    table = grouped.agg(spr=("spr", "mean"), kdt=("kdt", "mean"), spr_std=("spr", "std"),
                        kdt_std=("kdt", "std"), mape=("mape", "mean"), within10=("within10", "mean"),
                        trials=("trial", "nunique"))
    return table.reset_index().fillna({"spr_std": 0.0, "kdt_std": 0.0})


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` atomically."""
    atomic_write_bytes(path, lambda stream: stream.write(frame.to_csv(index=False).encode()))


def read_results_csv(path) -> pd.DataFrame:
    """Read a results CSV (a path or a text stream); only empty cells are missing values (the task
    label "NA" stays a label)."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


@dataclass
class CsvRows:
    """A result CSV as text: its header and the rows that parsed; what did not parse is counted."""

    header: List[str] = field(default_factory=list)
    rows: List[List[str]] = field(default_factory=list)
    bad_rows: int = 0

    def column(self, name: str) -> List[str]:
        position = self.header.index(name)
        return [row[position] for row in self.rows]


def read_csv_rows(path: Path) -> CsvRows:
    """Every well-formed row of ``path`` as strings.

    A row is dropped (and counted in ``bad_rows``) when it has another number of fields than the
    header, holds bytes that are not UTF-8, or is the last line of a file that does not end with a
    newline (a write cut short). A missing or empty file gives no rows.
    """
    if not path.is_file():
        return CsvRows()
    raw = path.read_bytes()
    if not raw.strip():
        return CsvRows()
    torn_tail = not raw.endswith(b"\n")
    records = list(csv.reader(io.StringIO(raw.decode("utf-8", errors="surrogateescape"), newline="")))
    header, body = records[0], records[1:]
    result = CsvRows(header=header)
    if not header or any(_has_bad_bytes(name) for name in header):
        return CsvRows(bad_rows=len(records))
    for number, record in enumerate(body):
        if torn_tail and number == len(body) - 1:
            result.bad_rows += 1
        elif len(record) != len(header) or any(_has_bad_bytes(cell) for cell in record):
            result.bad_rows += 1
        else:
            result.rows.append(record)
    return result


def _has_bad_bytes(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _frame_rows(frame: pd.DataFrame) -> CsvRows:
    """``frame`` as the strings ``to_csv`` writes."""
    records = list(csv.reader(io.StringIO(frame.to_csv(index=False), newline="")))
    return CsvRows(header=records[0], rows=records[1:])


def _rows_frame(rows: CsvRows) -> pd.DataFrame:
    """Typed frame of ``rows`` (as :func:`read_results_csv` would read them from a file)."""
    return read_results_csv(io.StringIO(_csv_text(rows)))


def _csv_text(rows: CsvRows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows.header)
    writer.writerows(rows.rows)
    return buffer.getvalue()


def _union(parts: Sequence[CsvRows]) -> CsvRows:
    """Rows of every part under the union of their columns (first seen first; missing cells empty)."""
    header: List[str] = []
    for part in parts:
        header += [name for name in part.header if name not in header]
    merged = CsvRows(header=header)
    for part in parts:
        position = {name: i for i, name in enumerate(part.header)}
        for row in part.rows:
            merged.rows.append([row[position[name]] if name in position else "" for name in header])
    return merged


def _without_keys(rows: CsvRows, key: str, dropped: set) -> CsvRows:
    if key not in rows.header:
        return CsvRows(header=rows.header, rows=[], bad_rows=rows.bad_rows)
    position = rows.header.index(key)
    return CsvRows(header=rows.header, rows=[r for r in rows.rows if r[position] not in dropped])


def _set_aside(path: Path, bad_rows: int) -> None:
    """Rename a damaged results file to ``<name>.corrupt-<time>`` and say so on stderr."""
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S%f")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, aside)
    print(f"warning: {path} had {bad_rows} torn or unparsable row(s); the file was set aside as "
          f"{aside.name} and every parsable row was kept", file=sys.stderr)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder``'s result files (a no-op where ``fcntl`` does not exist)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with open(folder / ".results.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def merge_csv(frame, path: Path, key: str = "run_key") -> CsvRows:
    """Write ``frame`` (one data frame, or several written one after the other) into ``path``,
    replacing the rows of the same runs (``key``) and keeping, as written, every parsable row of
    other runs (other tasks or settings in the same folder); atomic.

    A file with torn or unparsable rows is set aside as ``<name>.corrupt-<time>`` first (said on
    stderr). Returns the rows of the file as written.
    """
    frames = [frame] if isinstance(frame, pd.DataFrame) else list(frame)
    replaced = set().union(*(set(f[key].astype(str)) for f in frames))
    existing = read_csv_rows(path)
    if existing.bad_rows:
        _set_aside(path, existing.bad_rows)
    kept = _without_keys(existing, key, replaced) if existing.header else CsvRows()
    merged = _union([kept] + [_frame_rows(f) for f in frames])
    atomic_write_bytes(path, lambda stream: stream.write(_csv_text(merged).encode()))
    return merged


def _runs(rows: CsvRows, key: str) -> Dict[str, CsvRows]:
    """The rows of each run, without the columns that are empty in all of that run's rows."""
    position = rows.header.index(key)
    grouped: Dict[str, List[List[str]]] = {}
    for row in rows.rows:
        grouped.setdefault(row[position], []).append(row)
    runs = {}
    for run, members in grouped.items():
        used = [i for i in range(len(rows.header)) if any(r[i] for r in members)]
        runs[run] = CsvRows(header=[rows.header[i] for i in used], rows=[[r[i] for i in used] for r in members])
    return runs


#: the summary files of a results folder: the columns that make one of their rows
_SUMMARY_KEYS = {"samp_eff": ("target_device", "source_size", "k"), "aggr": ("source_size", "k")}


def merge_results(out_dir: Path, space: str, trials: pd.DataFrame, per_device: pd.DataFrame,
                  averaged: pd.DataFrame, key: str = "run_key") -> None:
    """Merge one run's rows into the folder's ``<space>_trials.csv``, ``<space>_samp_eff.csv`` and
    ``aggr_<space>_samp_eff.csv``, under a lock, keeping the three consistent.

    Rows of other runs are kept as written. When a damaged summary file lost rows of another run
    whose trial rows are intact, that run's per-device and averaged rows are rebuilt from its trial
    rows (so a torn summary row is restored, not dropped).
    """
    out_dir = Path(out_dir)
    paths = {"samp_eff": out_dir / f"{space}_samp_eff.csv", "aggr": out_dir / f"aggr_{space}_samp_eff.csv"}
    with _folder_lock(out_dir):
        written = merge_csv(trials, out_dir / f"{space}_trials.csv", key)
        current = set(trials[key].astype(str))
        others = {run: rows for run, rows in _runs(written, key).items() if run not in current}
        for kind, frame in (("samp_eff", per_device), ("aggr", averaged)):
            existing = read_csv_rows(paths[kind])
            rebuilt = _rebuilt_runs(kind, existing, others, key) if existing.bad_rows else []
            merge_csv([frame] + rebuilt, paths[kind], key)


def _rebuilt_runs(kind: str, existing: CsvRows, other_trials: Dict[str, CsvRows], key: str) -> List[pd.DataFrame]:
    """Summary rows rebuilt from the trial rows, for the runs whose rows in ``existing`` are short."""
    present = existing.column(key) if key in existing.header else []
    rebuilt = []
    for run, rows in other_trials.items():
        run_trials = _rows_frame(rows)
        summary_keys = [c for c in _SUMMARY_KEYS[kind] if c in run_trials.columns]
        if present.count(run) != len(run_trials.drop_duplicates(summary_keys)):
            rebuilt.append(per_device_table(run_trials) if kind == "samp_eff" else averaged_table(run_trials))
    return rebuilt


def _ms_errors(row) -> str:
    """`` MAPE x% within10 y%`` for a row with the calibrated-latency errors, else nothing."""
    if pd.isna(row.get("mape", float("nan"))):
        return ""
    return f"  MAPE {100 * row['mape']:.1f}%  within 10% {100 * row['within10']:.0f}%"


def _spread(row, name: str) -> str:
    """`` +- std`` over trials, or nothing for a single trial (its 0 would be no spread)."""
    return f" +- {row[f'{name}_std']:.3f}" if row.get("trials", 2) > 1 else ""


def format_results(per_device: pd.DataFrame, averaged: pd.DataFrame) -> str:
    """A readable table: Spearman/Kendall (mean +- std over trials) per target and the average."""
    lines = []
    for (source_size, k), group in per_device.groupby(["source_size", "k"], sort=False):
        lines.append(f"source archs {source_size}, k = {k}")
        width = max(len(str(d)) for d in group["target_device"])
        for _, row in group.iterrows():
            lines.append(
                f"  {str(row['target_device']).ljust(width)}  spearman {row['spr']:.3f}{_spread(row, 'spr')}"
                f"  kendall {row['kdt']:.3f}{_spread(row, 'kdt')}" + _ms_errors(row)
            )
        mean = averaged[(averaged["source_size"] == source_size) & (averaged["k"] == k)].iloc[0]
        lines.append(
            f"  {'MEAN'.ljust(width)}  spearman {mean['spr']:.3f}{_spread(mean, 'spr')}"
            f"  kendall {mean['kdt']:.3f}{_spread(mean, 'kdt')}" + _robust_ms_errors(group)
        )
    return "\n".join(lines)


def _robust_ms_errors(group: pd.DataFrame) -> str:
    """The errors in ms summarised over the target devices of one (source size, k): the median of
    the devices' MAPE and their mean within-10% share. A mean MAPE would be ruled by one device
    with near-zero readings (raspi4's 0.011 ms cells gave 184.8% on the default run while five of
    six devices were under 18%), so the per-device rows above keep each MAPE and this line does not
    average them."""
    if "mape" not in group.columns or group["mape"].isna().all():
        return ""
    return (f"  median MAPE over devices {100 * group['mape'].median():.1f}%"
            f"  within 10% {100 * group['within10'].mean():.0f}% (mean over devices)")
