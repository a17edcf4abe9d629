"""Result files: per-unit raw predictions (npz), the per-device and averaged CSVs, a text table.

All files are written to a temporary name and renamed, so an interrupted run never leaves a
half-written file.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

_ARRAYS = ("transfer_archs", "eval_archs", "predicted", "measured")
_SCALARS = ("trial", "source_size", "k", "target", "spr", "kdt", "n_eval", "hw_source")
#: scalars added later: units saved before them load with NaN
_OPTIONAL_SCALARS = ("mape", "within10")
#: per-transfer measurements (not configuration) in the result rows
METRICS = ("spr", "kdt", "mape", "within10")


def atomic_write_bytes(path: Path, writer) -> None:
    """Call ``writer(stream)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            writer(stream)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


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
    from .experiment import TransferResult

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


def read_results_csv(path: Path) -> pd.DataFrame:
    """Read a results CSV; only empty cells are missing values (the task label "NA" stays a label)."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def merge_csv(frame: pd.DataFrame, path: Path, key: str = "run_key") -> pd.DataFrame:
    """Write ``frame`` into ``path``, replacing the rows of the same run (``key``) and keeping the
    rows of other runs (other tasks or settings written to the same folder); atomic."""
    if path.is_file():
        try:
            existing = read_results_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            existing = None  # unreadable: replaced by this run's rows
        if existing is not None and key in existing.columns:
            kept = existing[~existing[key].isin(frame[key].unique())]
            frame = pd.concat([kept, frame], ignore_index=True)
    write_csv(frame, path)
    return frame


def _ms_errors(row) -> str:
    """`` MAPE x% within10 y%`` for a row with the calibrated-latency errors, else nothing."""
    if pd.isna(row.get("mape", float("nan"))):
        return ""
    return f"  MAPE {100 * row['mape']:.1f}%  within 10% {100 * row['within10']:.0f}%"


def format_results(per_device: pd.DataFrame, averaged: pd.DataFrame) -> str:
    """A readable table: Spearman/Kendall (mean +- std) per target and the average."""
    lines = []
    for (source_size, k), group in per_device.groupby(["source_size", "k"], sort=False):
        lines.append(f"source archs {source_size}, k = {k}")
        width = max(len(str(d)) for d in group["target_device"])
        for _, row in group.iterrows():
            lines.append(
                f"  {str(row['target_device']).ljust(width)}  spearman {row['spr']:.3f} +- {row['spr_std']:.3f}"
                f"  kendall {row['kdt']:.3f} +- {row['kdt_std']:.3f}" + _ms_errors(row)
            )
        mean = averaged[(averaged["source_size"] == source_size) & (averaged["k"] == k)].iloc[0]
        lines.append(
            f"  {'MEAN'.ljust(width)}  spearman {mean['spr']:.3f} +- {mean['spr_std']:.3f}"
            f"  kendall {mean['kdt']:.3f} +- {mean['kdt_std']:.3f}" + _ms_errors(mean)
        )
    return "\n".join(lines)
