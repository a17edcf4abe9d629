"""Published NB201 latency tables as new devices: import each, transfer with ND's sources, tabulate.

    python benchmarks/published_devices.py [--data_dir DIR] [--out_dir results/published]
        [--predictors roofline roofline_prior nasflat] [--num_trials 3]

For each of LatBench's 13 pickles and the 4 HW-NAS-Bench devices of HELP's NB201 data (pixel3,
raspi4, eyeriss, fpga; HELP's ``.pt`` lists) it runs, exactly as a user would:

    python -m nas_embedding_suite import-device FILE [--arch-format latbench] --unit s|ms \\
        --device-name NAME --out-dir OUT/devices
    python correlation_trainer/main.py --task_index ND --predictor P --target_device_file \\
        OUT/devices/nb201_NAME.csv --transfer_sample_sizes 20 --num_trials 3 --name_desc P_NAME \\
        --out_dir OUT --pretrained_dir OUT/pretrained --no_progress

pixel3 is a source device of ND, so it runs with task N2 instead (whose sources are five GPUs and
which has pixel3 among its targets). The table gives, per device, the held-out Spearman of each
predictor (mean of the trials), the FLOPs ranking's on the same held-out archs, and the ceiling:
the roofline fit (:func:`loo_ridge` on :func:`roofline_design`) on ALL of the device's
architectures, scored in-sample.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from correlation_trainer.predictors.roofline import loo_ridge, roofline_design
from nas_embedding_suite.data_directory import DataDirectory
from nas_embedding_suite.device_file import read_device_file
from nas_embedding_suite.spaces import get_space
from nas_embedding_suite.spaces.nb201.devices import LATBENCH

ROOT = Path(__file__).resolve().parents[1]
DATA_CLI = [sys.executable, "-m", "nas_embedding_suite"]
TRAINER = [sys.executable, str(ROOT / "correlation_trainer" / "main.py")]
HW_NAS_BENCH_IN_HELP = ("pixel3", "raspi4", "eyeriss", "fpga")
#: devices that are sources of ND run with another task that has them as a target
TASK_OF = {"pixel3": "N2"}


def published_files(data_dir: DataDirectory):
    """(device name, source, file, import flags) of every published table."""
    for stem in LATBENCH:
        yield stem.replace("-", "_"), "LatBench", data_dir.file(f"LatBench/{stem}.pickle"), \
            ["--arch-format", "latbench", "--unit", "s"]
    for name in HW_NAS_BENCH_IN_HELP:
        yield name, "HW-NAS-Bench (HELP)", data_dir.file(f"HELP/data/nasbench201/latency/{name}.pt"), ["--unit", "ms"]


def quiet(command) -> None:
    """Run a command with its output kept back (shown when it fails)."""
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{done.stdout}\n{done.stderr}")


def ceiling(space, path: Path) -> float:
    """In-sample Spearman of the roofline fit on every architecture of the device file."""
    device = read_device_file(path, space)
    x = roofline_design(space)[device.indices]
    coefficients, _ = loo_ridge(x, device.latency_ms)
    return float(spearmanr(x @ coefficients, device.latency_ms)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--out_dir", default="results/published")
    parser.add_argument("--predictors", nargs="+", default=["roofline", "roofline_prior", "nasflat"])
    parser.add_argument("--num_trials", type=int, default=3)
    args = parser.parse_args()
    data_dir = DataDirectory.resolve(args.data_dir)
    space = get_space("nb201", data_dir)
    out = Path(args.out_dir).resolve()
    rows = []
    for name, source, path, flags in published_files(data_dir):
        device_file = out / "devices" / f"nb201_{name}.csv"
        quiet(DATA_CLI + ["import-device", str(path), *flags, "--device-name", name, "--out-dir",
                          str(out / "devices"), "--data_dir", str(data_dir.root)])
        task = TASK_OF.get(name, "ND")
        row = {"device": name, "source": source, "task": task,
               "archs": len(read_device_file(device_file, space).indices)}
        for predictor in args.predictors:
            name_desc = f"{predictor}_{name}"
            quiet(TRAINER + ["--task_index", task, "--predictor", predictor, "--target_device_file",
                                 str(device_file), "--transfer_sample_sizes", "20", "--num_trials",
                                 str(args.num_trials), "--name_desc", name_desc, "--out_dir", str(out),
                                 "--pretrained_dir", str(out / "pretrained"), "--no_progress",
                                 "--data_dir", str(data_dir.root)])
            evaluation = pd.read_csv(out / name_desc / "new_device_evaluation.csv")
            mine = evaluation[evaluation["ranking"].str.contains("mean of")].iloc[0]
            row[predictor] = float(mine["spr"])
            row["flops"] = float(evaluation.loc[evaluation["ranking"] == "flops", "spr"].iloc[0])
            row["pool"] = mine["sample_pool"]
            row["held out"] = int(mine["n_eval"])
        row["ceiling"] = ceiling(space, device_file)
        rows.append(row)
        print(f"{name}: " + ", ".join(f"{p} {row[p]:.3f}" for p in args.predictors)
              + f", flops {row['flops']:.3f}, ceiling {row['ceiling']:.3f}", flush=True)
    table = pd.DataFrame(rows)
    table["best"] = table[args.predictors].idxmax(axis=1)
    table["best spr"] = table[args.predictors].max(axis=1)
    table.to_csv(out / "published_devices.csv", index=False)
    print()
    header = ["device", "task", "archs", "pool"] + args.predictors + ["FLOPs", "best - FLOPs", "ceiling"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for _, r in table.iterrows():
        cells = [r["device"], r["task"], str(r["archs"]), r["pool"]]
        cells += [f"**{r[p]:.3f}**" if p == r["best"] else f"{r[p]:.3f}" for p in args.predictors]
        cells += [f"{r['flops']:.3f}", f"{r['best spr'] - r['flops']:+.3f}",
                  f"{r['ceiling']:.3f}" if r["best spr"] < 0.90 else "-"]
        print("| " + " | ".join(cells) + " |")
    print(f"\npretrainings stored: {len(list((out / 'pretrained').glob('*.pt')))} "
          f"(for {len(table)} device files x {len(args.predictors)} predictors)")


if __name__ == "__main__":
    main()
