"""The FBNet search space as sampled by HELP: 5,000 chains of 22 searchable layers, each one of 9 blocks.

An architecture is 22 choice ids (0..8, order of ``BLOCK_NAMES``). As a graph it is the chain
[input, layer0..layer21, output]; every layer is kept, ``skip`` layers included.
"""
from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Tuple

import numpy as np

from ...errors import ArchitectureError, DataError
from ...safe_loading import load_torch_file
from ..base import Device, GraphBatch, SearchSpace
from ..registry import register_space
from .devices import fbnet_devices

if TYPE_CHECKING:
    from torch import nn

BLOCK_NAMES = ["k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip"]
NUM_LAYERS = 22
NUM_NODES = NUM_LAYERS + 2
ARCH_FILE = "HELP/data/fbnet/arch.pt"


def choices_to_arch_str(choices) -> str:
    """Canonical FBNet arch string: the 22 block names joined by '-'."""
    return "-".join(BLOCK_NAMES[int(c)] for c in choices)


def choices_key(choices) -> str:
    """The key of NASFLAT's FBNet zero-cost-proxy file: choice ids joined by '_'."""
    return "_".join(str(int(c)) for c in choices)


def parse_choices(text: str) -> Tuple[int, ...]:
    """22 choice ids from block names (separated by '-', ',', '|' or spaces) or ids joined by '_'."""
    text = text.strip()
    if re.fullmatch(r"\d(_\d)*", text):
        choices = [int(t) for t in text.split("_")]
    else:
        names = [t for t in re.split(r"[-,|\s]+", text) if t]
        unknown = [n for n in names if n not in BLOCK_NAMES]
        if unknown:
            raise ArchitectureError(
                f"unknown FBNet block '{unknown[0]}'; valid: {', '.join(BLOCK_NAMES)}"
            )
        choices = [BLOCK_NAMES.index(n) for n in names]
    if len(choices) != NUM_LAYERS or not all(0 <= c < len(BLOCK_NAMES) for c in choices):
        raise ArchitectureError(
            f"malformed FBNet architecture '{text[:80]}': expected {NUM_LAYERS} block names joined "
            f"by '-' or {NUM_LAYERS} choice ids 0..8 joined by '_'"
        )
    return tuple(choices)


def chain_graphs(choices: np.ndarray) -> GraphBatch:
    """Chain graphs [input, layers..., output] for choice matrices [A, 22]."""
    choices = np.asarray(choices, dtype=np.int64)
    count = choices.shape[0]
    adjacency = np.zeros((count, NUM_NODES, NUM_NODES), dtype=np.uint8)
    steps = np.arange(NUM_NODES - 1)
    adjacency[:, steps, steps + 1] = 1
    op_ids = np.empty((count, NUM_NODES), dtype=np.int64)
    op_ids[:, 0] = FBNetSpace.node_op_names.index("input")
    op_ids[:, -1] = FBNetSpace.node_op_names.index("output")
    op_ids[:, 1:-1] = choices + 2
    return GraphBatch(adjacency, op_ids, np.ones((count, NUM_NODES), dtype=bool))


@register_space("fbnet")
class FBNetSpace(SearchSpace):
    """The 5,000 FBNet architectures of HELP (``arch.pt`` order)."""

    name = "fbnet"
    node_op_names = ["input", "output"] + BLOCK_NAMES
    help_reference_file = "HELP/data/fbnet/hardware_embedding_index.pt"
    graph_source_file = ARCH_FILE
    cost_units = {"params": "count", "flops": "FLOPs"}
    num_nodes = NUM_NODES
    #: Source sizes, transfer lr and epochs are the reference settings (NASFLAT spec, sections 4
    #: and 9); dropout, the fine-tuning batch and the sampler were chosen by measurement
    #: (docs/defaults.md).
    default_settings = {"sample_sizes": [800], "transfer_lr": 1e-3, "transfer_epochs": 30, "dropout": 0.1,
                        "transfer_batch_size": 16, "sampling_metric": "random"}
    #: the FBNet headline uses the published zero-cost proxies (spec section 9)
    headline_settings = {"representation": "adj_gin_zcp"}
    help_source_size = 4000
    #: the published zero-cost-proxy encoding
    multipredict_encoding = "zcp"
    baseline_encoder = "mlp"
    upstream_names = ("fbnet",)
    task_file = Path(__file__).with_name("tasks.yaml")

    @cached_property
    def choices(self) -> np.ndarray:
        """Choice ids [5000, 22] in HELP's order."""
        path = self.data_dir.file(ARCH_FILE)
        archs = load_torch_file(path)
        try:
            matrix = np.asarray(archs, dtype=np.int64)
        except (TypeError, ValueError):
            raise DataError(f"{path} should hold lists of {NUM_LAYERS} ints") from None
        if matrix.ndim != 2 or matrix.shape[1] != NUM_LAYERS or matrix.min() < 0 or matrix.max() > 8:
            raise DataError(f"{path} should hold lists of {NUM_LAYERS} choice ids in 0..8")
        return matrix

    @property
    def num_archs(self) -> int:
        return int(self.choices.shape[0])

    @cached_property
    def _index_of_key(self) -> Dict[str, int]:
        return {choices_key(row): i for i, row in enumerate(self.choices)}

    def index_of_key(self, key: str) -> int:
        """Index of an architecture given as choice ids joined by '_' (-1 when absent)."""
        return self._index_of_key.get(key, -1)

    def arch_str(self, index: int) -> str:
        return choices_to_arch_str(self.choices[self.check_index(index)])

    def parse(self, text: str) -> int:
        index = self.index_of_key(choices_key(parse_choices(text)))
        if index < 0:
            raise ArchitectureError(
                f"'{text[:80]}' is a valid FBNet architecture but not one of the {self.num_archs} "
                "with measured latencies"
            )
        return index

    def build_graphs(self, mode: str = "cut") -> GraphBatch:
        return chain_graphs(self.choices)  # a chain has no dead ends: both modes are the same

    def compute_cost_features(self):
        from .cost_features import fbnet_cost_features

        return fbnet_cost_features(self.choices)

    def params_flops(self):
        from .costs import fbnet_params_flops

        return fbnet_params_flops(self.choices)

    def describe(self, index: int) -> Dict[str, object]:
        info = super().describe(index)
        info["choice_key"] = choices_key(self.choices[info["index"]])
        return info

    @classmethod
    def devices(cls) -> List[Device]:
        return list(fbnet_devices())

    def build_network(self, index: int) -> nn.Module:
        """The HW-NAS-Bench CIFAR-100 FBNet network of architecture ``index``."""
        from .network import FBNET_CHOICES, build_fbnet_network

        return build_fbnet_network([FBNET_CHOICES[c] for c in self.choices[index]])

    def raw_proxies(self, progress: bool = True, build: bool = False, workers: int = 1) -> np.ndarray:
        """NASFLAT's published proxies (:mod:`.proxies`); nothing is built."""
        from .proxies import read_fbnet_zcp

        return read_fbnet_zcp(self)
