"""NASFLAT few-shot latency prediction: pretrain on source devices, transfer to targets, evaluate.

    python correlation_trainer/main.py                       # NB201 headline: task ND, 16 source
                                                             # archs, k = 5/10/20, 3 trials
    python correlation_trainer/main.py --space fbnet --task_index 0 --representation adj_gin_zcp
    python correlation_trainer/main.py --task_index ND --choose_samples 20   # what to measure
    python correlation_trainer/main.py --task_index ND --target_device_file measurements/my.csv

Writes ``<out_dir>/<name_desc>/<space>_samp_eff.csv`` (one row per target device, source size
and k, with the full configuration and spr, kdt, spr_std, kdt_std), ``aggr_<space>_samp_eff.csv``
(averaged over the task's targets), ``<space>_trials.csv`` (one row per trial) and the raw
predictions of every (trial, source size) unit under ``units/`` (npz). A rerun with the same
settings reuses finished units. With ``--target_device_file`` (devices measured with
``python -m nas_embedding_suite measure``) the files are the targets, and the run also writes the
predicted latency of every architecture, an evaluation beside the FLOPs and closest-source rankings
and a checkpoint of the adapted predictor (see ``new_device.py``). Errors are printed as one line
(exit status 2).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import torch

from correlation_trainer.checkpoint import checkpoint_predictors
from correlation_trainer.code_version import code_fingerprint, git_commit
from correlation_trainer.configuration import add_predictor_options, build_config, setting_names
from correlation_trainer.cpu_setup import configure_cpu
from correlation_trainer.evaluation import list_protocols
from correlation_trainer.experiment import Experiment, ExperimentConfig
from correlation_trainer.predictors import PREDICTORS, list_predictors
from correlation_trainer.predictors.base import predictor_options
from correlation_trainer.new_device import (
    SAMPLE_POOLS, load_measured, plan_targets, read_transfer_indices, write_choice, write_new_device_outputs,
)
from correlation_trainer.pretrained_store import PretrainedStore
from correlation_trainer.representations import encoding_of, list_representations
from correlation_trainer.results import (
    averaged_table, format_results, merge_results, per_device_table, results_frame,
)
from nas_embedding_suite.samplers import list_sampling_methods, list_sampling_metrics
from correlation_trainer.task_data import TaskData
from nas_embedding_suite.data_directory import ENV_VAR, DataDirectory
from nas_embedding_suite.errors import ArgumentParser, NasflatError, run_reporting_errors
from nas_embedding_suite.output_files import check_output_file, check_output_folder
from nas_embedding_suite.encodings import list_encodings, load_encoding
from nas_embedding_suite.spaces import get_space, list_spaces
from nas_embedding_suite.spaces.base import GRAPH_MODES
from nas_embedding_suite.tasks import TaskSuite


def build_parser() -> argparse.ArgumentParser:
    """Every flag, with its default and meaning."""
    p = ArgumentParser(
        prog="python correlation_trainer/main.py", description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--predictor", default="nasflat", choices=list_predictors(),
                   help="nasflat (the GNN), or a reference: flops, params (rank by them), "
                        "closest_device (the best-correlated source device's latencies on the k samples)")
    p.add_argument("--space", default="nb201", choices=list_spaces(), help="search space")
    p.add_argument("--task_index", default="0",
                   help="task index within the space (0-5, 9999 = quick task) or a label such as ND")
    p.add_argument("--representation", default="adj_gin", choices=list_representations(),
                   help="graph only, or graph plus a supplementary encoding")
    p.add_argument("--graph_mode", default="compute", choices=GRAPH_MODES,
                   help="compute: every op the network runs is a node (dead ends cost time too); "
                        "cut: the spec's graph, nodes off every input-to-output path removed")
    p.add_argument("--sample_sizes", type=int, nargs="+", default=None,
                   help="source archs per source device (several allowed; 0 = no pretraining). "
                        "Default: 16 (nb201), 800 (fbnet); help and multipredict: 900 (nb201), 4000 (fbnet)")
    p.add_argument("--transfer_sample_sizes", type=int, nargs="+", default=None,
                   help="k: target samples to fine-tune on (several allowed). Default: 5 10 20; "
                        "20 with --target_device_file")
    p.add_argument("--transfer_lr", type=float, default=None,
                   help="fine-tuning learning rate. Default: 3e-3 (nb201), 1e-3 (fbnet)")
    p.add_argument("--transfer_epochs", type=int, default=None,
                   help="fine-tuning epochs. Default: 40 (nb201), 30 (fbnet)")
    p.add_argument("--transfer_batch_size", type=int, default=None,
                   help="fine-tuning batch size (0 = all k samples in one batch). "
                        "Default: all k (nb201), 16 (fbnet)")
    p.add_argument("--ensemble_size", type=int, default=1,
                   help="independently pretrained and fine-tuned models (same source archs and k "
                        "samples) whose standardised scores are averaged; costs that many times the "
                        "training")
    p.add_argument("--sampling_metric", "--sampling-metric", "--sampler", dest="sampling_metric", default=None,
                   choices=list_sampling_metrics(),
                   help="what the sampler of the k target archs looks at (flops: one arch from "
                        "each of k equal FLOPs buckets). Default: flops (nb201), random (fbnet)")
    p.add_argument("--sampling_method", "--sampling-method", dest="sampling_method", default="kmeancosine",
                   choices=list_sampling_methods(),
                   help="how vector metrics (encodings) choose")
    p.add_argument("--source_sampon", action=argparse.BooleanOptionalAction, default=True,
                   help="choose the source archs with the sampler too (--no-source_sampon: random)")
    p.add_argument("--num_trials", type=int, default=3, help="trials (seeds seed+0 .. seed+n-1)")
    p.add_argument("--seed", type=int, default=0, help="base seed")
    p.add_argument("--epochs", type=int, default=150, help="pretraining epochs")
    p.add_argument("--lr", type=float, default=1e-3, help="pretraining learning rate (AdamW)")
    p.add_argument("--weight_decay", type=float, default=1e-5, help="AdamW weight decay")
    p.add_argument("--eta_min", type=float, default=1e-6, help="cosine annealing floor")
    p.add_argument("--batch_size", type=int, default=128, help="pretraining batch size")
    p.add_argument("--eval_protocol", default="honest", choices=list_protocols(),
                   help="honest: all measured target archs but the k samples, last epoch; "
                        "paper: the original's archs 0..127 incl. samples, mean of last 4 epochs")
    p.add_argument("--name_desc", default=None, help="results subfolder name. Default: the --predictor")
    p.add_argument("--out_dir", default="results", help="results folder")
    p.add_argument("--pretrained_dir", default=None,
                   help="folder of pretrained weights: a run whose pretraining equals an earlier one's "
                        "(same settings, trial, threads and code; other k, fine-tuning or evaluation "
                        "settings) reuses it, with the same numbers. Default: <out_dir>/pretrained; "
                        "'none' keeps nothing")
    add_predictor_options(p)
    p.add_argument("--data_dir", default=None, help=f"data directory (default: ${ENV_VAR}, ./data, ../shared/data)")
    p.add_argument("--trust_modified_data", action="store_true",
                   help="use data files that differ from SHA256SUMS (edited on purpose) with a warning "
                        "instead of refusing them")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1...)")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch CPU threads")
    p.add_argument("--no_progress", action="store_true", help="no progress bars")
    p.add_argument("--target_device_file", nargs="+", default=None, metavar="FILE",
                   help="device files (`python -m nas_embedding_suite measure` or `import-device`): the "
                        "targets instead of the task's; the transfer samples come from --sample_pool, the "
                        "rest of each file is held out")
    p.add_argument("--sample_pool", default=None, choices=SAMPLE_POOLS,
                   help="with --target_device_file: where the k samples are drawn (same sampler and seed; "
                        "the trials' seeds do not change). space: over the whole space, the --choose_samples "
                        "architectures (a file lacking one is an error); measured: among the file's "
                        "architectures. Default: measured for an imported file that does not cover the "
                        "space, space otherwise (stated in the output)")
    p.add_argument("--transfer_indices", default=None, metavar="FILE",
                   help="with --target_device_file: the transfer samples themselves, one index or arch "
                        "string per line (k = their count unless --transfer_sample_sizes says it)")
    p.add_argument("--dedupe", action=argparse.BooleanOptionalAction, default=None,
                   help="with --target_device_file: sample and evaluate one architecture per isomorphism "
                        "class (copied latencies left out). Default: on when the file copies latencies "
                        "across isomorphic cells (stated in the output)")
    p.add_argument("--choose_samples", type=int, default=None, metavar="K",
                   help="only print the K architectures a new device must have measured as transfer "
                        "samples (sampler --sampling_metric, seed --seed), then stop")
    p.add_argument("--write_indices", default=None, metavar="FILE",
                   help="with --choose_samples: also write them to FILE (index,arch lines; "
                        "`measure --indices-file FILE` reads it)")
    return p


def make_config(args: argparse.Namespace, space: str, task_index: int) -> ExperimentConfig:
    """The :class:`ExperimentConfig` of parsed flags, with the per-space and per-predictor defaults
    filled in (:func:`~correlation_trainer.configuration.build_config`)."""
    settings = {name: getattr(args, name, None) for name in setting_names()
                if name not in ("predictor", "space", "task_index")}
    settings["transfer_sample_sizes"] = transfer_sizes(args)
    return build_config(args.predictor, space, task_index, **settings)


def transfer_sizes(args: argparse.Namespace):
    """The k values: as given, else 20 for measured device files and 5, 10, 20 otherwise."""
    if args.transfer_sample_sizes is not None:
        return args.transfer_sample_sizes
    return [20] if args.target_device_file else [5, 10, 20]


def check_option_readers(args: argparse.Namespace) -> None:
    """An option given to a predictor that does not read it is an error naming those that do."""
    for name, (option, readers) in predictor_options().items():
        if getattr(args, name, None) is not None and args.predictor not in readers:
            raise NasflatError(f"--{name} is an option of --predictor {', '.join(readers)}; "
                               f"--predictor {args.predictor} does not read it")


def check_args(args: argparse.Namespace) -> None:
    """Reject values argparse cannot check, with one clear line each."""
    check_option_readers(args)
    for name in ("num_trials", "epochs", "batch_size", "threads", "meta_episodes", "ensemble_size"):
        minimum = 0 if name in ("epochs", "meta_episodes") else 1
        value = getattr(args, name, None)
        if value is not None and value < minimum:
            raise NasflatError(f"--{name} must be at least {minimum}")
    if args.sample_sizes is not None and any(s < 0 for s in args.sample_sizes):
        raise NasflatError("--sample_sizes must be 0 or positive")
    if any(k < 1 for k in transfer_sizes(args)):
        raise NasflatError("--transfer_sample_sizes must be positive")
    if args.choose_samples is not None and args.choose_samples < 1:
        raise NasflatError("--choose_samples must be at least 1")
    if args.write_indices is not None and args.choose_samples is None:
        raise NasflatError("--write_indices needs --choose_samples K")
    if args.ensemble_size > 1 and not PREDICTORS.get(args.predictor).pretrains:
        raise NasflatError(f"--ensemble_size needs a predictor that learns; --predictor {args.predictor} "
                           "gives the same scores every time")
    if args.target_device_file:
        if args.ensemble_size > 1:
            raise NasflatError("--target_device_file keeps one model per trial in its checkpoint; "
                               "use --ensemble_size 1")
        if args.predictor not in checkpoint_predictors():
            raise NasflatError(f"--target_device_file works with --predictor {', '.join(checkpoint_predictors())} "
                               "(the predictors a checkpoint can hold)")
        if len(transfer_sizes(args)) != 1 or (args.sample_sizes is not None and len(args.sample_sizes) != 1):
            raise NasflatError("with --target_device_file give one --transfer_sample_sizes and one --sample_sizes value")
        if args.eval_protocol != "honest":
            raise NasflatError("with --target_device_file the evaluation is every held-out row of the file "
                               "(--eval_protocol honest)")
        if args.sampling_metric == "latency":
            raise NasflatError("--sampling_metric latency is an oracle and cannot choose the samples of a "
                               "measured device; use flops, params, random or an encoding")
        if args.sample_pool is not None and args.transfer_indices is not None:
            raise NasflatError("--transfer_indices names the samples; it cannot be combined with --sample_pool")
    else:
        for flag in ("sample_pool", "transfer_indices", "dedupe"):
            if getattr(args, flag, None) is not None:
                raise NasflatError(f"--{flag} works with --target_device_file (device files as targets)")
    for flag, minimum in (("lr", 0.0), ("transfer_lr", 0.0), ("weight_decay", None), ("eta_min", None)):
        value = getattr(args, flag)
        if value is None:
            continue
        if not math.isfinite(value) or value < 0 or (minimum is not None and value <= minimum):
            bound = "positive" if minimum is not None else "0 or positive"
            raise NasflatError(f"--{flag} must be a finite {bound} number, not {value}")
    if args.write_indices is not None:
        check_output_file(args.write_indices, "--write_indices")
    if args.transfer_batch_size is not None and args.transfer_batch_size != 0 and args.transfer_batch_size < 2:
        raise NasflatError("--transfer_batch_size must be 0 (all k) or at least 2 (the loss compares pairs)")
    for flag in ("dropout", "supp_dropout"):
        value = getattr(args, flag, None)
        if value is not None and not 0.0 <= value < 1.0:
            raise NasflatError(f"--{flag} must be in [0, 1)")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise NasflatError(f"--device {args.device} was asked for, but torch sees no CUDA device")


def prepare_out_dir(path: Path) -> Path:
    """Create the results folder and check that it is writable."""
    try:
        return check_output_folder(path, "results folder")
    except NasflatError:
        raise NasflatError(f"cannot write results to {path}: not a writable folder") from None


def pretrained_store(args: argparse.Namespace) -> Optional[PretrainedStore]:
    """The store of ``--pretrained_dir`` (checked writable), or None for 'none' and for predictors
    that do not pretrain."""
    if args.pretrained_dir == "none" or not PREDICTORS.get(args.predictor).pretrains:
        return None
    folder = Path(args.pretrained_dir) if args.pretrained_dir else Path(args.out_dir) / "pretrained"
    return PretrainedStore(prepare_out_dir(folder))


def run(args: argparse.Namespace) -> None:
    """Run the experiment the flags describe."""
    check_args(args)
    if args.name_desc is None:
        args.name_desc = args.predictor
    configure_cpu(args.threads)
    data_dir = DataDirectory.resolve(args.data_dir, args.trust_modified_data)
    task = TaskSuite.load().resolve(args.space, args.task_index)
    space = get_space(task.space, data_dir)
    transfer_indices = None
    if args.transfer_indices is not None:
        transfer_indices = read_transfer_indices(Path(args.transfer_indices), space)
        if args.transfer_sample_sizes is None:
            args.transfer_sample_sizes = [len(transfer_indices)]
        elif args.transfer_sample_sizes != [len(transfer_indices)]:
            raise NasflatError(f"--transfer_indices lists {len(transfer_indices)} architectures but "
                               f"--transfer_sample_sizes says {' '.join(map(str, args.transfer_sample_sizes))}")
    config = make_config(args, task.space, task.index)
    for name in sorted({encoding_of(config.representation), config.sampling_metric} & set(list_encodings())):
        load_encoding(name, space, progress=not args.no_progress)  # a missing learned one is built now
    if args.choose_samples is not None:
        print(write_choice(space, config, args.choose_samples, args.write_indices), end="")
        if args.write_indices:
            print(f"{args.choose_samples} architectures written to {args.write_indices}", file=sys.stderr)
        return
    encoding = encoding_of(config.representation)
    measured = load_measured(args.target_device_file, space) if args.target_device_file else []
    out_dir = prepare_out_dir(Path(args.out_dir) / args.name_desc)

    started = time.perf_counter()
    data = TaskData.build(task, space, encoding, config.graph_mode)
    samples = plans = None
    if measured:
        plans = plan_targets(space, measured, config, args.sample_pool, transfer_indices, args.dedupe)
        for plan in plans:
            print("\n".join(plan.notes))
        data = data.with_measured_targets([plan.used for plan in plans])
        samples = {(target, k): chosen for target, plan in zip(data.target_devices, plans)
                   for k, chosen in plan.samples.items()}
        if args.num_trials > 1 and PREDICTORS.get(args.predictor).deterministic:
            print(f"note: --predictor {args.predictor} scores from the k samples alone and a device file's "
                  f"samples are the same in every trial, so the {args.num_trials} trials would be identical; "
                  "running 1 trial")
            args.num_trials = 1
    experiment = Experiment(config, data, unit_dir=None if measured else out_dir / "units",
                            show_progress=not args.no_progress, transfer_samples=samples,
                            keep_models=bool(measured), pretrained_store=pretrained_store(args))
    results = experiment.run(range(args.num_trials))

    run_key = config.run_key(args.num_trials)
    if measured:  # the same settings on other measurements (or other samples of them) are another run
        files = "".join(Path(m.path).read_text(encoding="utf-8") for m in measured)
        chosen = "".join(f"{plan.pool}:{plan.dedupe}:{[s.tolist() for s in plan.samples.values()]}"
                         for plan in plans if plan.pool != "space" or plan.dedupe)
        run_key = hashlib.sha256((run_key + files + chosen).encode()).hexdigest()[:12]
    row_config = {"run_key": run_key, **config.settings(), "task": task.label,
                  "num_trials": args.num_trials, "name_desc": args.name_desc,
                  "predictor_settings": json.dumps(experiment.predictor.settings(), sort_keys=True),
                  "code_commit": git_commit(), "code_fingerprint": code_fingerprint()}
    trials = results_frame(results, row_config, task.label)
    per_device = per_device_table(trials)
    averaged = averaged_table(trials)
    merge_results(out_dir, task.space, trials, per_device, averaged)
    print(f"task {task.label} ({task.space}), {config.representation}, sampler {config.sampling_metric}, "
          f"{args.num_trials} trial(s), protocol {config.eval_protocol}")
    print(format_results(per_device, averaged))
    if measured:
        print(write_new_device_outputs(config, data, [plan.used for plan in plans], results, out_dir, plans))
    print(f"results in {out_dir} ({time.perf_counter() - started:.1f} s)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse flags and run; one-line errors instead of tracebacks."""
    args = build_parser().parse_args(argv)
    return run_reporting_errors(
        lambda: run(args), "interrupted: finished units are kept; rerun the same command to resume"
    )


if __name__ == "__main__":
    sys.exit(main())
