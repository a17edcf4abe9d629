"""``python -m nas_embedding_suite``: inspect the data, the devices and the task suite; measure a device.

Every subcommand takes ``--data_dir`` (default: ``$NASFLAT_DATA_DIR``, then ./data, then
../shared/data). Errors are printed as one line (exit status 2), never as a traceback.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
from tqdm import tqdm

from .data_directory import ENV_VAR, REPO_ROOT, DataDirectory
from .device_file import read_device_file
from .devices import list_devices
from .arch_list import read_arch_list
from .errors import ArgumentParser, NasflatError, run_reporting_errors
from .latency_table import load_latency_table
from .output_files import check_output_file
from .samplers import list_sampling_methods, list_sampling_metrics, measures_while_choosing
from .spaces import get_space, list_spaces
from .tasks import TaskSuite, device_correlations, make_split


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _device_rows(table, names: Sequence[str], roles: Optional[Sequence[str]] = None) -> List[list]:
    rows = []
    for i, name in enumerate(names):
        device = table.devices[table.row(name)]
        values = table.latencies(name)
        row = [
            name, device.kind, device.batch_size if device.batch_size is not None else "?",
            device.source, device.unit, f"{100 * table.coverage(name):.1f}%",
            f"{np.nanmedian(values):.3f}",
        ]
        rows.append(([roles[i]] if roles else []) + row)
    return rows


_DEVICE_HEADERS = ["device", "kind", "batch", "source", "file unit", "coverage", "median ms"]


def cmd_list_spaces(args, data_dir: DataDirectory) -> None:
    rows = []
    for name in list_spaces():
        space = get_space(name, data_dir)
        rows.append([name, space.num_archs, len(list_devices(name)), space.num_nodes])
    print(format_table(["space", "architectures", "devices", "graph nodes"], rows))


def cmd_list_devices(args, data_dir: DataDirectory) -> None:
    table = load_latency_table(get_space(args.space, data_dir))
    print(format_table(_DEVICE_HEADERS, _device_rows(table, table.device_names)))
    print(f"{len(table.devices)} {args.space} devices; latencies shown in ms")


def cmd_list_tasks(args, data_dir: DataDirectory) -> None:
    rows = [
        [t.label, t.space, t.index, len(t.train), len(t.test), ", ".join(t.test)]
        for t in TaskSuite.load().tasks
        if args.space in (None, t.space)
    ]
    print(format_table(["label", "space", "index", "train", "test", "target devices"], rows))


def cmd_show_task(args, data_dir: DataDirectory) -> None:
    task = TaskSuite.load().resolve(args.space, args.task)
    table = load_latency_table(get_space(task.space, data_dir), task.devices)
    roles = ["source"] * len(task.train) + ["target"] * len(task.test)
    print(f"task {task.label}: space {task.space}, --task_index {task.index}")
    print(format_table(["role"] + _DEVICE_HEADERS, _device_rows(table, task.devices, roles)))


def cmd_describe_arch(args, data_dir: DataDirectory) -> None:
    space = get_space(args.space, data_dir)
    info = space.describe(space.resolve_arch(args.arch))
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key.ljust(width)}  {value}")
    if args.latencies:
        table = load_latency_table(space)
        rows = [[n, f"{table.latencies(n)[info['index']]:.4f}"] for n in table.device_names]
        print(format_table(["device", "latency ms"], rows))


def cmd_verify(args, data_dir: DataDirectory) -> None:
    listed = data_dir.listed_checksums()
    files = tqdm(sorted(listed), desc="verifying", unit="file", disable=args.quiet)
    bad = [(relative, status) for relative, status in data_dir.verify(files) if status != "ok"]
    for relative, status in bad:
        print(f"{status}: {data_dir.root / relative}")
    if bad:
        raise NasflatError(
            f"{len(bad)} of {len(listed)} data files failed verification in {data_dir.root}; "
            "fetch them again with `python env_setup.py download`"
        )
    print(f"all {len(listed)} files in {data_dir.root} match SHA256SUMS")


def cmd_make_tasks(args, data_dir: DataDirectory) -> None:
    table = load_latency_table(get_space(args.space, data_dir), args.devices)
    correlations = device_correlations(table.values)
    train, test = make_split(table.device_names, correlations, args.train_size, args.test_size, args.seed)
    rows_train = [table.row(n) for n in train]
    rows_test = [table.row(n) for n in test]
    across = correlations[np.ix_(rows_train, rows_test)].mean()
    print(f"train ({len(train)}): {', '.join(train)}")
    print(f"test ({len(test)}): {', '.join(test)}")
    print(f"mean Spearman between train and test devices: {across:.3f}")
    print(f"entry for the {args.space} space's task file (spaces/{args.space}/tasks.yaml):")
    print(f"- {{label: NEW, index: NEW, train: [{', '.join(train)}], test: [{', '.join(test)}]}}")


def cmd_download(args, data_dir: None) -> None:
    from .data_download import download

    failed = download(Path(args.dest))
    for line in failed:
        print(f"failed: {line}")
    if failed:
        raise NasflatError(f"{len(failed)} file(s) could not be fetched or verified into {args.dest}")
    print(f"data ready in {Path(args.dest).resolve()}; use --data_dir {args.dest} or {ENV_VAR}")


def measure_indices(args, space, measure_one=None) -> List[int]:
    """The architectures ``measure`` should time: listed, read from a file, or chosen by a sampler
    (a sequential sampler times each choice with ``measure_one`` before it chooses the next)."""
    given = sum(x is not None for x in (args.indices, args.indices_file, args.sampler))
    if given != 1:
        raise NasflatError("give exactly one of --indices, --indices-file or --sampler (with --k)")
    if args.sampler is not None:
        if args.k is None or args.k < 1:
            raise NasflatError("--sampler needs --k, the number of architectures to choose (>= 1)")
        from .samplers import choose_new_device_samples

        return choose_new_device_samples(space, args.k, args.sampler, args.sampling_method, args.seed,
                                         measure=measure_one).tolist()
    if args.indices_file is not None:
        indices = read_arch_list(args.indices_file, space)
        if not indices:
            raise NasflatError(f"--indices-file {args.indices_file} lists no architectures")
        return indices
    return [space.resolve_arch(a) for a in args.indices]


def cmd_measure(args, data_dir: DataDirectory) -> None:
    from .measure import MeasureProtocol, measure_archs, summarise

    space = get_space(args.space, data_dir)
    protocol = MeasureProtocol(args.batch_size, args.threads, args.warmup, args.repeats, args.torch_device)
    protocol.check()
    out = Path(args.out) if args.out else Path("measurements") / f"{args.space}_{args.device_name}.csv"
    check_output_file(out, "--out")

    def measure_one(index: int) -> float:
        """Time one architecture into the file (or read it back from an earlier, interrupted run),
        for a sampler that chooses the next architecture from the measurements so far."""
        measured = measure_archs(space, [index], out, args.device_name, protocol, show_progress=False)
        latency = float(measured.latency_ms[list(measured.indices).index(index)])
        if not args.no_progress:
            print(f"measured architecture {index}: {latency:.3f} ms", flush=True)
        return latency

    indices = measure_indices(args, space, measure_one)
    if measures_while_choosing(args.sampler):  # every choice is already in the file
        device = read_device_file(out, space)
    else:
        device = measure_archs(space, indices, out, args.device_name, protocol, show_progress=not args.no_progress)
    print(summarise(device, indices))


def cmd_import_device(args, data_dir: DataDirectory) -> None:
    from .import_device import ImportRequest, import_devices

    request = ImportRequest(
        Path(args.table), args.format, args.arch_column, args.latency_column, args.arch_format, args.space,
        args.unit, args.filter or (), args.split_by or (), args.device_name, Path(args.out_dir),
        Path(args.out) if args.out else None,
    )
    _, report = import_devices(request, lambda name: get_space(name, data_dir))
    print("\n".join(report))


def cmd_summary(args, data_dir: DataDirectory) -> None:
    print(f"data directory: {data_dir.root}")
    cmd_list_spaces(args, data_dir)
    print()
    for name in list_spaces():
        table = load_latency_table(get_space(name, data_dir))
        kinds = {}
        for device in table.devices:
            kinds[device.kind] = kinds.get(device.kind, 0) + 1
        print(f"{name}: {len(table.devices)} devices ({', '.join(f'{v} {k}' for k, v in kinds.items())})")
    print()
    cmd_list_tasks(argparse.Namespace(space=None), data_dir)


ENCODING_KINDS = ["zcp", "arch2vec", "cate"]
#: Devices the encoding report probes (a GPU, a server CPU, a phone), in both spaces.
PROBE_DEVICES = ["titan_rtx_1", "gold_6226", "pixel3"]


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cmd_encode(args, data_dir: DataDirectory) -> None:
    import time

    from .encodings import load_encoding, raw_zcp

    space = get_space(args.space, data_dir)
    if args.validate and not space.proxy_reference:
        raise NasflatError(f"--validate compares computed proxies with a published reference; the {args.space} "
                           "space has none (its proxies, if any, are read from a published file)")
    kinds = ENCODING_KINDS if args.kind == "all" else [args.kind]
    for kind in kinds:
        started = time.time()
        if kind == "zcp":
            raw = raw_zcp(space, progress=not args.no_progress, build=True, workers=args.workers)
            shape = raw.shape
        else:
            shape = load_encoding(kind, space, progress=not args.no_progress).shape
        print(f"{args.space} {kind}: {shape[0]} x {shape[1]} ready in {time.time() - started:.1f} s "
              f"(peak RSS of this process {_peak_rss_mib():.0f} MiB)")
        if kind == "zcp" and args.validate:
            agreement = space.proxy_agreement(raw)
            print(f"Spearman between these proxies and {space.proxy_reference}:")
            print(format_table(["proxy", "spearman"], [[k, f"{v:.3f}"] for k, v in agreement.items()]))


def cmd_encoding_report(args, data_dir: DataDirectory) -> None:
    from .encoding_probe import probe_report
    from .encodings import load_encoding

    space = get_space(args.space, data_dir)
    table = load_latency_table(space, PROBE_DEVICES)
    targets = {f"latency {name}": table.latencies(name) for name in PROBE_DEVICES}
    if space.has_accuracies:
        targets["CIFAR-10 accuracy"] = space.accuracies["cifar10"].to_numpy()
    rows = []
    kinds = ["zcp", "arch2vec", "cate", "a2vcatezcp", "pf"] if args.kind == "all" else [args.kind]
    for kind in kinds:
        vectors = load_encoding(kind, space, progress=not args.no_progress, build=not args.no_build)
        rows.append([kind, vectors.shape[1]] + [f"{rho:.3f}" for _, rho in probe_report(vectors, targets)])
    print(f"{args.space}: 5-fold cross-validated Spearman of a ridge probe from each encoding")
    print(format_table(["encoding", "dim"] + list(targets), rows))


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (subcommands documented in their help)."""
    common = ArgumentParser(add_help=False)
    common.add_argument(
        "--data_dir", "--data-dir", default=argparse.SUPPRESS,
        help=f"data directory (default: ${ENV_VAR}, then ./data, then ../shared/data)",
    )
    common.add_argument(
        "--trust_modified_data", "--trust-modified-data", action="store_true", default=argparse.SUPPRESS,
        help="use data files that differ from SHA256SUMS (edited on purpose) with a warning instead of refusing them",
    )
    parser = ArgumentParser(
        prog="python -m nas_embedding_suite", description=__doc__.split("\n")[0], parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    spaces = list_spaces()

    def add(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        command.set_defaults(handler=handler)
        return command

    add("summary", cmd_summary, "spaces, devices per kind and tasks in one view")
    add("list-spaces", cmd_list_spaces, "the search spaces with their size")
    command = add("list-devices", cmd_list_devices, "devices of a space: kind, coverage, median latency")
    command.add_argument("--space", required=True, choices=spaces)
    command = add("list-tasks", cmd_list_tasks, "the task suite")
    command.add_argument("--space", choices=spaces, default=None)
    command = add("show-task", cmd_show_task, "the devices of one task with their coverage")
    command.add_argument("task", help="task label (ND, N1..N4, NA, FD, F1..F4, FA, NQ, FQ) or index with --space")
    command.add_argument("--space", choices=spaces, default=None)
    command = add("describe-arch", cmd_describe_arch, "one architecture: string, graph, costs, metrics")
    command.add_argument("--space", required=True, choices=spaces)
    command.add_argument("arch", help="architecture index or string")
    command.add_argument("--latencies", action="store_true", help="also print its latency on every device")
    command = add("verify", cmd_verify, "check every data file against SHA256SUMS")
    command.add_argument("--quiet", action="store_true", help="no progress bar")
    command = add(
        "make-tasks", cmd_make_tasks,
        "split devices into source/target sets with the NASFLAT Kernighan-Lin procedure",
    )
    command.add_argument("--space", required=True, choices=spaces)
    command.add_argument("--train-size", "-m", type=int, required=True, help="number of source devices")
    command.add_argument("--test-size", "-n", type=int, required=True, help="number of target devices")
    command.add_argument("--seed", type=int, default=0, help="seed of the Kernighan-Lin bisection")
    command.add_argument("--devices", nargs="+", default=None, help="candidate devices (default: all)")
    command = add(
        "measure", cmd_measure,
        "time architectures on this machine and append them to a device file (resumable)",
    )
    command.add_argument("--space", required=True, choices=spaces, help="search space")
    command.add_argument("--device-name", required=True, help="name of this device in the file and results")
    command.add_argument("--indices", nargs="+", default=None, help="architecture indices or arch strings")
    command.add_argument("--indices-file", default=None,
                         help="file with one index or arch string per line (first CSV column)")
    command.add_argument("--sampling_metric", "--sampling-metric", "--sampler", dest="sampler", default=None,
                         choices=list_sampling_metrics(), metavar="METRIC",
                         help="choose --k architectures with this sampling metric (flops, params, random, an "
                              "encoding...), exactly as the trainer's --choose_samples does; the trainer's "
                              f"names: {', '.join(list_sampling_metrics())}")
    command.add_argument("--k", type=int, default=None, help="number of architectures the sampler chooses")
    command.add_argument("--sampling_method", "--sampling-method", dest="sampling_method", default="kmeancosine",
                         choices=list_sampling_methods(), help="method for encoding samplers (the trainer's names)")
    command.add_argument("--seed", type=int, default=0, help="sampler seed (the trainer's --seed)")
    command.add_argument("--out", default=None,
                         help="device file to write or resume (default: measurements/<space>_<device-name>.csv)")
    command.add_argument("--batch-size", type=int, default=1, help="input batch size")
    command.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    command.add_argument("--warmup", type=int, default=10, help="untimed forward passes per architecture")
    command.add_argument("--repeats", type=int, default=30, help="timed forward passes; the median is kept")
    command.add_argument("--torch-device", default="cpu", help="cpu, cuda or cuda:N")
    command.add_argument("--no-progress", action="store_true", help="no progress bar")
    command = add(
        "import-device", cmd_import_device,
        "turn a published latency table (CSV, TSV, JSON, parquet, pickle, torch list) into device files",
    )
    command.add_argument("table", help="the table file (put it before --filter / --split-by, which take several values)")
    command.add_argument("--format", default=None, choices=["csv", "tsv", "json", "parquet", "pickle", "torch"],
                         help="the table's format (default: from the file suffix)")
    command.add_argument("--arch-column", "--arch_column", dest="arch_column", default=None,
                         help="column naming the architecture (default: the first of arch, arch_str, "
                              "architecture, arch_vector, index, arch_index, idx, key)")
    command.add_argument("--latency-column", "--latency_column", dest="latency_column", default=None,
                         help="column holding the latency (default: the one column whose name says latency "
                              "or a unit, else the one numeric column left)")
    command.add_argument("--arch-format", "--arch_format", dest="arch_format", default=None,
                         choices=["index", "arch-string", "latbench", "naslib", "fbnet"],
                         help="how architectures are written (default: detected; 6-op tuples need latbench or "
                              "naslib, which encode them differently)")
    command.add_argument("--space", default=None, choices=spaces,
                         help="search space (default: from the architecture format; integer indices: nb201)")
    command.add_argument("--unit", default=None, choices=["s", "ms", "us"],
                         help="unit of the latencies; required unless the column name (latency_ms, time_s...) "
                              "or the format (HW-NAS-Bench: ms) states it")
    command.add_argument("--filter", nargs="+", default=None, metavar="COLUMN=VALUE",
                         help="keep only the rows where every COLUMN equals VALUE (compared as text)")
    command.add_argument("--split-by", "--split_by", dest="split_by", nargs="+", default=None, metavar="COLUMN",
                         help="one device per distinct value (combination) of these columns")
    command.add_argument("--device-name", "--device_name", dest="device_name", default=None,
                         help="device name (default: the file name without suffix; with --split-by the "
                              "values, prefixed by this name when given)")
    command.add_argument("--out-dir", "--out_dir", dest="out_dir", default="measurements",
                         help="folder of the device files <space>_<device>.csv")
    command.add_argument("--out", default=None, help="the device file, when the table gives one device")
    command = add("encode", cmd_encode,
                  "build (or find cached) encodings: zero-cost proxies, arch2vec, CATE")
    command.add_argument("--space", required=True, choices=spaces)
    command.add_argument("--kind", default="all", choices=ENCODING_KINDS + ["all"],
                         help="which encoding (default: all three)")
    command.add_argument("--validate", action="store_true",
                         help="NB201 zcp: print per-proxy Spearman against NASLib's partial file")
    command.add_argument("--workers", type=int, default=1,
                         help="NB201 zcp: processes that score networks (one thread each; same numbers)")
    command.add_argument("--no-progress", action="store_true", help="no progress bar")
    command = add("encoding-report", cmd_encoding_report,
                  "sanity report: a linear probe from each encoding to latency (and NB201 accuracy)")
    command.add_argument("--space", required=True, choices=spaces)
    command.add_argument("--kind", default="all", choices=["zcp", "arch2vec", "cate", "a2vcatezcp", "pf", "all"],
                         help="which encoding (default: all)")
    command.add_argument("--no-build", action="store_true", help="fail instead of building a missing encoding")
    command.add_argument("--no-progress", action="store_true", help="no progress bar")
    command = add("download", cmd_download, "fetch every data file from its public origin and verify it")
    command.add_argument("--dest", default=str(REPO_ROOT / "data"), help="target folder (default: ./data)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)

    def action() -> None:
        if args.handler is cmd_download:
            args.handler(args, None)
        else:
            args.handler(args, DataDirectory.resolve(getattr(args, "data_dir", None),
                                                     getattr(args, "trust_modified_data", False)))

    return run_reporting_errors(action)
