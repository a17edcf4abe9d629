"""Hostile and careless input: every case gives one ``error:`` line (exit 2) naming the file or flag,
torn result files lose no other row, swapped data files are refused, undefined correlations are
never reported as 0, and result files honour the umask."""
from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from correlation_trainer import predict as predict_cli
from correlation_trainer.evaluation import rank_correlations
from correlation_trainer.main import main as trainer_main
from jobs.executor import main as executor_main
from nas_embedding_suite.cli import main as data_main

from conftest import copy_real

REPO = Path(__file__).resolve().parents[1]
THIS_CPU = REPO / "benchmarks" / "own_device" / "nb201_this_cpu.csv"
TINY_FLAGS = ["--warmup", "1", "--repeats", "2", "--threads", "1", "--no-progress"]
QUICK = ["--task_index", "9999", "--epochs", "1", "--transfer_epochs", "1", "--num_trials", "1",
         "--sample_sizes", "4", "--transfer_sample_sizes", "3", "--no_progress"]
#: a path whose folder can never be created, even by root
UNCREATABLE = "/proc/nasflat-no-such-folder/out.csv"


def one_line_error(status, err, *fragments):
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def binary_file(path: Path) -> Path:
    path.write_bytes(bytes(range(128, 256)) * 4)
    return path


def a_file(tmp_path: Path) -> Path:
    blocker = tmp_path / "plain_file"
    blocker.write_text("x")
    return blocker


# ------------------------------------------------------------ the twelve traceback cases

def test_measure_out_on_a_folder_under_a_file_and_uncreatable(tmp_path, capsys):
    base = ["measure", "--space", "nb201", "--device-name", "m", "--indices", "1", *TINY_FLAGS]
    one_line_error(data_main(base + ["--out", str(tmp_path)]), capsys.readouterr().err, "--out", "is a folder")
    under = a_file(tmp_path) / "m.csv"
    one_line_error(data_main(base + ["--out", str(under)]), capsys.readouterr().err, "--out", "is a file")
    one_line_error(data_main(base + ["--out", UNCREATABLE]), capsys.readouterr().err, "--out", "cannot create")
    missing_parent = tmp_path / "new" / "deeper" / "m.csv"  # a missing but creatable folder is made
    assert data_main(base + ["--out", str(missing_parent)]) == 0 and missing_parent.is_file()


@pytest.mark.parametrize("where", ["under_file", "uncreatable"])
def test_write_indices_on_an_unwritable_path(tmp_path, capsys, where):
    path = str(a_file(tmp_path) / "c.csv") if where == "under_file" else UNCREATABLE
    status = trainer_main(["--choose_samples", "3", "--write_indices", path])
    one_line_error(status, capsys.readouterr().err, "--write_indices")


@pytest.fixture(scope="module")
def roofline_checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ckpt")
    assert trainer_main(["--task_index", "ND", "--predictor", "roofline", "--num_trials", "1",
                         "--target_device_file", str(THIS_CPU), "--out_dir", str(out), "--no_progress"]) == 0
    return out / "roofline" / "predictor"


def test_predict_out_on_an_unwritable_path(roofline_checkpoint, tmp_path, capsys):
    for path in (str(a_file(tmp_path) / "p.csv"), UNCREATABLE, str(tmp_path)):
        status = predict_cli.main(["--checkpoint", str(roofline_checkpoint), "--archs", "42", "--out", path])
        one_line_error(status, capsys.readouterr().err, "--out")


def test_executor_results_on_an_unwritable_path(tmp_path, capsys):
    joblist = tmp_path / "list.log"
    joblist.write_text("True,1,False,1000,1,python correlation_trainer/main.py --task_index 9999\n")
    status = executor_main([str(joblist), "--local", "1", "--results", str(a_file(tmp_path) / "res")])
    one_line_error(status, capsys.readouterr().err, "--results")


def test_binary_indices_file_archs_file_and_job_list(roofline_checkpoint, tmp_path, capsys):
    binary = binary_file(tmp_path / "binary.txt")
    status = data_main(["measure", "--space", "nb201", "--device-name", "m", "--indices-file", str(binary),
                        "--out", str(tmp_path / "m.csv"), *TINY_FLAGS])
    one_line_error(status, capsys.readouterr().err, str(binary), "not a UTF-8 text file")
    assert not (tmp_path / "m.csv").exists()
    status = predict_cli.main(["--checkpoint", str(roofline_checkpoint), "--archs_file", str(binary)])
    one_line_error(status, capsys.readouterr().err, str(binary), "not a UTF-8 text file")
    status = executor_main([str(binary), "--status"])
    one_line_error(status, capsys.readouterr().err, str(binary), "not a UTF-8 text file")


@pytest.mark.parametrize("flag, value", [("--lr", "nan"), ("--lr", "0"), ("--transfer_lr", "-1"),
                                         ("--transfer_lr", "inf"), ("--weight_decay", "-0.1"),
                                         ("--eta_min", "nan")])
def test_learning_rates_must_be_finite_and_positive(capsys, flag, value):
    one_line_error(trainer_main(QUICK + [flag, value]), capsys.readouterr().err, flag, "finite")


def test_checkpoint_naming_another_space(roofline_checkpoint, tmp_path, capsys):
    edited = tmp_path / "edited"
    shutil.copytree(roofline_checkpoint, edited)
    record = json.loads((edited / "predictor.json").read_text())
    record["config"]["space"] = "fbnet"
    (edited / "predictor.json").write_text(json.dumps(record))
    status = predict_cli.main(["--checkpoint", str(edited), "--archs", "42"])
    one_line_error(status, capsys.readouterr().err, "do not fit a fbnet roofline model", "predictor.json")


# ------------------------------------------------------------ finding 2: torn result files

def _roofline(out: Path, seed: int, capsys) -> str:
    status = trainer_main(["--predictor", "roofline", "--seed", str(seed), "--out_dir", str(out),
                           "--name_desc", "x", "--num_trials", "1", "--transfer_sample_sizes", "5", "--no_progress"])
    assert status == 0
    return capsys.readouterr().err


def test_a_torn_row_loses_no_other_row_and_keeps_the_files_consistent(tmp_path, capsys):
    folder = tmp_path / "x"
    _roofline(tmp_path, 5, capsys)
    _roofline(tmp_path, 6, capsys)
    per_device = folder / "nb201_samp_eff.csv"
    intact = {name: (folder / name).read_bytes() for name in os.listdir(folder) if name.endswith(".csv")}
    with per_device.open("r+b") as stream:  # seed 6's last row cut short
        stream.truncate(per_device.stat().st_size - 150)
    err = _roofline(tmp_path, 5, capsys)
    assert "torn or unparsable" in err and "set aside" in err
    assert len(list(folder.glob("nb201_samp_eff.csv.corrupt-*"))) == 1
    for name, before in intact.items():  # same rows (the torn one rebuilt from the trial rows), same text
        assert sorted((folder / name).read_text().splitlines()) == sorted(before.decode().splitlines()), name
    frame = pd.read_csv(per_device)
    assert sorted(frame["seed"].unique()) == [5, 6] and frame["k"].dtype.kind == "i"
    trials = pd.read_csv(folder / "nb201_trials.csv")
    aggregated = pd.read_csv(folder / "aggr_nb201_samp_eff.csv")
    assert set(trials["run_key"]) == set(frame["run_key"]) == set(aggregated["run_key"])


def test_unparsable_rows_in_the_middle_are_set_aside_not_fatal(tmp_path, capsys):
    from correlation_trainer.results import merge_csv, read_results_csv

    path = tmp_path / "r.csv"
    path.write_bytes(b"run_key,k,spr\na,5,0.9\nb,\xff\xfe,0.8\nc,10\nd,20,0.7\n")
    merge_csv(pd.DataFrame({"run_key": ["e"], "k": [5], "spr": [0.5]}), path)
    assert "2 torn or unparsable row(s)" in capsys.readouterr().err
    frame = read_results_csv(path)
    assert frame["run_key"].tolist() == ["a", "d", "e"] and frame["k"].tolist() == [5, 20, 5]


# ------------------------------------------------------------ finding 3: swapped data files

def test_a_swapped_data_file_is_refused_unless_trusted(data_copy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASFLAT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NASFLAT_TRUST_MODIFIED_DATA", raising=False)
    latency = data_copy / "HELP" / "data" / "nasbench201" / "latency"
    (latency / "pixel2.pt").unlink()
    shutil.copyfile((latency / "raspi4.pt").resolve(), latency / "pixel2.pt")
    status = data_main(["list-devices", "--space", "nb201", "--data_dir", str(data_copy)])
    one_line_error(status, capsys.readouterr().err, "checksum mismatch", "pixel2.pt", "--trust_modified_data")
    status = trainer_main(QUICK + ["--data_dir", str(data_copy), "--out_dir", str(tmp_path / "r")])
    one_line_error(status, capsys.readouterr().err, "checksum mismatch", "pixel2.pt")
    assert data_main(["list-devices", "--space", "nb201", "--data_dir", str(data_copy),
                      "--trust_modified_data"]) == 0
    out, err = capsys.readouterr()
    assert "warning:" in err and "pixel2.pt" in err


def test_an_edited_file_is_caught_after_its_hash_was_cached(data_copy, tmp_path, monkeypatch, capsys):
    """The hash cache is keyed by size, mtime and inode: an in-place edit of the same size is seen."""
    monkeypatch.setenv("NASFLAT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NASFLAT_TRUST_MODIFIED_DATA", raising=False)
    from nas_embedding_suite.data_directory import DataDirectory

    path = copy_real(data_copy, "nats-bench-landscape/nats_bench.csv")
    DataDirectory(data_copy).file("nats-bench-landscape/nats_bench.csv")  # verified, hash cached
    assert (tmp_path / "cache" / "data_hashes.json").is_file()
    path.write_bytes(path.read_bytes().replace(b"85.86", b"85.87", 1))
    with pytest.raises(Exception, match="checksum mismatch"):
        DataDirectory(data_copy).file("nats-bench-landscape/nats_bench.csv")


# ------------------------------------------------------------ finding 4: duplicated archs

def test_predict_refuses_an_arch_listed_twice(roofline_checkpoint, tmp_path, capsys):
    status = predict_cli.main(["--checkpoint", str(roofline_checkpoint), "--archs", "5", "5"])
    one_line_error(status, capsys.readouterr().err, "--archs", "architecture 5 twice")
    listing = tmp_path / "archs.txt"
    listing.write_text("index\n7\n|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|\n7\n")
    status = predict_cli.main(["--checkpoint", str(roofline_checkpoint), "--archs_file", str(listing)])
    one_line_error(status, capsys.readouterr().err, str(listing), "architecture 7 twice")


# ------------------------------------------------------------ finding 5: undefined correlations

def test_constant_latencies_are_refused_and_undefined_correlations_are_nan(tmp_path, capsys):
    constant = tmp_path / "flat.csv"
    constant.write_text("# space: nb201\nindex,arch,latency_ms\n" + "".join(f"{i},,2.0\n" for i in range(0, 3000, 7)))
    status = trainer_main(["--task_index", "ND", "--predictor", "roofline", "--num_trials", "1",
                           "--target_device_file", str(constant), "--out_dir", str(tmp_path / "r"), "--no_progress"])
    one_line_error(status, capsys.readouterr().err, str(constant), "all 429 latencies are 2 ms")
    undefined = rank_correlations(np.array([1.0, 2.0, 3.0]), np.array([4.0, 4.0, 4.0]))
    assert np.isnan(undefined["spr"]) and np.isnan(undefined["kdt"]) and "same" in undefined["undefined"]
    assert np.isnan(rank_correlations(np.array([1.0]), np.array([2.0]))["spr"])


# ------------------------------------------------------------ finding 6: the smaller ones

def test_an_empty_indices_file_is_blamed_and_leaves_no_file(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("index\n# nothing\n")
    out = tmp_path / "m.csv"
    status = data_main(["measure", "--space", "nb201", "--device-name", "m", "--indices-file", str(empty),
                        "--out", str(out), *TINY_FLAGS])
    one_line_error(status, capsys.readouterr().err, f"--indices-file {empty} lists no architectures")
    assert not out.exists()


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch /tmp/nasflat-should-never-exist",))


def test_a_malicious_torch_file_is_refused_without_unsafe_advice(data_copy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASFLAT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NASFLAT_TRUST_MODIFIED_DATA", "1")
    buffer = io.BytesIO()
    torch.save([_RunsCode()], buffer)
    path = data_copy / "HELP" / "data" / "nasbench201" / "latency" / "fpga.pt"
    path.unlink()
    path.write_bytes(buffer.getvalue())
    status = data_main(["list-devices", "--space", "nb201", "--data_dir", str(data_copy)])
    err = capsys.readouterr().err
    one_line_error(status, err, "fpga.pt", "refused", "could run code")
    assert "weights_only" not in err and "Re-running" not in err
    assert not Path("/tmp/nasflat-should-never-exist").exists()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_result_files_honour_the_umask(tmp_path, capsys, umask, mode):
    previous = os.umask(umask)
    try:
        _roofline(tmp_path, 0, capsys)
    finally:
        os.umask(previous)
    files = list((tmp_path / "x").glob("*.csv")) + list((tmp_path / "x").glob("units/*.npz"))
    assert files and all(path.stat().st_mode & 0o777 == mode for path in files), \
        [(p.name, oct(p.stat().st_mode)) for p in files]
