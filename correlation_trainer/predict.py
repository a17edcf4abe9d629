"""Predict latencies with an adapted predictor saved by ``main.py --target_device_file``.

    python correlation_trainer/predict.py --checkpoint results/my_cpu/predictor \\
        --archs "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_1x1~2|" 42
    python correlation_trainer/predict.py --checkpoint results/my_cpu/predictor --archs_file archs.txt --out p.csv

Writes a CSV (to ``--out`` or stdout): index, arch, score, predicted_latency_ms and rank (1 = the
fastest of the given architectures). Architectures are given as indices or arch strings of the
checkpoint's space. Errors are printed as one line (exit status 2).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from correlation_trainer.checkpoint import AdaptedPredictor
from correlation_trainer.cpu_setup import configure_cpu
from correlation_trainer.representations import encoding_of
from correlation_trainer.results import write_csv
from correlation_trainer.task_data import TaskData
from nas_embedding_suite.arch_list import read_arch_list
from nas_embedding_suite.data_directory import ENV_VAR, DataDirectory
from nas_embedding_suite.errors import ArgumentParser, NasflatError, run_reporting_errors
from nas_embedding_suite.output_files import check_output_file
from nas_embedding_suite.spaces import get_space
from nas_embedding_suite.tasks import TaskSuite


def build_parser() -> argparse.ArgumentParser:
    """Every flag, with its default and meaning."""
    p = ArgumentParser(prog="python correlation_trainer/predict.py",
                                description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True, help="folder written by main.py --target_device_file "
                                                       "(<out_dir>/<name_desc>/predictor)")
    p.add_argument("--archs", nargs="+", default=None, help="architecture indices or arch strings")
    p.add_argument("--archs_file", default=None, help="file with one index or arch string per line")
    p.add_argument("--all", action="store_true", help="every architecture of the space")
    p.add_argument("--device_name", default=None,
                   help="target device of the checkpoint (default: its only one)")
    p.add_argument("--out", default=None, help="CSV to write (default: print to stdout)")
    p.add_argument("--data_dir", default=None, help=f"data directory (default: ${ENV_VAR}, ./data, ../shared/data)")
    p.add_argument("--trust_modified_data", action="store_true",
                   help="use data files that differ from SHA256SUMS with a warning instead of refusing them")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return p


def requested_archs(args: argparse.Namespace, space) -> np.ndarray:
    """The architecture indices the flags name, in the order given."""
    if sum(bool(x) for x in (args.archs, args.archs_file, args.all)) != 1:
        raise NasflatError("give exactly one of --archs, --archs_file or --all")
    if args.all:
        return np.arange(space.num_archs)
    indices: List[int] = (read_arch_list(Path(args.archs_file), space) if args.archs_file
                          else [space.resolve_arch(a) for a in args.archs])
    if not indices:
        raise NasflatError(f"--archs_file {args.archs_file} lists no architectures")
    seen = {}
    for position, index in enumerate(indices):
        if index in seen:
            where = f"--archs_file {args.archs_file}" if args.archs_file else "--archs"
            raise NasflatError(f"{where} names architecture {index} twice (entries {seen[index] + 1} and "
                               f"{position + 1}); list each architecture once")
        seen[index] = position
    return np.asarray(indices, dtype=np.int64)


def run(args: argparse.Namespace) -> None:
    """Load the checkpoint, score the architectures, write the CSV."""
    if args.threads < 1:
        raise NasflatError("--threads must be at least 1")
    if args.out:
        check_output_file(args.out, "--out")
    configure_cpu(args.threads)
    predictor = AdaptedPredictor.load(Path(args.checkpoint))
    config = predictor.config
    name = args.device_name
    if name is None:
        if len(predictor.targets) != 1:
            raise NasflatError(f"the checkpoint has several targets; choose one with --device_name "
                               f"({', '.join(predictor.targets)})")
        name = next(iter(predictor.targets))
    predictor.target(name)
    space = get_space(config.space, DataDirectory.resolve(args.data_dir, args.trust_modified_data))
    archs = requested_archs(args, space)
    sources = TaskSuite.load().resolve(config.space, config.task_index)
    data = TaskData.build(sources, space, encoding_of(config.representation), config.graph_mode)
    scores = predictor.scores(predictor.models(data, name), data, archs, name)
    frame = pd.DataFrame({
        "index": archs, "arch": [space.arch_str(i) for i in archs], "score": scores,
        "predicted_latency_ms": predictor.latency_ms(scores, name),
    })
    frame["rank"] = frame["score"].rank(method="first").astype(int)
    if args.out:
        write_csv(frame, Path(args.out))
        print(f"{len(frame)} predictions for {name} written to {args.out}", file=sys.stderr)
    else:
        print(frame.to_csv(index=False), end="")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse flags and run; one-line errors instead of tracebacks."""
    args = build_parser().parse_args(argv)
    return run_reporting_errors(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
