"""Wall time and peak memory of building each encoding from scratch, on this machine.

    python benchmarks/encoding_build.py [--space nb201|fbnet|both] [--kinds arch2vec cate zcp]
                                        [--cache_dir DIR] [--data_dir DIR]

Each build runs ``python -m nas_embedding_suite encode`` in its own process against an empty cache
folder (a temporary one unless ``--cache_dir`` names a folder to keep the results in), which
prints the wall time and that process's peak RSS. The NB201 proxies take over an hour: they run
only when ``--kinds`` names ``zcp``; FBNet's proxies are read from the published file.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", default="both", choices=["nb201", "fbnet", "both"])
    parser.add_argument("--kinds", nargs="+", default=["arch2vec", "cate"], choices=["arch2vec", "cate", "zcp"])
    parser.add_argument("--cache_dir", default=None, help="keep the built encodings here (default: a temporary folder)")
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args()
    spaces = ["nb201", "fbnet"] if args.space == "both" else [args.space]
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "NASFLAT_CACHE_DIR": args.cache_dir or scratch}
        for space in spaces:
            for kind in args.kinds:
                command = [sys.executable, "-m", "nas_embedding_suite", "encode", "--space", space,
                           "--kind", kind, "--no-progress"]
                command += ["--data_dir", args.data_dir] if args.data_dir else []
                result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
                print(result.stdout.strip() if result.returncode == 0 else f"{space} {kind}: failed\n{result.stderr}",
                      flush=True)


if __name__ == "__main__":
    main()
