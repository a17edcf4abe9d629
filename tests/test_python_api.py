"""The Python API: the documented example runs as written; fit / predict / save / load agree with
the command line's checkpoint on the same measurements; bad calls are one-line errors."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from correlation_trainer.api import LatencyPredictor
from nas_embedding_suite.errors import NasflatError

REPO = Path(__file__).resolve().parents[1]


def test_the_documented_example_runs(tmp_path, monkeypatch, capsys):
    text = (REPO / "docs" / "python_api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "docs/python_api.md", "exec"), {})
    out = capsys.readouterr().out
    assert "fastest predicted cell" in out and (tmp_path / "pixel2_predictor" / "latency_predictor.pt").is_file()


def test_fit_predict_save_load_on_a_device_file(tmp_path):
    measured = REPO / "benchmarks" / "own_device" / "nb201_this_cpu.csv"
    predictor = LatencyPredictor("roofline", space="nb201", task="ND")
    chosen = predictor.choose_samples(20)
    fitted = predictor.fit(measured, archs=chosen)
    assert fitted is predictor and predictor.device_name == "this_cpu"
    from nas_embedding_suite.device_file import read_device_file

    device = read_device_file(measured, predictor.space)
    held = np.setdiff1d(device.indices, chosen)
    truth = dict(zip(device.indices.tolist(), device.latency_ms.tolist()))
    predicted = predictor.predict(held)
    from scipy.stats import spearmanr

    assert spearmanr(predicted, [truth[i] for i in held])[0] > 0.9  # the README's roofline result on this file
    path = predictor.save(tmp_path / "saved")
    assert (path / "latency_predictor.json").is_file()
    again = LatencyPredictor.load(path)
    assert np.array_equal(again.predict(held), predicted) and again.config == predictor.config


def test_bad_calls_are_one_line_errors(tmp_path):
    with pytest.raises(NasflatError, match="unknown predictor"):
        LatencyPredictor("nope")
    with pytest.raises(NasflatError, match="option of --predictor help"):
        LatencyPredictor("roofline", meta_episodes=3)
    with pytest.raises(NasflatError, match="unknown setting"):
        LatencyPredictor("roofline", epoch=3)
    predictor = LatencyPredictor("roofline")
    with pytest.raises(NasflatError, match="not fitted"):
        predictor.predict([1])
    with pytest.raises(NasflatError, match="source device"):
        predictor.fit("pixel3", archs=[1, 2, 3])  # a source of ND: its latencies would leak
    with pytest.raises(NasflatError, match="neither a device file"):
        predictor.fit(str(tmp_path / "missing.csv"), archs=[1, 2])
    with pytest.raises(NasflatError, match="out of range"):
        predictor.fit("pixel2", archs=[1, 20000])
    with pytest.raises(NasflatError, match="given twice"):
        predictor.fit("pixel2", archs=[5, 7, 5])
    with pytest.raises(NasflatError, match="latencies"):
        predictor.fit("mine", archs=[1, 2], latency_ms=[1.0])
    helper = LatencyPredictor("help")
    missing = np.setdiff1d(helper.reference_archs(), [1, 2, 3])
    with pytest.raises(NasflatError, match=f"its {len(missing)} reference architectures .*e.g. {missing[0]}"):
        helper.fit("mine", archs=[1, 2, 3], latency_ms=[1.0, 2.0, 3.0])
    with pytest.raises(NasflatError, match="no saved latency predictor"):
        LatencyPredictor.load(tmp_path)
    assert os.listdir(tmp_path) == []
