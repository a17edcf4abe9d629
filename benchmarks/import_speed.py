"""Time ``import-device`` on a 200,000-row published-style table (parquet and CSV).

    python benchmarks/import_speed.py [--data_dir DIR] [--rows 200000]

Writes a table of ``index, arch, device, framework, latency`` rows (8 devices x 2 frameworks x
12,500 NB201 cells, seconds, synthetic values) as parquet and as CSV into a temporary folder, then
runs ``python -m nas_embedding_suite import-device TABLE --arch-column index|arch --split-by device
framework --unit s`` on each (architectures read from the index column, then from the arch strings)
in a fresh process (the whole command: interpreter start, imports, reading, parsing, checking,
writing 16 device files) and prints the wall times. The goal: under 10 s.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from nas_embedding_suite.data_directory import DataDirectory
from nas_embedding_suite.spaces import get_space

ROOT = Path(__file__).resolve().parents[1]
DEVICES = ("pi5", "pi4", "jetson", "nuc", "phone_a", "phone_b", "tpu", "dsp")
FRAMEWORKS = ("onnx", "tflite")


def make_table(space, rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows: every (device, framework) pair over the same random cells, latencies in s."""
    rng = np.random.default_rng(seed)
    pairs = len(DEVICES) * len(FRAMEWORKS)
    cells = rng.choice(space.num_archs, rows // pairs, replace=False)
    flops = space.flops[cells]
    parts = []
    for d, device in enumerate(DEVICES):
        for f, framework in enumerate(FRAMEWORKS):
            seconds = (1e-3 * (1 + d) + 2e-5 * (1 + f) * flops) * rng.lognormal(0.0, 0.05, len(cells))
            parts.append(pd.DataFrame({"index": cells, "arch": [space.arch_str(i) for i in cells],
                                       "device": device, "framework": framework, "latency": seconds}))
    return pd.concat(parts, ignore_index=True)


def timed_import(table: Path, out_dir: Path, data_dir: str, column: str) -> float:
    """Wall seconds of one import-device command in a fresh process."""
    command = [sys.executable, "-m", "nas_embedding_suite", "import-device", str(table), "--arch-column", column,
               "--split-by", "device", "framework", "--unit", "s", "--out-dir", str(out_dir)]
    if data_dir:
        command += ["--data_dir", data_dir]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    space = get_space("nb201", DataDirectory.resolve(args.data_dir))
    frame = make_table(space, args.rows)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        frame.to_parquet(folder / "table.parquet")
        frame.to_csv(folder / "table.csv", index=False)
        for name in ("table.parquet", "table.csv"):
            for column in ("index", "arch"):
                size = (folder / name).stat().st_size / 2**20
                out = folder / f"{name.replace('.', '_')}_{column}"
                seconds = timed_import(folder / name, out, args.data_dir, column)
                files = len(list(out.glob("*.csv")))
                print(f"{name}: {len(frame)} rows, {size:.1f} MiB, architectures by {column} -> {files} device "
                      f"files in {seconds:.2f} s (whole command, fresh process)")


if __name__ == "__main__":
    main()
