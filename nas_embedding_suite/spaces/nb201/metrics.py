"""Per-architecture NAS-Bench-201 metrics from published tables: test accuracies and NASWOT scores.

Both tables are in NAS-Bench-201 index order; each row's arch string is checked against the space.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import DataError

ACCURACY_FILE = "nats-bench-landscape/nats_bench.csv"
NASWOT_FILE = "nas-without-training/results/arch_score_acc.csv"
_ACCURACY_COLUMNS = {
    "CIFAR10TestAccuracy200Epochs": "cifar10",
    "CIFAR100TestAccuracy200Epochs": "cifar100",
    "ImageNetTestAccuracy200Epochs": "imagenet16_120",
}


def _read_csv(space, relative: str, arch_column: str, columns) -> pd.DataFrame:
    path = space.data_dir.file(relative)
    try:
        frame = pd.read_csv(path)
    except Exception as exc:
        raise DataError(f"cannot read {path}: {' '.join(str(exc).split())[:200]}") from None
    missing = [c for c in [arch_column, *columns] if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks column(s) {', '.join(missing)}")
    if len(frame) != space.num_archs:
        raise DataError(f"{path} has {len(frame)} rows; expected {space.num_archs}")
    expected = [space.arch_str(i) for i in range(space.num_archs)]
    if list(frame[arch_column]) != expected:
        raise DataError(f"{path} is not in NAS-Bench-201 index order")
    return frame


def load_accuracies(space) -> pd.DataFrame:
    """200-epoch test accuracy (%) on CIFAR-10, CIFAR-100 and ImageNet16-120, one row per index."""
    frame = _read_csv(space, ACCURACY_FILE, "ArchitectureString", list(_ACCURACY_COLUMNS))
    return frame[list(_ACCURACY_COLUMNS)].rename(columns=_ACCURACY_COLUMNS).astype(np.float64)


def load_naswot(space) -> pd.DataFrame:
    """NASWOT score (NaN for disconnected cells) and the published parameter count (millions)."""
    frame = _read_csv(space, NASWOT_FILE, "cellstr", ["score", "params"])
    return frame[["score", "params"]].rename(columns={"score": "naswot", "params": "params_published"})
