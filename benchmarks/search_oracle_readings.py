"""Where the wider search test loses accuracy: oracles whose reading only the target device shows.

    python benchmarks/search_oracle_readings.py [--results results/search_joblist] [--predictor roofline]
        [--gap 0.5] [--data_dir DIR]

The wider test (``--study wider`` of ``large_run_slurms/search_joblist.log``) scores each pick
against the oracle: the most accurate architecture whose published reading on the target meets the
budget. This script asks, for every (device, objective, budget) case, how that oracle ranks on the
target (its latency percentile there) and on every other NB201 device (median percentile). An
oracle is *target-only fast* when it ranks faster on the target than on the other devices by more
than ``--gap`` (0.5: e.g. 5th percentile on the target, 80th elsewhere). No few-shot predictor can
find such an architecture: nothing it learns from other architectures or devices says it is fast.

Printed: per device, the cases, the mean regret of the predictor's picks, and how many oracles are
target-only fast; then the mean regret over all cases and over the cases whose oracle is not. The
second number is a diagnosis, not the test's score: the test's score stays the first.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from jobs.search_summary import collect
from nas_embedding_suite.data_directory import DataDirectory
from nas_embedding_suite.latency_table import load_latency_table
from nas_embedding_suite.spaces import get_space


def latency_percentiles(values: np.ndarray) -> np.ndarray:
    """Each device's latency percentile (0 fastest, 1 slowest) of every architecture; NaN where
    unmeasured. ``values`` is ``[devices, archs]``."""
    out = np.full(values.shape, np.nan)
    for row, latency in enumerate(values):
        measured = ~np.isnan(latency)
        out[row, measured] = rankdata(latency[measured]) / measured.sum()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="results/search_joblist", help="the search job list's results folder")
    parser.add_argument("--predictor", default="roofline", help="whose wider-test picks to read")
    parser.add_argument("--gap", type=float, default=0.5, help="percentile gap that marks a target-only fast oracle")
    parser.add_argument("--data_dir", default=None, help="data directory (default: $NASFLAT_DATA_DIR)")
    args = parser.parse_args()

    frame = collect(Path(args.results))
    rows = frame[(frame["study"] == "wider") & (frame["predictor"] == args.predictor)]
    if rows.empty:
        raise SystemExit(f"error: no wider-test rows of {args.predictor} under {args.results}")
    space = get_space("nb201", DataDirectory.resolve(args.data_dir))
    table = load_latency_table(space)
    percentile = latency_percentiles(table.values)
    names = table.device_names

    def target_only_fast(target: str, oracle: int) -> bool:
        row = names.index(target)
        elsewhere = np.nanmedian(np.delete(percentile[:, oracle], row))
        return bool(percentile[row, oracle] < elsewhere - args.gap)

    rows = rows.assign(target_only=[target_only_fast(t, int(o)) for t, o in zip(rows["target"], rows["oracle_index"])])
    origin = {device.name: device.source for device in table.devices}
    per_device = rows.groupby("target").agg(
        source=("target", lambda s: origin[s.iloc[0]]), cases=("budget_ms", "size"),
        mean_regret=("regret", "mean"), target_only_oracles=("target_only", "mean"))
    per_device = per_device.sort_values("mean_regret", ascending=False)
    print(per_device.to_string(float_format=lambda v: f"{v:.3f}"))
    clean = rows[~rows["target_only"]]
    print(f"\n{args.predictor}: {len(rows)} (case, trial) rows, mean regret {rows['regret'].mean():.3f}; "
          f"{rows['target_only'].mean():.1%} of the rows have a target-only fast oracle (gap {args.gap}); "
          f"mean regret over the others {clean['regret'].mean():.3f}")
    for source, part in rows.groupby(rows["target"].map(origin)):
        rest = part[~part["target_only"]]
        print(f"  {source}: mean regret {part['regret'].mean():.3f}, target-only fast oracles "
              f"{part['target_only'].mean():.1%}, mean regret over the others {rest['regret'].mean():.3f}")


if __name__ == "__main__":
    main()
