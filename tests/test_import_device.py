"""Published latency tables: import-device (formats, units, filters, HW-NAS-Bench's layout), and the
trainer on imported files (partial coverage, copied latencies, errors in ms, pretraining reuse,
trials of deterministic predictors)."""
import json
import pickle
import subprocess

import numpy as np
import pandas as pd
import pytest

from correlation_trainer.main import main as trainer_main
from nas_embedding_suite.cli import main as data_main
from nas_embedding_suite.device_file import read_device_file
from nas_embedding_suite.duplicates import copy_report, one_per_class
from nas_embedding_suite.import_device import fbnet_lookup_keys, fbnet_lookup_latencies
from nas_embedding_suite.samplers import choose_new_device_samples
from nas_embedding_suite.spaces.fbnet.space import BLOCK_NAMES

from cli_errors import one_line_error

QUICK_ROOFLINE = ["--task_index", "9999", "--predictor", "roofline", "--no_progress"]


def body(path):
    """The rows of a device file (everything but its # header)."""
    return [line for line in path.read_text().splitlines() if not line.startswith("#")]


def run_import(capsys, *argv):
    status = data_main(["import-device", *map(str, argv)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


@pytest.fixture(scope="module")
def titan(nb201_table):
    """Real latencies (ms) of every NB201 cell on titan_rtx_1."""
    return nb201_table.latencies("titan_rtx_1").copy()


def arch_values(space, fmt, indices):
    if fmt == "index":
        return list(indices)
    if fmt == "arch-string":
        return [space.arch_str(i) for i in indices]
    if fmt == "latbench":
        return [str(space.latbench_tuple(i)) for i in indices]
    if fmt == "naslib":
        return [str(space.naslib_tuple(i)) for i in indices]
    return [space.arch_str(i) for i in indices]  # fbnet: block names joined by '-'


@pytest.mark.parametrize("fmt", ["index", "arch-string", "latbench", "naslib", "fbnet"])
@pytest.mark.parametrize("unit, column, flag", [("s", "latency_s", None), ("ms", "latency_ms", None),
                                                ("us", "time_us", None), ("s", "latency", "s"),
                                                ("us", "latency", "us")])
def test_round_trip_of_every_arch_format_and_unit(nb201, fbnet, tmp_path, capsys, fmt, unit, column, flag):
    space = fbnet if fmt == "fbnet" else nb201
    indices = np.random.default_rng(1).choice(space.num_archs, 60, replace=False)
    ms = np.random.default_rng(2).uniform(0.5, 40.0, len(indices))
    factor = {"s": 1e-3, "ms": 1.0, "us": 1e3}[unit]
    table = tmp_path / "table.csv"
    pd.DataFrame({"architecture": arch_values(space, fmt, indices), column: ms * factor}).to_csv(table, index=False)
    out = tmp_path / "device.csv"
    extra = ["--unit", flag] if flag else []
    if fmt in ("latbench", "naslib"):
        extra += ["--arch-format", fmt]
    report = run_import(capsys, table, "--out", out, *extra)
    assert f"space {space.name}" in report and f"unit {unit}" in report
    device = read_device_file(out, space)
    order = np.argsort(indices)
    assert device.indices.tolist() == indices[order].tolist()
    np.testing.assert_allclose(device.latency_ms, ms[order], rtol=1e-10)
    assert device.metadata["unit"].startswith(unit) and device.metadata["arch_column"].endswith(f"format {fmt})")


def test_space_methods_round_trip_the_tuple_formats(nb201):
    for index in range(0, nb201.num_archs, 97):
        assert nb201.index_of_latbench_tuple(nb201.latbench_tuple(index)) == index
        assert nb201.index_of_naslib_tuple(nb201.naslib_tuple(index)) == index


def test_parquet_csv_json_tsv_and_pickle_import_to_identical_files(nb201, titan, tmp_path, capsys):
    indices = np.arange(0, nb201.num_archs, 5)
    seconds = titan[indices] / 1000.0
    tuples = [nb201.latbench_tuple(i) for i in indices]
    frame = pd.DataFrame({"arch": [str(t) for t in tuples], "latency": seconds})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    pd.DataFrame({"arch": pd.Series(tuples, dtype=object).map(list), "latency": seconds}).to_parquet(tmp_path / "t.parquet")
    (tmp_path / "t.pickle").write_bytes(pickle.dumps(dict(zip(tuples, seconds.tolist()))))
    (tmp_path / "t.json").write_text(json.dumps([{"arch": list(t), "latency": s} for t, s in zip(tuples, seconds)]))
    written = {}
    for suffix in ("csv", "tsv", "parquet", "pickle", "json"):
        out = tmp_path / f"{suffix}.csv"
        run_import(capsys, tmp_path / f"t.{suffix}", "--arch-format", "latbench", "--unit", "s", "--device-name",
                   "same", "--out", out)
        written[suffix] = body(out)
        assert read_device_file(out, nb201).metadata["source_format"] == suffix
    assert all(rows == written["csv"] for rows in written.values())
    device = read_device_file(tmp_path / "pickle.csv", nb201)
    np.testing.assert_allclose(device.latency_ms, titan[indices], rtol=1e-10)
    # the same table imported twice gives the same bytes (no timestamp)
    first = (tmp_path / "csv.csv").read_bytes()
    run_import(capsys, tmp_path / "t.csv", "--arch-format", "latbench", "--unit", "s", "--device-name", "same",
               "--out", tmp_path / "csv.csv")
    assert (tmp_path / "csv.csv").read_bytes() == first


def test_latbench_pickle_matches_the_latency_table(nb201, nb201_table, data_dir, tmp_path, capsys):
    source = data_dir.file("LatBench/embedded-tpu-edge-tpu-int8.pickle")
    run_import(capsys, source, "--arch-format", "latbench", "--unit", "s", "--out-dir", tmp_path)
    device = read_device_file(tmp_path / "nb201_embedded-tpu-edge-tpu-int8.csv", nb201)
    row = nb201_table.latencies("embedded_tpu_edge_tpu_int8")
    assert len(device.indices) == 15284 and np.isnan(row[nb201.disconnected]).all()
    np.testing.assert_allclose(device.latency_ms, row[device.indices], rtol=1e-10)
    assert device.metadata["source_sha256"] == subprocess.run(
        ["sha256sum", str(source)], capture_output=True, text=True, check=True).stdout.split()[0]


def test_help_torch_list_matches_the_latency_table(nb201, nb201_table, data_dir, tmp_path, capsys):
    report = run_import(capsys, data_dir.file("HELP/data/nasbench201/latency/eyeriss.pt"), "--unit", "ms",
                        "--out-dir", tmp_path)
    assert "format index (detected)" in report
    device = read_device_file(tmp_path / "nb201_eyeriss.csv", nb201)
    assert device.indices.tolist() == list(range(nb201.num_archs))
    np.testing.assert_allclose(device.latency_ms, nb201_table.latencies("eyeriss"), rtol=1e-10)


def test_filter_split_and_exact_repeats(nb201, titan, tmp_path, capsys):
    indices = np.arange(40)
    rows = []
    for device, scale in (("pi5", 1.0), ("nano", 3.0)):
        for framework, extra in (("onnx", 0.0), ("tflite", 0.5)):
            rows += [{"index": i, "device": device, "framework": framework, "latency_ms": titan[i] * scale + extra}
                     for i in indices]
    rows.append(dict(rows[0]))  # an exact repeat of a row
    table = tmp_path / "bench.parquet"
    pd.DataFrame(rows).to_parquet(table)
    report = run_import(capsys, table, "--filter", "device=pi5", "framework=onnx", "--out-dir", tmp_path / "one")
    assert "1 exact repeats dropped" in report
    device = read_device_file(tmp_path / "one" / "nb201_bench.csv", nb201)
    np.testing.assert_allclose(device.latency_ms, titan[indices], rtol=1e-10)
    assert device.metadata["filter"] == "device=pi5 framework=onnx"
    run_import(capsys, table, "--split-by", "device", "framework", "--device-name", "b", "--out-dir", tmp_path / "all")
    names = sorted(p.name for p in (tmp_path / "all").iterdir())
    assert names == ["nb201_b_nano_onnx.csv", "nb201_b_nano_tflite.csv", "nb201_b_pi5_onnx.csv", "nb201_b_pi5_tflite.csv"]
    nano = read_device_file(tmp_path / "all" / "nb201_b_nano_tflite.csv", nb201)
    np.testing.assert_allclose(nano.latency_ms, titan[indices] * 3 + 0.5, rtol=1e-10)
    # rows of several devices in one file: the error names the columns that tell them apart
    status = data_main(["import-device", str(table), "--out-dir", str(tmp_path / "x")])
    one_line_error(status, capsys.readouterr().err, "with different latencies", "--split-by device framework")


def write_hw_nas_bench(path, nb201, fbnet_table_values):
    """A small pickle in HW-NAS-Bench's layout: 3 datasets of NB201 metric lists with configs, and
    FBNet lookup tables."""
    count = nb201.num_archs
    rng = np.random.default_rng(0)
    nasbench201 = {}
    for d, dataset in enumerate(("cifar10", "cifar100", "ImageNet16-120")):
        metrics = {"config": [{"name": "infer.tiny", "C": 16, "N": 5, "arch_str": nb201.arch_str(i),
                               "num_classes": 10} for i in range(count)]}
        for m, metric in enumerate(("edgegpu_latency", "edgegpu_energy", "pixel3_latency", "fpga_latency")):
            metrics[metric] = (rng.uniform(1, 10, count) * (1 + d + m)).tolist()
        nasbench201[dataset] = metrics
    path.write_bytes(pickle.dumps({"nasbench201": nasbench201, "fbnet": fbnet_table_values}))
    return nasbench201


def fbnet_tables():
    fixed, layers = fbnet_lookup_keys("cifar100")
    keys = sorted(set(fixed) | {k for per_layer in layers for k in per_layer})
    rng = np.random.default_rng(5)
    return {"pixel3_latency": {k: float(v) for k, v in zip(keys, rng.uniform(0.1, 2.0, len(keys)))},
            "pixel3_energy": {k: 1.0 for k in keys}}


def test_fbnet_lookup_keys_follow_hw_nas_bench_and_sum_along_the_layers(fbnet):
    fixed, layers = fbnet_lookup_keys("cifar100")
    assert fixed[0] == "ConvNorm_H32_W32_Cin3_Cout16_kernel3_stride1_group1"
    assert fixed[1:] == ["ConvNorm_H4_W4_Cin352_Cout1504_kernel1_stride1_group1",
                         "AvgP_H4_W4_Cin1504_Cout1504_kernel4_stride1", "FC_Cin1504_Cout100"]
    assert layers[0][0] == "ConvBlock_H32_W32_Cin16_Cout16_exp1_kernel3_stride1_group1"
    assert layers[1][BLOCK_NAMES.index("k5_e1_g2")] == "ConvBlock_H32_W32_Cin16_Cout24_exp1_kernel5_stride1_group2"
    assert layers[5][BLOCK_NAMES.index("skip")] == "Skip_H32_W32_Cin24_Cout32_stride2"
    assert layers[9][0].startswith("ConvBlock_H16_W16_Cin32_Cout64_") and len(layers) == 22
    table = fbnet_tables()["pixel3_latency"]
    summed = fbnet_lookup_latencies(fbnet.choices[:50], table)
    for arch, value in zip(fbnet.choices[:50], summed):
        expected = sum(table[k] for k in fixed) + sum(table[layers[i][c]] for i, c in enumerate(arch))
        assert value == pytest.approx(expected, rel=1e-12)


def test_hw_nas_bench_layout_exposes_its_nb201_devices_per_dataset(nb201, fbnet, tmp_path, capsys):
    path = tmp_path / "HW-NAS-Bench-v1_0.pickle"
    tables = fbnet_tables()
    stored = write_hw_nas_bench(path, nb201, tables)
    report = run_import(capsys, path, "--filter", "space=nb201", "dataset=cifar100", "--split-by", "device",
                        "--out-dir", tmp_path / "out")
    assert "unit ms (HW-NAS-Bench publishes milliseconds)" in report
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "nb201_edgegpu.csv", "nb201_fpga.csv", "nb201_pixel3.csv"]  # energy is no device
    pixel3 = read_device_file(tmp_path / "out" / "nb201_pixel3.csv", nb201)
    assert pixel3.indices.tolist() == list(range(nb201.num_archs))
    np.testing.assert_allclose(pixel3.latency_ms, stored["cifar100"]["pixel3_latency"], rtol=1e-10)
    run_import(capsys, path, "--filter", "space=nb201", "--split-by", "dataset", "device", "--out-dir",
               tmp_path / "all")
    assert len(list((tmp_path / "all").iterdir())) == 9
    run_import(capsys, path, "--filter", "space=fbnet", "--split-by", "device", "--device-name", "hw",
               "--out-dir", tmp_path / "fb")
    fb = read_device_file(tmp_path / "fb" / "fbnet_hw_pixel3.csv", fbnet)
    np.testing.assert_allclose(fb.latency_ms, fbnet_lookup_latencies(fbnet.choices, tables["pixel3_latency"]),
                               rtol=1e-10)
    status = data_main(["import-device", str(path), "--out-dir", str(tmp_path / "x")])
    one_line_error(status, capsys.readouterr().err, "mixes search spaces", "--filter")


class _RunsCode:
    def __reduce__(self):
        return (subprocess.call, (["touch", "/tmp/nasflat-import-pickle-ran"],))


def bad_tables(tmp_path, nb201, fbnet):
    """(argv after import-device, fragments of the one-line error)."""
    csv = tmp_path / "ok.csv"
    pd.DataFrame({"index": [0, 1, 2], "latency": [1.0, 2.0, 3.0]}).to_csv(csv, index=False)
    mixed = tmp_path / "mixed.csv"
    pd.DataFrame({"arch": [nb201.arch_str(0), fbnet.arch_str(0)], "latency_ms": [1.0, 2.0]}).to_csv(mixed, index=False)
    garbage = tmp_path / "garbage.csv"
    pd.DataFrame({"arch": [nb201.arch_str(0), "not an arch"], "latency_ms": [1.0, 2.0]}).to_csv(garbage, index=False)
    broken = tmp_path / "broken.csv"
    pd.DataFrame({"arch": ["|none~0|+|bogus~0|none~1|+|none~0|none~1|none~2|"], "latency_ms": [1.0]}).to_csv(
        broken, index=False)
    tuples = tmp_path / "tuples.json"
    tuples.write_text(json.dumps({"(0, 1, 2, 3, 4, 1)": 0.1, "(1, 1, 2, 3, 4, 1)": 0.2}))
    evil = tmp_path / "evil.pickle"
    evil.write_bytes(pickle.dumps({(0, 0, 0, 0, 0, 1): _RunsCode()}))
    negative = tmp_path / "negative.csv"
    pd.DataFrame({"index": [0, 1], "latency_ms": [1.0, -2.0]}).to_csv(negative, index=False)
    return [
        ([csv, "--unit", "ms", "--latency-column", "lat"], "has no column 'lat' (columns: index, latency)"),
        ([csv, "--unit", "ms", "--filter", "device=pi5"], "--filter device:", "has no column 'device'"),
        ([csv], "the unit of column 'latency' cannot be told from its name; give --unit"),
        ([mixed], "mixes search spaces: nb201"),
        ([garbage], "line 3: cannot read architecture 'not an arch'"),
        ([broken], "unknown NAS-Bench-201 op 'bogus'"),
        ([tuples, "--unit", "s"], "give --arch-format latbench or --arch-format naslib"),
        ([evil, "--unit", "s"], "refusing to load global subprocess.call"),
        ([negative], "line 3: latency '-2.0' is not a positive finite number"),
        ([mixed, "--unit", "s"], "--unit s contradicts the table: its latencies are in ms"),
        ([tmp_path / "missing.csv"], "missing table"),
        ([csv, "--unit", "ms", "--space", "nb201", "--arch-format", "fbnet"], "is not a fbnet architecture"),
    ]


def test_bad_tables_give_one_line(nb201, fbnet, tmp_path, capsys):
    for argv, *fragments in bad_tables(tmp_path, nb201, fbnet):
        status = data_main(["import-device", *map(str, argv), "--out-dir", str(tmp_path / "out")])
        one_line_error(status, capsys.readouterr().err, *fragments)
    assert not (tmp_path / "out").exists()
    assert not __import__("os").path.exists("/tmp/nasflat-import-pickle-ran")


def test_measured_files_are_never_overwritten(nb201, tmp_path, capsys):
    own = tmp_path / "nb201_mine.csv"
    own.write_text("# space: nb201\n# device: mine\nindex,arch,latency_ms\n0,,1.5\n")
    table = tmp_path / "mine.csv"
    pd.DataFrame({"index": [0, 1, 2], "latency_ms": [1.0, 2.0, 3.0]}).to_csv(table, index=False)
    status = data_main(["import-device", str(table), "--out-dir", str(tmp_path)])
    one_line_error(status, capsys.readouterr().err, "was not written by import-device")
    assert "0,,1.5" in own.read_text()


def import_half(nb201, titan, tmp_path, capsys, name="half"):
    keep = np.random.default_rng(3).permutation(nb201.num_archs)[: nb201.num_archs // 2]
    table = tmp_path / f"{name}.csv"
    pd.DataFrame({"index": keep, "latency_ms": titan[keep]}).to_csv(table, index=False)
    out = tmp_path / f"nb201_{name}.csv"
    run_import(capsys, table, "--out", out)
    return np.sort(keep), out


def test_a_file_of_half_the_space_runs_end_to_end_with_the_measured_pool(nb201, titan, tmp_path, capsys):
    keep, path = import_half(nb201, titan, tmp_path, capsys)
    k = 12
    out = tmp_path / "res"
    args = QUICK_ROOFLINE + ["--target_device_file", str(path), "--transfer_sample_sizes", str(k), "--num_trials", "1"]
    assert trainer_main(args + ["--out_dir", str(out)]) == 0
    report = capsys.readouterr().out
    assert "sample pool: measured (the file is imported from a published table and covers 7812 of 15625" in report
    predictions = pd.read_csv(out / "roofline" / "half_predictions.csv", keep_default_na=False).set_index("index")
    samples = sorted(predictions.index[predictions["role"] == "transfer_sample"])
    assert samples == choose_new_device_samples(nb201, k, "flops", seed=0, pool=keep).tolist()
    assert sorted(predictions.index[predictions["role"] == "held_out"]) == sorted(set(keep) - set(samples))
    evaluation = pd.read_csv(out / "roofline" / "new_device_evaluation.csv").set_index("ranking")
    assert (evaluation["n_eval"] == len(keep) - k).all() and (evaluation["sample_pool"] == "measured").all()
    for column in ("mape", "median_ape", "within10", "n_eval_distinct"):
        assert evaluation[column].notna().all(), column
    assert evaluation.loc["roofline, mean of 1 trial(s)", "spr"] > 0.9
    # the whole-space pool is refused for this file, and says how to get out of it
    assert trainer_main(args + ["--sample_pool", "space", "--out_dir", str(tmp_path / "s")]) == 2
    assert "--sample_pool measured" in capsys.readouterr().err
    # the samples from a list; another --seed changes the measured pool's samples, never the list's
    listed = tmp_path / "samples.txt"
    listed.write_text("\n".join(str(i) for i in keep[:15]) + "\n")
    assert trainer_main(args[:-4] + ["--target_device_file", str(path), "--transfer_indices", str(listed),
                                     "--num_trials", "1", "--out_dir", str(tmp_path / "l")]) == 0
    assert "sample pool: list (--transfer_indices)" in capsys.readouterr().out
    predictions = pd.read_csv(tmp_path / "l" / "roofline" / "half_predictions.csv", keep_default_na=False)
    assert sorted(predictions["index"][predictions["role"] == "transfer_sample"]) == keep[:15].tolist()


def copied_file(nb201, titan, tmp_path, capsys):
    """Every connected cell carries the latency of its isomorphism class's lowest index."""
    classes = nb201.function_classes
    cells = np.flatnonzero(~nb201.disconnected)
    first = {}
    for cell in cells:
        first.setdefault(classes[cell], cell)
    values = np.array([titan[first[classes[c]]] for c in cells])
    table = tmp_path / "copied.csv"
    pd.DataFrame({"arch": [nb201.arch_str(c) for c in cells], "latency_ms": values}).to_csv(table, index=False)
    out = tmp_path / "nb201_copied.csv"
    report = run_import(capsys, table, "--out", out)
    return cells, out, report


def test_copied_latencies_are_detected_and_deduplicated(nb201, titan, tmp_path, capsys):
    cells, path, report = copied_file(nb201, titan, tmp_path, capsys)
    classes = nb201.function_classes
    distinct = len(np.unique(classes[cells]))
    assert f"{distinct} distinct measurements" in report and "copies detected" in report
    device = read_device_file(path, nb201)
    copies = copy_report(classes, device.indices, device.latency_ms)
    assert copies.copied and copies.distinct == distinct and copies.tied_classes == copies.shared_classes
    real = copy_report(classes, np.arange(nb201.num_archs), titan)
    assert not real.copied and real.distinct > 15000
    assert one_per_class(classes, device.indices).sum() == distinct

    k = 10
    args = QUICK_ROOFLINE + ["--target_device_file", str(path), "--transfer_sample_sizes", str(k)]
    assert trainer_main(args + ["--out_dir", str(tmp_path / "d")]) == 0
    report = capsys.readouterr().out
    assert "dedupe on (the default when copies are detected)" in report
    evaluation = pd.read_csv(tmp_path / "d" / "roofline" / "new_device_evaluation.csv")
    assert (evaluation["n_eval"] == distinct - k).all() and (evaluation["n_eval_distinct"] == distinct - k).all()
    predictions = pd.read_csv(tmp_path / "d" / "roofline" / "copied_predictions.csv", keep_default_na=False)
    assert (predictions["role"] == "copy").sum() == len(cells) - distinct
    assert trainer_main(args + ["--no-dedupe", "--out_dir", str(tmp_path / "n")]) == 0
    assert "dedupe off (--no-dedupe)" in capsys.readouterr().out
    evaluation = pd.read_csv(tmp_path / "n" / "roofline" / "new_device_evaluation.csv")
    assert (evaluation["n_eval"] == len(cells) - k).all()
    assert (evaluation["n_eval_distinct"] < evaluation["n_eval"]).all()
    assert (evaluation["n_eval_distinct"] <= distinct).all()


def test_two_device_files_of_one_task_pretrain_once(nb201, titan, tmp_path, capsys):
    store = tmp_path / "store"
    files = []
    for name, scale in (("first", 1.0), ("second", 2.0)):
        table = tmp_path / f"{name}.csv"
        keep = np.arange(0, nb201.num_archs, 50)
        pd.DataFrame({"index": keep, "latency_ms": titan[keep] * scale + np.arange(len(keep)) * 1e-3}).to_csv(
            table, index=False)
        run_import(capsys, table, "--out", tmp_path / f"nb201_{name}.csv")
        files.append(tmp_path / f"nb201_{name}.csv")
    for number, path in enumerate(files):
        assert trainer_main(["--task_index", "9999", "--target_device_file", str(path), "--sample_sizes", "8",
                             "--epochs", "2", "--transfer_epochs", "2", "--num_trials", "1",
                             "--transfer_sample_sizes", "5", "--pretrained_dir", str(store), "--no_progress",
                             "--out_dir", str(tmp_path / f"r{number}")]) == 0
        capsys.readouterr()
    assert len(list(store.glob("*.pt"))) == 1 and len(list(store.glob("*.json"))) == 1


def test_deterministic_trials_collapse_and_tiny_readings_warn(nb201, titan, tmp_path, capsys):
    keep = np.arange(0, nb201.num_archs, 25)
    values = titan[keep].copy()
    values[:5] = 1e-4  # readings at the timer's resolution
    table = tmp_path / "tiny.csv"
    pd.DataFrame({"index": keep, "latency_ms": values}).to_csv(table, index=False)
    run_import(capsys, table, "--out", tmp_path / "nb201_tiny.csv")
    out = tmp_path / "res"
    assert trainer_main(QUICK_ROOFLINE + ["--target_device_file", str(tmp_path / "nb201_tiny.csv"),
                                          "--num_trials", "3", "--out_dir", str(out)]) == 0
    report = capsys.readouterr().out
    assert "the 3 trials would be identical; running 1 trial" in report
    assert "+- 0.000" not in report
    assert "warning: 5 readings of tiny are below" in report and "MAPE divides by them" in report
    trials = pd.read_csv(out / "roofline" / "nb201_trials.csv")
    assert len(trials) == 1 and (trials["num_trials"] == 1).all()


@pytest.mark.parametrize("argv, fragment", [
    (["--sample_pool", "measured"], "--sample_pool works with --target_device_file"),
    (["--dedupe"], "--dedupe works with --target_device_file"),
])
def test_pool_flags_need_a_device_file(tmp_path, capsys, argv, fragment):
    status = trainer_main(QUICK_ROOFLINE + argv + ["--out_dir", str(tmp_path)])
    one_line_error(status, capsys.readouterr().err, fragment)


def test_bad_transfer_indices_give_one_line(nb201, titan, tmp_path, capsys):
    keep, path = import_half(nb201, titan, tmp_path, capsys)
    absent = int(np.setdiff1d(np.arange(nb201.num_archs), keep)[0])
    cases = [([str(keep[0]), str(absent)], f"lacks 1 of the 2 --transfer_indices architectures (e.g. architecture {absent})"),
             ([str(keep[0]), str(keep[0])], "lists architecture"),
             (["|nope|"], "malformed")]
    for lines, fragment in cases:
        listed = tmp_path / "list.txt"
        listed.write_text("\n".join(lines) + "\n")
        status = trainer_main(QUICK_ROOFLINE + ["--target_device_file", str(path), "--transfer_indices", str(listed),
                                                "--out_dir", str(tmp_path / "r")])
        one_line_error(status, capsys.readouterr().err, fragment)
    listed.write_text(f"{keep[0]}\n{keep[1]}\n")
    status = trainer_main(QUICK_ROOFLINE + ["--target_device_file", str(path), "--transfer_indices", str(listed),
                                            "--sample_pool", "measured", "--out_dir", str(tmp_path / "r")])
    one_line_error(status, capsys.readouterr().err, "cannot be combined with --sample_pool")
