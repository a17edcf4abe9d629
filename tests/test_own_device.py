"""Own device: network builders, measuring into a resumable device file, transfer to the measured
device, whole-space predictions, the checkpoint and predict command, and one-line errors."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from correlation_trainer import predict as predict_cli
from correlation_trainer.main import main as trainer_main
from nas_embedding_suite.samplers import choose_new_device_samples
from nas_embedding_suite.cli import main as data_main
from nas_embedding_suite.device_file import DeviceFileWriter, read_device_file
from nas_embedding_suite.errors import DataError, NasflatError
from nas_embedding_suite.measure import MeasureProtocol, build_network, device_file_metadata, measure_archs

from cli_errors import one_line_error

REPO = Path(__file__).resolve().parents[1]

TINY = MeasureProtocol(batch_size=1, threads=1, warmup=1, repeats=3)
TINY_FLAGS = ["--warmup", "1", "--repeats", "3", "--threads", "1", "--no-progress"]


def test_network_builders_give_the_analytic_params(nb201, fbnet):
    for index in (0, 1651, 4096, 15624):
        params = sum(p.numel() for p in build_network(nb201, index).parameters())
        assert params == round(nb201.params[index] * 1e6), index
    for index in (0, 2500, 4999):
        params = sum(p.numel() for p in build_network(fbnet, index).parameters())
        assert params == fbnet.params[index], index


def test_measure_writes_a_valid_file_and_resumes_after_interruption(nb201, tmp_path):
    path = tmp_path / "tiny.csv"
    archs = [1651, 10270, 12]
    # interrupted before the first row: the header only
    DeviceFileWriter(path, nb201, device_file_metadata(nb201, "tiny", TINY), ("protocol",)).close()

    def interrupt(index, ms):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        measure_archs(nb201, archs, path, "tiny", TINY, show_progress=False, on_row=interrupt)
    first = read_device_file(path, nb201)
    assert first.indices.tolist() == [1651] and first.name == "tiny"
    with path.open("a") as stream:  # a run killed while writing a row
        stream.write("10270,|none~0|+|no")

    measured = []
    device = measure_archs(nb201, archs, path, "tiny", TINY, show_progress=False,
                           on_row=lambda i, ms: measured.append(i))
    assert measured == [10270, 12]
    assert device.indices.tolist() == archs
    assert device.latency_ms[0] == first.latency_ms[0]
    assert np.all(device.latency_ms > 0)
    protocol = device.protocol
    assert protocol["warmup"] == 1 and protocol["repeats"] == 3 and protocol["threads"] == 1
    assert protocol["input_shape"] == [1, 3, 32, 32] and protocol["statistic"] == "median"
    assert {"machine", "torch", "created", "space"} <= set(device.metadata)
    frame = pd.read_csv(path, comment="#")
    assert list(frame.columns) == ["index", "arch", "latency_ms"]
    assert frame["arch"].tolist() == [nb201.arch_str(i) for i in archs]


def test_choose_samples_and_measure_sampler_agree(nb201, tmp_path, capsys):
    assert trainer_main(["--choose_samples", "3", "--seed", "4", "--write_indices", str(tmp_path / "c.csv")]) == 0
    printed = capsys.readouterr().out.splitlines()[1:]
    chosen = choose_new_device_samples(nb201, 3, "flops", seed=4)
    assert [int(line.split(",")[0]) for line in printed] == chosen.tolist()
    path = tmp_path / "m.csv"
    assert data_main(["measure", "--space", "nb201", "--device-name", "m", "--sampler", "flops", "--k", "3",
                      "--seed", "4", "--out", str(path), *TINY_FLAGS]) == 0
    assert sorted(read_device_file(path, nb201).indices.tolist()) == chosen.tolist()
    assert data_main(["measure", "--space", "nb201", "--device-name", "m", "--indices-file",
                      str(tmp_path / "c.csv"), "--out", str(path), *TINY_FLAGS]) == 0
    assert "3 of 3 architectures already in" in capsys.readouterr().out


def test_end_to_end_on_the_quick_task_with_local_measurements(nb201, tmp_path, capsys):
    k = 3
    path = tmp_path / "laptop.csv"
    chosen = choose_new_device_samples(nb201, k, "flops", seed=0)
    held_out = [5, 600, 9000]
    measure_archs(nb201, chosen.tolist() + held_out, path, "laptop", TINY, show_progress=False)
    out = tmp_path / "res"
    status = trainer_main(["--task_index", "9999", "--target_device_file", str(path),
                           "--transfer_sample_sizes", str(k), "--sample_sizes", "8", "--epochs", "3",
                           "--transfer_epochs", "3", "--num_trials", "2", "--threads", "1",
                           "--out_dir", str(out), "--no_progress"])
    report = capsys.readouterr().out
    assert status == 0, report
    assert "laptop" in report and "flops" in report and "closest source" in report
    folder = out / "nasflat"
    predictions = pd.read_csv(folder / "laptop_predictions.csv", keep_default_na=False, na_values=[""])
    assert len(predictions) == nb201.num_archs
    assert sorted(predictions["rank"]) == list(range(1, nb201.num_archs + 1))
    assert (np.diff(predictions["predicted_latency_ms"].to_numpy()) >= 0).all()  # sorted by rank
    roles = predictions.set_index("index")["role"]
    assert sorted(roles[roles == "transfer_sample"].index) == chosen.tolist()
    assert sorted(roles[roles == "held_out"].index) == held_out
    evaluation = pd.read_csv(folder / "new_device_evaluation.csv")
    assert set(evaluation["n_eval"]) == {len(held_out)} and len(evaluation) == 4
    trials = pd.read_csv(folder / "nb201_trials.csv")
    assert set(trials["target_device"]) == {"laptop"} and len(trials) == 2
    config = json.loads((folder / "predictor" / "predictor.json").read_text())
    assert config["targets"]["laptop"]["transfer_archs"] == chosen.tolist()

    archs = [str(chosen[0]), nb201.arch_str(9000), "77"]
    assert predict_cli.main(["--checkpoint", str(folder / "predictor"), "--archs", *archs]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "index,arch,score,predicted_latency_ms,rank" and len(lines) == 4
    by_index = predictions.set_index("index")
    for line in lines[1:]:
        index, _, score, ms, _ = line.split(",")
        assert float(score) == pytest.approx(by_index.loc[int(index), "score"], abs=1e-4)  # float32 batches
        assert float(ms) == pytest.approx(by_index.loc[int(index), "predicted_latency_ms"], rel=1e-3)


def test_roofline_on_this_machines_measurements(nb201, tmp_path, capsys):
    """The walkthrough's roofline step on the NB201 file measured on this project's CPU."""
    measured = REPO / "benchmarks" / "own_device" / "nb201_this_cpu.csv"
    out = tmp_path / "res"
    assert trainer_main(["--task_index", "ND", "--predictor", "roofline", "--num_trials", "1",
                         "--target_device_file", str(measured), "--out_dir", str(out), "--no_progress"]) == 0
    capsys.readouterr()
    evaluation = pd.read_csv(out / "roofline" / "new_device_evaluation.csv").set_index("ranking")
    roofline = evaluation.loc["roofline, mean of 1 trial(s)", "spr"]
    assert roofline > 0.9 and roofline > evaluation.loc["flops", "spr"]
    predictions = pd.read_csv(out / "roofline" / "this_cpu_predictions.csv").set_index("index")
    held = predictions[predictions["role"] == "held_out"]
    relative = (held["predicted_latency_ms"] - held["measured_latency_ms"]).abs() / held["measured_latency_ms"]
    assert relative.median() < 0.2  # milliseconds, not just a ranking
    assert predict_cli.main(["--checkpoint", str(out / "roofline" / "predictor"), "--archs", "42"]) == 0
    line = capsys.readouterr().out.splitlines()[1].split(",")
    assert float(line[3]) == pytest.approx(predictions.loc[42, "predicted_latency_ms"], rel=1e-9)


def write_file(path, rows, space="nb201"):
    path.write_text(f"# space: {space}\n# device: mine\nindex,arch,latency_ms\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("rows, fragment", [
    (["0,,1.5", "1,,"], "line 5: missing latency_ms"),
    (["0,,1.5", "1,,fast"], "latency_ms 'fast' is not a number"),
    (["0,,1.5", "1,,-2"], "not a positive finite number"),
    (["0,,1.5", "0,,2.5"], "architecture 0 is listed twice (lines 4 and 5)"),
    ([",|none~0|+|none~0|none~1|+|none~0|none~1|bogus~2|,1.0"], "unknown NAS-Bench-201 op 'bogus'"),
    (["15625,,1.0"], "out of range"),
    (["1,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1.0"], "index 1 is"),
])
def test_bad_device_files_give_one_line(nb201, tmp_path, capsys, rows, fragment):
    path = write_file(tmp_path / "bad.csv", rows)
    with pytest.raises(DataError, match="bad.csv"):
        read_device_file(path, nb201)
    status = trainer_main(["--task_index", "9999", "--target_device_file", str(path), "--no_progress",
                           "--out_dir", str(tmp_path / "r")])
    one_line_error(status, capsys.readouterr().err, fragment)


def test_fbnet_arch_outside_the_space_and_missing_samples(fbnet, nb201, tmp_path, capsys):
    outside = "-".join(["k3_e1"] * 22)
    status = data_main(["measure", "--space", "fbnet", "--device-name", "x", "--indices", outside,
                        "--out", str(tmp_path / "f.csv"), *TINY_FLAGS])
    one_line_error(status, capsys.readouterr().err, "not one of the 5000")
    path = write_file(tmp_path / "few.csv", [f"{i},,{1.0 + i / 1e4}" for i in range(30)])
    status = trainer_main(["--task_index", "9999", "--target_device_file", str(path), "--no_progress",
                           "--out_dir", str(tmp_path / "r")])
    one_line_error(status, capsys.readouterr().err, "lacks", "measure --space nb201 --device-name mine")
    other_space = write_file(tmp_path / "fb.csv", ["0,,1.0"], space="fbnet")
    status = trainer_main(["--task_index", "9999", "--target_device_file", str(other_space), "--no_progress",
                           "--out_dir", str(tmp_path / "r")])
    one_line_error(status, capsys.readouterr().err, "holds fbnet latencies, not nb201")


def test_measure_bad_requests_give_one_line(tmp_path, capsys):
    base = ["measure", "--space", "nb201", "--device-name", "x", "--out", str(tmp_path / "x.csv"), *TINY_FLAGS]
    one_line_error(data_main(base + ["--indices", "3", "3"]), capsys.readouterr().err, "listed twice")
    one_line_error(data_main(base + ["--indices", "|nope|"]), capsys.readouterr().err, "malformed")
    one_line_error(data_main(base + ["--sampler", "flops"]), capsys.readouterr().err, "--sampler needs --k")
    one_line_error(data_main(base + ["--sampler", "latency", "--k", "3"]), capsys.readouterr().err, "oracle")
    one_line_error(data_main(base + ["--indices", "3", "--repeats", "0"]), capsys.readouterr().err,
                   "--repeats must be at least 1")
    if not torch.cuda.is_available():
        one_line_error(data_main(base + ["--indices", "3", "--torch-device", "cuda"]),
                       capsys.readouterr().err, "no CUDA device")
    assert not (tmp_path / "x.csv").exists()


def test_resuming_with_other_settings_is_refused(nb201, tmp_path):
    path = tmp_path / "r.csv"
    measure_archs(nb201, [1651], path, "r", TINY, show_progress=False)
    with pytest.raises(NasflatError, match="repeats=3, not repeats=4"):
        measure_archs(nb201, [12], path, "r", MeasureProtocol(warmup=1, repeats=4), show_progress=False)
    with pytest.raises(NasflatError, match="device 'r', not 'q'"):
        measure_archs(nb201, [12], path, "q", TINY, show_progress=False)
