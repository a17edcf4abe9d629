"""The data CLI, and one clear line (exit 2, no traceback) for every bad input."""
import io
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import copy_real, replace_file
from nas_embedding_suite.cli import main
from nas_embedding_suite.data_download import _convert_pandas_pickle_to_csv
from nas_embedding_suite.errors import DataError
from nas_embedding_suite.safe_loading import load_latbench_pickle

HELP_FILE = "HELP/data/nasbench201/latency/fpga.pt"
LATBENCH_FILE = "LatBench/embedded-tpu-edge-tpu-int8.pickle"


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *fragments):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_list_devices_counts_and_units(capsys, data_dir):
    status, out, _ = run_cli(capsys, "list-devices", "--space", "nb201", "--data_dir", str(data_dir.root))
    assert status == 0 and "40 nb201 devices" in out
    assert "embedded_tpu_edge_tpu_int8" in out and "97.8%" in out
    status, out, _ = run_cli(capsys, "list-devices", "--space", "fbnet")
    assert status == 0 and "27 fbnet devices" in out


def test_show_task_lists_devices_with_coverage(capsys):
    status, out, _ = run_cli(capsys, "show-task", "N2")
    assert status == 0
    lines = out.splitlines()
    assert sum(l.startswith("source ") for l in lines) == 5 and sum(l.startswith("target ") for l in lines) == 5
    assert "mobile_dsp_snapdragon_675_hexagon_685_int8" in out and "97.7%" in out
    status, out2, _ = run_cli(capsys, "show-task", "2", "--space", "nb201")
    assert out2 == out


def test_describe_arch_and_list_commands(capsys):
    status, out, _ = run_cli(capsys, "describe-arch", "--space", "nb201", "0", "--latencies")
    assert status == 0 and "avg_pool_3x3~0" in out and "test_acc_cifar10" in out and "eyeriss" in out
    assert run_cli(capsys, "list-spaces")[0] == 0
    status, out, _ = run_cli(capsys, "list-tasks", "--space", "fbnet")
    assert status == 0 and "FA" in out and "ND" not in out
    status, out, _ = run_cli(capsys, "make-tasks", "--space", "fbnet", "-m", "5", "-n", "5")
    assert status == 0 and out.startswith("train (5)")


def test_verify_passes_on_the_real_data(capsys):
    status, out, _ = run_cli(capsys, "verify", "--quiet")
    assert status == 0 and "match SHA256SUMS" in out


@pytest.mark.parametrize("argv, fragments", [
    (["show-task", "N9"], ["unknown task 'N9'", "valid: ND"]),
    (["show-task", "3"], ["needs a space"]),
    (["describe-arch", "--space", "nb201", "|bogus~0|"], ["malformed NAS-Bench-201 arch string"]),
    (["describe-arch", "--space", "nb201", "15625"], ["out of range", "0..15624"]),
    (["describe-arch", "--space", "fbnet", "k3_e1"], ["malformed FBNet architecture"]),
    (["make-tasks", "--space", "nb201", "-m", "30", "-n", "30"], ["cannot split 40 devices"]),
    (["make-tasks", "--space", "nb201", "-m", "1", "-n", "1", "--devices", "fpga", "nope"],
     ["unknown nb201 device 'nope'", "valid: 1080ti_1"]),
])
def test_bad_names_and_arches(capsys, argv, fragments):
    assert_one_line_error(*run_cli(capsys, *argv)[::2], *fragments)


def test_missing_data_dir(capsys, tmp_path, monkeypatch):
    status, _, err = run_cli(capsys, "list-spaces", "--data_dir", str(tmp_path / "absent"))
    assert_one_line_error(status, err, "does not exist", "env_setup.py download")
    monkeypatch.setenv("NASFLAT_DATA_DIR", str(tmp_path / "absent2"))
    status, _, err = run_cli(capsys, "list-spaces")
    assert_one_line_error(status, err, "NASFLAT_DATA_DIR")


def test_missing_file_names_it_and_its_origin(capsys, data_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("NASFLAT_CACHE_DIR", str(tmp_path / "cache"))
    (data_copy / HELP_FILE).unlink()
    status, _, err = run_cli(capsys, "list-devices", "--space", "nb201", "--data_dir", str(data_copy))
    assert_one_line_error(status, err, f"missing data file {HELP_FILE}", "HayeonLee/HELP")
    status, out, err = run_cli(capsys, "verify", "--quiet", "--data_dir", str(data_copy))
    assert status == 2 and f"missing: {data_copy / HELP_FILE}" in out


def test_checksum_mismatch(capsys, data_copy):
    path = copy_real(data_copy, "nats-bench-landscape/nats_bench.csv")
    path.write_bytes(path.read_bytes().replace(b"85.86", b"85.87", 1))
    status, out, err = run_cli(capsys, "verify", "--quiet", "--data_dir", str(data_copy))
    assert_one_line_error(status, err, "1 of 91 data files failed verification")
    assert "mismatch: " in out and "nats_bench.csv" in out


@pytest.mark.parametrize("relative, damage, fragment", [
    (HELP_FILE, lambda raw: raw[: len(raw) // 2], "cannot load"),
    (HELP_FILE, lambda raw: b"not a torch file", "cannot load"),
    (LATBENCH_FILE, lambda raw: raw[: len(raw) // 2], "cannot load LatBench pickle"),
    (LATBENCH_FILE, lambda raw: pickle.dumps({(0, 0, 0, 0, 0, 9): 0.1}), "malformed key"),
    (LATBENCH_FILE, lambda raw: pickle.dumps({(0, 0, 0, 0, 0, 1): "slow"}), "malformed latency"),
    (LATBENCH_FILE, lambda raw: pickle.dumps([1, 2, 3]), "does not hold a non-empty dict"),
    (LATBENCH_FILE, lambda raw: pickle.dumps({(0, 0, 0, 0, 0, 1): np.int64(3)}), "refusing"),
    (LATBENCH_FILE, lambda raw: pickle.dumps({(0, 0, 0, 0, 0, 1): np.float32(3)}), "refusing numpy scalar"),
])
def test_damaged_files(capsys, data_copy, tmp_path, monkeypatch, relative, damage, fragment):
    monkeypatch.setenv("NASFLAT_TRUST_MODIFIED_DATA", "1")  # reach the parser past the checksum check
    monkeypatch.setenv("NASFLAT_CACHE_DIR", str(tmp_path / "cache"))
    raw = (data_copy / relative).read_bytes()
    replace_file(data_copy, relative, damage(raw))
    status, _, err = run_cli(capsys, "list-devices", "--space", "nb201", "--data_dir", str(data_copy))
    assert_one_line_error(status, err, fragment, relative.split("/")[-1])


class _RunsCode:
    def __reduce__(self):
        return (subprocess.call, (["touch", "/tmp/nasflat-pickle-ran"],))


def test_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({(0, 0, 0, 0, 0, 1): _RunsCode()}))
    with pytest.raises(DataError, match="refusing to load global subprocess.call"):
        load_latbench_pickle(path)


def test_torch_file_with_code_is_refused(capsys, data_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("NASFLAT_TRUST_MODIFIED_DATA", "1")  # reach the parser past the checksum check
    monkeypatch.setenv("NASFLAT_CACHE_DIR", str(tmp_path / "cache"))
    buffer = io.BytesIO()
    torch.save([_RunsCode()], buffer)
    replace_file(data_copy, HELP_FILE, buffer.getvalue())
    status, _, err = run_cli(capsys, "list-devices", "--space", "nb201", "--data_dir", str(data_copy))
    assert_one_line_error(status, err, "cannot load", "fpga.pt")
    assert zipfile.is_zipfile(io.BytesIO(buffer.getvalue()))


def test_wrong_length_torch_file(capsys, data_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("NASFLAT_TRUST_MODIFIED_DATA", "1")  # reach the parser past the checksum check
    monkeypatch.setenv("NASFLAT_CACHE_DIR", str(tmp_path / "cache"))
    buffer = io.BytesIO()
    torch.save([1.0, 2.0], buffer)
    replace_file(data_copy, HELP_FILE, buffer.getvalue())
    status, _, err = run_cli(capsys, "list-devices", "--space", "nb201", "--data_dir", str(data_copy))
    assert_one_line_error(status, err, "holds 2 latencies; expected 15625")


def test_pandas_pickle_conversion_is_restricted():
    frame = pd.DataFrame({"cellstr": ["a", "b"], "params": [0.1, 0.2]})
    csv = _convert_pandas_pickle_to_csv(pickle.dumps(frame), "x.pd").decode()
    assert csv.splitlines()[0] == "arch,cellstr,params" and "0.2" in csv
    with pytest.raises(DataError, match="refusing"):
        _convert_pandas_pickle_to_csv(pickle.dumps(_RunsCode()), "x.pd")


def test_module_entry_point_prints_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "nas_embedding_suite", "show-task", "ZZ"], capture_output=True, text=True
    )
    assert result.returncode == 2 and result.stderr.startswith("error: unknown task 'ZZ'")
    assert "Traceback" not in result.stderr
