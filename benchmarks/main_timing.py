"""Run ``correlation_trainer/main.py`` in a child process and report its wall time and peak memory
(shared by the benchmark scripts of this folder)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "correlation_trainer" / "main.py"

# Runs main.py in the child and prints that process's own peak resident set size.
CHILD = """
import resource, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:
    if exc.code:
        raise
print(f"PEAK_RSS_KIB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
"""


def timed_run(args, label: str) -> Optional[float]:
    """Run main.py with ``args``; print wall time, peak RSS and the MEAN lines; return the wall time."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CHILD, str(MAIN), *args, "--no_progress"],
                            cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        print(f"{label}: failed\n{result.stderr}")
        return None
    lines = result.stdout.splitlines()
    peak = int(next(line for line in lines if line.startswith("PEAK_RSS_KIB")).split()[1])
    print(f"{label}: wall {wall:.1f} s, peak RSS {peak / 1024:.0f} MiB")
    for line in lines:
        if "MEAN" in line:
            print(f"    {line.strip()}")
    return wall
