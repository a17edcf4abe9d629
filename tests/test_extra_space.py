"""A search space defined here, on data made here, runs through the data command line and the trainer.

``ChainSpace`` is a tiny chain space (5 layers, each one of 3 ops: 243 architectures) with a
made-up latency table on four devices and one task. Nothing else of the project knows it: it is
registered for the duration of a test (the ``chain_space`` fixture) and gone afterwards.
"""
from __future__ import annotations

import itertools
from functools import cached_property
from typing import Dict, List

import numpy as np
import pandas as pd
import pytest
import torch

from correlation_trainer.main import main as trainer_main
from nas_embedding_suite.cli import main as data_main
from nas_embedding_suite.cost_features import FEATURES, assemble_cost_features
from nas_embedding_suite.errors import ArchitectureError, DataError
from nas_embedding_suite.safe_loading import load_torch_file
from nas_embedding_suite.spaces import (
    Device, GraphBatch, SearchSpace, list_spaces, register_space, unregister_space,
)
from nas_embedding_suite.tasks import TaskSuite

OPS = ["conv3", "conv1", "skip"]
NUM_LAYERS = 5
FOLDER = "chain_space"
ARCH_FILE = f"{FOLDER}/arch.pt"
#: made-up per-op costs: FLOPs and parameters of each op
OP_FLOPS = np.array([9.0, 1.0, 0.0])
OP_PARAMS = np.array([90.0, 10.0, 0.0])
#: device name -> (time per FLOP, fixed time in ms, noise)
DEVICES = {"dev_a": (0.10, 1.0, 0.02), "dev_b": (0.20, 0.5, 0.05), "dev_c": (0.15, 2.0, 0.03),
           "dev_d": (0.05, 0.2, 0.01)}


class ChainSpace(SearchSpace):
    """Every chain of 5 layers over 3 ops, in the order of ``arch.pt`` in the data directory."""

    name = "chain"
    node_op_names = ["input", "output"] + OPS
    num_nodes = NUM_LAYERS + 2
    graph_source_file = ARCH_FILE
    cost_units = {"params": "count", "flops": "FLOPs"}
    default_settings = {"sample_sizes": [16], "transfer_lr": 1e-3, "transfer_epochs": 10, "dropout": 0.0,
                        "transfer_batch_size": None, "sampling_metric": "flops"}

    @classmethod
    def devices(cls) -> List[Device]:
        return [Device(name, cls.name, "test device", 1, "made up", "ms", f"{FOLDER}/latency/{name}.pt",
                       "a device invented by the test") for name in DEVICES]

    @classmethod
    def task_entries(cls) -> List[Dict[str, object]]:
        return [{"label": "XQ", "index": 0, "train": ["dev_a", "dev_b"], "test": ["dev_c", "dev_d"]}]

    @cached_property
    def choices(self) -> np.ndarray:
        """Op ids [A, 5], read from the data directory."""
        path = self.data_dir.file(ARCH_FILE)
        matrix = np.asarray(load_torch_file(path), dtype=np.int64)
        if matrix.ndim != 2 or matrix.shape[1] != NUM_LAYERS:
            raise DataError(f"{path} should hold lists of {NUM_LAYERS} op ids")
        return matrix

    @property
    def num_archs(self) -> int:
        return int(self.choices.shape[0])

    def arch_str(self, index: int) -> str:
        return "-".join(OPS[c] for c in self.choices[self.check_index(index)])

    def parse(self, text: str) -> int:
        names = text.split("-")
        if len(names) != NUM_LAYERS or any(n not in OPS for n in names):
            raise ArchitectureError(f"malformed chain architecture '{text}'")
        rows = np.flatnonzero((self.choices == [OPS.index(n) for n in names]).all(axis=1))
        return int(rows[0])

    def build_graphs(self, mode: str = "cut") -> GraphBatch:
        count = self.num_archs
        adjacency = np.zeros((count, self.num_nodes, self.num_nodes), dtype=np.uint8)
        steps = np.arange(self.num_nodes - 1)
        adjacency[:, steps, steps + 1] = 1
        op_ids = np.concatenate([np.zeros((count, 1), np.int64), self.choices + 2, np.ones((count, 1), np.int64)],
                                axis=1)
        return GraphBatch(adjacency, op_ids, np.ones((count, self.num_nodes), dtype=bool))

    def params_flops(self):
        return OP_PARAMS[self.choices].sum(axis=1), OP_FLOPS[self.choices].sum(axis=1)

    def compute_cost_features(self):
        table = np.zeros((len(OPS), len(FEATURES)))
        table[:, FEATURES.index("flops")] = OP_FLOPS
        table[:, FEATURES.index("params")] = OP_PARAMS
        table[:, FEATURES.index("kernels")] = [2, 2, 0]
        per_op = table[self.choices]
        stage_flops = per_op[..., FEATURES.index("flops")].sum(axis=1, keepdims=True)
        return assemble_cost_features(per_op, stage_flops)


def write_chain_data(root) -> None:
    """The space's architectures and a latency file per device under ``root / FOLDER``."""
    choices = np.array(list(itertools.product(range(len(OPS)), repeat=NUM_LAYERS)))
    rng = np.random.default_rng(0)
    rng.shuffle(choices)
    (root / FOLDER / "latency").mkdir(parents=True)
    torch.save(choices.tolist(), root / ARCH_FILE)
    flops = OP_FLOPS[choices].sum(axis=1)
    for name, (per_flop, fixed, noise) in DEVICES.items():
        latency = fixed + per_flop * flops * rng.lognormal(0.0, noise, size=len(flops))
        torch.save(latency.tolist(), root / FOLDER / "latency" / f"{name}.pt")


@pytest.fixture
def chain_space(data_copy, tmp_path, monkeypatch):
    """A data directory with the chain space's files beside the real ones, and ``ChainSpace``
    registered while the test runs."""
    monkeypatch.setenv("NASFLAT_CACHE_DIR", str(tmp_path / "cache"))
    write_chain_data(data_copy)
    register_space(ChainSpace.name)(ChainSpace)
    yield data_copy
    unregister_space(ChainSpace.name)


def test_the_data_command_line_knows_the_space(chain_space, capsys):
    root = ["--data_dir", str(chain_space)]
    assert data_main(["list-spaces", *root]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["chain"] == ["243", "4", "7"] and {"nb201", "fbnet"} <= set(rows)

    assert data_main(["describe-arch", "--space", "chain", "conv3-conv3-skip-conv1-skip", "--latencies", *root]) == 0
    out = capsys.readouterr().out
    assert "conv3-conv3-skip-conv1-skip" in out and "flops (FLOPs)   19.0" in out and "dev_d" in out

    assert data_main(["list-devices", "--space", "chain", *root]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DEVICES) and "4 chain devices" in out and "100.0%" in out

    assert data_main(["show-task", "XQ", *root]) == 0
    assert "task XQ: space chain, --task_index 0" in capsys.readouterr().out
    assert TaskSuite.load().get("chain", 0).test == ("dev_c", "dev_d")


@pytest.mark.parametrize("predictor", ["flops", "roofline"])
def test_a_predictor_runs_on_the_space(chain_space, tmp_path, predictor):
    status = trainer_main(["--space", "chain", "--task_index", "0", "--predictor", predictor,
                           "--transfer_sample_sizes", "10", "--num_trials", "1", "--data_dir", str(chain_space),
                           "--out_dir", str(tmp_path / "results"), "--no_progress"])
    assert status == 0
    rows = pd.read_csv(tmp_path / "results" / predictor / "chain_samp_eff.csv")
    assert sorted(rows["target_device"]) == ["dev_c", "dev_d"]
    assert (rows["spr"] > 0.9).all(), rows[["target_device", "spr"]]


def test_the_space_is_gone_after_its_test():
    assert "chain" not in list_spaces()
    assert "XQ" not in TaskSuite.load().labels()
