"""Devices and latency tables: counts, units, NaN coverage, cache."""
import numpy as np
import pytest

from nas_embedding_suite.devices import list_devices
from nas_embedding_suite.errors import UnknownNameError
from nas_embedding_suite.latency_table import load_latency_table, read_device_file
from nas_embedding_suite.safe_loading import load_latbench_pickle, load_torch_file


def test_device_counts_and_units():
    nb201 = list_devices("nb201")
    assert len(nb201) == 40
    assert sum(d.source == "HELP" for d in nb201) == 27
    assert {d.unit for d in nb201 if d.source == "LatBench"} == {"s"}
    assert len(list_devices("fbnet")) == 27
    assert len({d.name for d in nb201}) == 40
    kinds = {d.kind for d in nb201}
    assert {"GPU", "CPU", "mobile CPU", "edge TPU", "ASIC", "FPGA", "DSP"} <= kinds


def test_every_device_file_exists(data_dir):
    for space in ("nb201", "fbnet"):
        for device in list_devices(space):
            assert data_dir.file(device.file).is_file()


def test_help_values_in_ms(nb201_table, data_dir):
    raw = load_torch_file(data_dir.file("HELP/data/nasbench201/latency/eyeriss.pt"))
    assert np.array_equal(nb201_table.latencies("eyeriss"), np.asarray(raw))


def test_latbench_seconds_become_ms_and_nan_where_missing(nb201, nb201_table, data_dir):
    device = nb201_table.devices[nb201_table.row("embedded_tpu_edge_tpu_int8")]
    raw = load_latbench_pickle(data_dir.file(device.file))
    row = nb201_table.latencies(device.name)
    for vector, seconds in list(raw.items())[:200]:
        assert row[nb201.index_of_latbench_tuple(vector)] == pytest.approx(seconds * 1000)
    assert np.nanmedian(row) < 10  # ms, not s


@pytest.mark.parametrize("name, missing", [
    ("desktop_cpu_core_i7_7820x_fp32", 341), ("embedded_tpu_edge_tpu_int8", 341),
    ("mobile_dsp_snapdragon_855_hexagon_690_int8", 341), ("mobile_gpu_snapdragon_675_adreno_612_int8", 364),
    ("mobile_cpu_snapdragon_675_kryo_460_int8", 364), ("mobile_cpu_snapdragon_450_cortex_a53_int8", 373),
    ("mobile_gpu_snapdragon_450_adreno_506_int8", 373), ("1080ti_1", 0), ("pixel3", 0),
])
def test_nan_coverage(nb201, nb201_table, name, missing):
    row = nb201_table.latencies(name)
    assert int(np.isnan(row).sum()) == missing
    if missing:
        assert np.isnan(row[nb201.disconnected]).all()  # disconnected cells are never measured
    assert nb201_table.coverage(name) == pytest.approx(1 - missing / 15625)
    assert len(nb201_table.measured(name)) == 15625 - missing


def test_fbnet_table(fbnet_table):
    assert fbnet_table.values.shape == (27, 5000)
    assert not np.isnan(fbnet_table.values).any()


def test_cache_round_trip(nb201, tmp_path):
    fresh = load_latency_table(nb201, ["fpga", "pixel2"], cache_dir=tmp_path)
    cached = load_latency_table(nb201, ["fpga", "pixel2"], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("latency-nb201-*.npz"))) == 1
    assert np.array_equal(fresh.values, cached.values, equal_nan=True)
    assert np.array_equal(fresh.values[0], read_device_file(fresh.devices[0], nb201))


def test_damaged_cache_is_rebuilt(nb201, tmp_path):
    load_latency_table(nb201, ["fpga"], cache_dir=tmp_path)
    cache_file = next(tmp_path.glob("latency-nb201-*.npz"))
    cache_file.write_bytes(cache_file.read_bytes()[:100])
    table = load_latency_table(nb201, ["fpga"], cache_dir=tmp_path)
    assert table.values.shape == (1, 15625)


def test_unknown_device(nb201, nb201_table):
    with pytest.raises(UnknownNameError, match="valid: 1080ti_1"):
        load_latency_table(nb201, ["nope"])
    with pytest.raises(UnknownNameError):
        nb201_table.latencies("titan_rtx_64")
