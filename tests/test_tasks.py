"""The task suite and the Kernighan-Lin split procedure."""
import numpy as np
import pytest

from nas_embedding_suite.errors import NasflatError, UnknownNameError
from nas_embedding_suite.latency_table import load_latency_table
from nas_embedding_suite.tasks import TaskSuite, device_correlations, make_split

PAPER_TASKS = {"nb201": ["ND", "N1", "N2", "N3", "N4", "NA"], "fbnet": ["FD", "F1", "F2", "F3", "F4", "FA"]}


def test_every_task_resolves_and_loads(nb201, fbnet):
    suite = TaskSuite.load()
    spaces = {"nb201": nb201, "fbnet": fbnet}
    for space, labels in PAPER_TASKS.items():
        for index, label in enumerate(labels):
            task = suite.get(space, index)
            assert task.label == label and suite.by_label(label) is task
            table = load_latency_table(spaces[space], task.devices)
            assert all(table.coverage(n) > 0.97 for n in task.devices)
    assert suite.get("nb201", 9999).quick and suite.get("fbnet", 9999).quick
    assert len(suite.tasks) == 14


def test_task_sizes_match_the_spec():
    suite = TaskSuite.load()
    sizes = {t.label: (len(t.train), len(t.test)) for t in suite.tasks}
    assert sizes["ND"] == (9, 6) and sizes["N4"] == (10, 3) and sizes["NA"] == (17, 3)
    assert sizes["FA"] == (15, 4) and sizes["F4"] == (10, 3) and sizes["FD"] == (9, 3)


def test_unknown_tasks():
    suite = TaskSuite.load()
    with pytest.raises(UnknownNameError, match="valid: ND"):
        suite.by_label("N9")
    with pytest.raises(UnknownNameError, match="0 \\(ND\\)"):
        suite.get("nb201", 7)
    with pytest.raises(UnknownNameError):
        suite.resolve("fbnet", "ND")


def test_make_split(nb201):
    table = load_latency_table(nb201)
    correlations = device_correlations(table.values[:12])
    names = table.device_names[:12]
    train, test = make_split(names, correlations, 4, 3, seed=1)
    assert len(train) == 4 and len(test) == 3 and not set(train) & set(test)
    assert make_split(names, correlations, 4, 3, seed=1) == (train, test)
    assert np.allclose(correlations, correlations.T) and np.allclose(np.diag(correlations), 1)
    with pytest.raises(NasflatError):
        make_split(names, correlations, 10, 10)
