"""What every search space offers: architecture strings, indices and batched dense graphs."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import Dict, List, Sequence, Union

import numpy as np

from ..data_directory import DataDirectory
from ..errors import ArchitectureError, DataError, UnknownNameError
from ..safe_loading import load_torch_file

#: "cut": the spec's graph, for what an architecture computes (accuracy); "compute": every op the
#: network runs, which is what latency depends on.
GRAPH_MODES = ("cut", "compute")


@dataclass(frozen=True)
class GraphBatch:
    """Dense graphs of several architectures, all padded to the space's node count N.

    ``adjacency[a, i, j] = 1`` for a link i -> j; node 0 is the input, node N-1 the output.
    ``node_mask[a, i]`` is False for a node cut from the graph (it keeps its op id but no links).
    """

    adjacency: np.ndarray  # uint8 [A, N, N]
    op_ids: np.ndarray  # int64 [A, N], ids into the space's ``node_op_names``
    node_mask: np.ndarray  # bool [A, N]

    def take(self, indices: Sequence[int]) -> "GraphBatch":
        """The graphs of the given architecture indices."""
        idx = np.asarray(indices, dtype=np.int64)
        return GraphBatch(self.adjacency[idx], self.op_ids[idx], self.node_mask[idx])

    def __len__(self) -> int:
        return int(self.adjacency.shape[0])


class SearchSpace(ABC):
    """A finite set of architectures in a fixed index order, with their graphs and analytic costs."""

    name: str = ""
    #: Op names of graph nodes; ``GraphBatch.op_ids`` index into this list.
    node_op_names: List[str] = []
    #: HELP's ``hardware_embedding_index.pt`` for this space (data-directory path), if any.
    help_reference_file: str = ""
    #: The data file that defines the architectures (keys caches derived from the space).
    graph_source_file: str = ""

    def __init__(self, data_dir: DataDirectory):
        self.data_dir = data_dir
        self._mode_graphs: Dict[str, GraphBatch] = {}

    @property
    @abstractmethod
    def num_archs(self) -> int:
        """Number of architectures in the space."""

    @abstractmethod
    def arch_str(self, index: int) -> str:
        """Canonical architecture string of ``index``."""

    @abstractmethod
    def parse(self, text: str) -> int:
        """Index of an architecture given as a string; :class:`ArchitectureError` when malformed."""

    @abstractmethod
    def build_graphs(self, mode: str = "cut") -> GraphBatch:
        """Graphs of all architectures in index order, in one of ``GRAPH_MODES``."""

    @abstractmethod
    def params_flops(self) -> tuple:
        """(parameter count, FLOPs) arrays for all architectures, in the units of ``cost_units``."""

    cost_units: Dict[str, str] = {}

    @abstractmethod
    def compute_cost_features(self):
        """Per-node and per-architecture cost features (:class:`~nas_embedding_suite.cost_features.CostFeatures`)."""

    @cached_property
    def cost_features(self):
        """:meth:`compute_cost_features`, computed once."""
        return self.compute_cost_features()

    @cached_property
    def graphs(self) -> GraphBatch:
        """The spec's graphs of all architectures ("cut" mode, computed once)."""
        return self.build_graphs("cut")

    def graphs_for(self, mode: str) -> GraphBatch:
        """Graphs in ``mode``: "cut" (nodes off every input-to-output path removed) or "compute"
        (every op the network runs kept, dead ends included)."""
        if mode not in GRAPH_MODES:
            raise UnknownNameError(f"unknown graph mode '{mode}'; valid: {', '.join(GRAPH_MODES)}")
        if mode == "cut":
            return self.graphs
        if mode not in self._mode_graphs:
            self._mode_graphs[mode] = self.build_graphs(mode)
        return self._mode_graphs[mode]

    @cached_property
    def help_reference_archs(self) -> np.ndarray:
        """The architectures whose latencies form HELP's hardware embedding on this space (indices
        into this space, from ``help_reference_file``)."""
        if not self.help_reference_file:
            raise DataError(f"HELP has no reference architectures for the {self.name} space")
        path = self.data_dir.file(self.help_reference_file)
        stored = load_torch_file(path)
        try:
            archs = np.asarray([int(i) for i in stored], dtype=np.int64)
        except (TypeError, ValueError):
            raise DataError(f"{path} is not a list of architecture indices") from None
        if len(archs) == 0 or len(set(archs.tolist())) != len(archs) or archs.min() < 0 \
                or archs.max() >= self.num_archs:
            raise DataError(f"{path} must list distinct architecture indices in [0, {self.num_archs})")
        return archs

    @cached_property
    def params(self) -> np.ndarray:
        """Parameter count of every architecture."""
        return self.params_flops()[0]

    @cached_property
    def flops(self) -> np.ndarray:
        """FLOPs of every architecture."""
        return self.params_flops()[1]

    def check_index(self, index: int) -> int:
        """``index`` as an int, or an :class:`ArchitectureError` when out of range."""
        if not 0 <= int(index) < self.num_archs:
            raise ArchitectureError(
                f"architecture index {index} is out of range for {self.name} (0..{self.num_archs - 1})"
            )
        return int(index)

    def resolve_arch(self, arch: Union[str, int]) -> int:
        """Index of an architecture given as an index (int or digit string) or an arch string."""
        if isinstance(arch, (int, np.integer)):
            return self.check_index(int(arch))
        text = str(arch).strip()
        if text.lstrip("-").isdigit():
            return self.check_index(int(text))
        return self.parse(text)

    def describe(self, index: int) -> Dict[str, object]:
        """A dict of what is known about one architecture (for ``describe-arch``)."""
        index = self.check_index(index)
        graph = self.graphs.take([index])
        mask = graph.node_mask[0]
        links = [
            f"{i}->{j}"
            for i, j in zip(*np.nonzero(graph.adjacency[0]))
        ]
        nodes = [
            f"{i}:{self.node_op_names[op]}" + ("" if keep else " (cut)")
            for i, (op, keep) in enumerate(zip(graph.op_ids[0], mask))
        ]
        return {
            "space": self.name,
            "index": index,
            "arch": self.arch_str(index),
            f"params ({self.cost_units.get('params', '')})": float(self.params[index]),
            f"flops ({self.cost_units.get('flops', '')})": float(self.flops[index]),
            "nodes": ", ".join(nodes),
            "links": ", ".join(links) or "(none)",
        }
