"""Time loading every NB201 and FBNet device table: from the source files and from the cache.

    python benchmarks/load_latency_tables.py [--data_dir DIR]

Each measurement runs in a fresh process so that nothing is shared through memory.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import sys, time
t = time.perf_counter()
from nas_embedding_suite.data_directory import DataDirectory
from nas_embedding_suite.latency_table import load_latency_table
from nas_embedding_suite.spaces import get_space
table = load_latency_table(get_space(sys.argv[1], DataDirectory.resolve(sys.argv[2] or None)))
print(f"{time.perf_counter() - t:.3f} {table.values.shape[0]}")
"""


def timed_load(space: str, data_dir: str, cache_dir: str) -> tuple:
    env = {"NASFLAT_CACHE_DIR": cache_dir, "PATH": "/usr/bin:/bin"}
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, space, data_dir or ""], cwd=ROOT, env=env,
        capture_output=True, text=True, check=True,
    ).stdout.split()
    return float(out[0]), int(out[1]), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        for space in ("nb201", "fbnet"):
            cold, devices, _ = timed_load(space, args.data_dir, cache)
            warm, _, process = timed_load(space, args.data_dir, cache)
            print(
                f"{space}: {devices} devices; from source files {cold:.2f} s, from cache {warm:.2f} s "
                f"(whole process incl. imports {process:.2f} s)"
            )


if __name__ == "__main__":
    main()
