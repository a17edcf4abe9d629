"""The samplers on the device files measured on this project's CPU (``benchmarks/own_device/``).

    python benchmarks/own_device_samplers.py [--out results_records/samplers/own_device_samplers.csv]

Each file holds 20 flops-chosen and 100-300 random architectures timed on a 2-core CPU (batch 1,
1 thread, ms). For every sampler and k the roofline is fit on k architectures the sampler chooses
among the file's own (``--sample_pool measured``), and scored on all the others: held-out Spearman
beside the FLOPs ranking and the closest source device on the same held-out archs. The samples are
fixed by the seed, so each (sampler, k) is one deterministic run. Writes a record with the code
version of every row (atomically) and prints it.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from correlation_trainer.code_version import code_fingerprint, git_commit
from nas_embedding_suite.output_files import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
FILES = {"nb201": ("ND", REPO / "benchmarks/own_device/nb201_this_cpu.csv"),
         "fbnet": ("FD", REPO / "benchmarks/own_device/fbnet_this_cpu.csv")}
SAMPLERS = ("flops", "random", "doptimal", "doptimal_prior", "sequential")


def evaluate(space: str, sampler: str, k: int, work: Path) -> dict:
    """One run of main.py on the space's file; its evaluation rows as one record row."""
    task, path = FILES[space]
    out = work / f"{space}_{sampler}_{k}"
    subprocess.run([sys.executable, str(REPO / "correlation_trainer/main.py"), "--space", space, "--task_index", task,
                    "--predictor", "roofline", "--target_device_file", str(path), "--sample_pool", "measured",
                    "--sampling_metric", sampler, "--transfer_sample_sizes", str(k), "--no_progress",
                    "--out_dir", str(out)], check=True, capture_output=True, text=True, cwd=REPO)
    rows = pd.read_csv(next(out.rglob("new_device_evaluation.csv")))

    def spearman(prefix: str) -> str:
        return f"{rows.loc[rows['ranking'].str.startswith(prefix), 'spr'].iloc[0]:.3f}"
    return {"space": space, "device file": path.name, "sampler": sampler, "k": k,
            "held-out archs": int(rows["n_eval"].iloc[0]), "roofline": spearman("roofline"),
            "FLOPs ranking": spearman("flops"), "closest source": spearman("closest source")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="record CSV to write (default: print only)")
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 20], help="sample sizes")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for space in FILES:
            for k in args.k:
                for sampler in SAMPLERS:
                    rows.append(evaluate(space, sampler, k, Path(work)))
                    print(rows[-1], flush=True)
    record = pd.DataFrame(rows).assign(provenance="benchmark", code_commit=git_commit(),
                                       code_fingerprint=code_fingerprint())
    if args.out:
        atomic_write_text(Path(args.out), record.to_csv(index=False))
        print(f"record: {args.out}")


if __name__ == "__main__":
    main()
