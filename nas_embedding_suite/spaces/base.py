"""What every search space offers: architecture strings, indices, batched dense graphs, costs, and
everything else that differs between spaces (devices, tasks, networks, proxies, trainer defaults).

A search space is one folder, ``spaces/<name>/``, holding a :class:`SearchSpace` subclass that is
registered with :func:`~nas_embedding_suite.spaces.registry.register_space`; code outside that
folder asks the space (its attributes and methods below), never tests its name. See
``docs/add_a_search_space.md``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import yaml

from ..data_directory import DataDirectory
from ..errors import ArchitectureError, DataError, NasflatError, UnknownNameError
from ..safe_loading import load_torch_file

if TYPE_CHECKING:
    from torch import nn

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


@dataclass(frozen=True)
class Device:
    """A device with a latency table in one search space."""

    name: str
    space: str
    kind: str  # GPU, CPU, mobile CPU, embedded CPU, embedded GPU, mobile GPU, edge TPU, DSP, ASIC, FPGA
    batch_size: Optional[int]  # None where the source does not say
    source: str  # where the table comes from (HELP, LatBench, ...): how the space reads its file
    unit: str  # unit of the original file ("ms" or "s"); tables are always in ms
    file: str  # path relative to the data directory
    description: str
    precision: str = "fp32"


def read_latency_list(path: Path, num_archs: int) -> np.ndarray:
    """Latencies (ms) from a torch file holding one positive latency per architecture, in index
    order (HELP's format, the default of :meth:`SearchSpace.read_latencies`)."""
    values = load_torch_file(path)
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path} should hold a list of {num_archs} latencies") from None
    if array.shape != (num_archs,):
        raise DataError(f"{path} holds {array.size} latencies; expected {num_archs}")
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise DataError(f"{path} holds non-finite or non-positive latencies")
    return array


class SearchSpace(ABC):
    """A finite set of architectures in a fixed index order, with their graphs and analytic costs.

    Class attributes describe the space without reading data (the registry hands out the class,
    e.g. to job-list tools); instances read the data directory they were made for.
    """

    #: The registered name (``--space``).
    name: str = ""
    #: Op names of graph nodes; ``GraphBatch.op_ids`` index into this list.
    node_op_names: List[str] = []
    #: Node count N of every graph (input and output included).
    num_nodes: int = 0
    #: HELP's ``hardware_embedding_index.pt`` for this space (data-directory path), if any.
    help_reference_file: str = ""
    #: The data file that defines the architectures (keys caches derived from the space).
    graph_source_file: str = ""
    #: Units of :meth:`params_flops`, by name ("params", "flops"), for the describe output.
    cost_units: Dict[str, str] = {}
    #: Trainer defaults of this space (``correlation_trainer/main.py`` fills unset flags from it):
    #: ``sample_sizes`` (list of source archs per device), ``transfer_lr``, ``transfer_epochs``,
    #: ``dropout``, ``transfer_batch_size`` (None: all k samples) and ``sampling_metric``. Every
    #: space sets all six.
    default_settings: Dict[str, Any] = {}
    #: Trainer settings of the space's headline experiment beyond ``default_settings`` (e.g. its
    #: ``representation``); ``jobs/aggregate.py`` names result variants against them.
    headline_settings: Dict[str, Any] = {}
    #: HELP's meta-training archs per source device (spec section 10), the default source budget of
    #: the baselines that use it (HELP, MultiPredict, roofline_prior); None: ``default_settings``.
    help_source_size: Optional[int] = None
    #: The per-architecture encoding MultiPredict gets in this space (a name of
    #: :func:`~nas_embedding_suite.encodings.list_encodings`).
    multipredict_encoding: str = "pf"
    #: Architecture encoder of the HELP and MultiPredict baselines: "gcn" (graph convolutions, for
    #: cells) or "mlp" (flattened per-position features, for chains where position i is layer i).
    baseline_encoder: str = "mlp"
    #: Names under which upstream arch2vec / CATE files of this space are published (file names in
    #: ``<data dir>/encodings/``); empty: the space's ``name``.
    upstream_names: Tuple[str, ...] = ()
    #: Whether instances have ``accuracies`` (a DataFrame of test accuracies in %, one row per
    #: architecture, with a ``cifar10`` column): the accuracy sampler and the encoding report use it.
    has_accuracies: bool = False
    #: What :meth:`proxy_agreement` compares the computed proxies with (shown by ``encode
    #: --validate``); empty when the space has no published reference to validate them against.
    proxy_reference: str = ""
    #: YAML file of this space's transfer tasks (see :meth:`task_entries`); None: no tasks.
    task_file: Optional[Path] = None

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

    @abstractmethod
    def compute_cost_features(self):
        """Per-node and per-architecture cost features (:class:`~nas_embedding_suite.cost_features.CostFeatures`)."""

    @classmethod
    @abstractmethod
    def devices(cls) -> List[Device]:
        """Every device with a latency table in this space (:class:`Device`: name, kind, batch size,
        source, file relative to the data directory); names are unique within the space."""

    @classmethod
    def task_entries(cls) -> List[Dict[str, Any]]:
        """This space's transfer tasks, each a dict with ``label`` (unique over all spaces),
        ``index`` (``--task_index``), ``train`` and ``test`` (device names) and optionally
        ``quick``; by default read from ``task_file`` (a YAML list of such entries)."""
        if cls.task_file is None:
            return []
        entries = yaml.safe_load(Path(cls.task_file).read_text(encoding="utf-8"))
        return list(entries or [])

    def read_latencies(self, device: Device) -> np.ndarray:
        """Latency (ms) of every architecture on ``device``, NaN where unmeasured, read from its
        file (no cache). The default reads one latency per architecture in index order from a
        torch file (HELP's format); a space with other file formats overrides this."""
        return read_latency_list(self.data_dir.file(device.file), self.num_archs)

    def build_network(self, index: int) -> "nn.Module":
        """A freshly initialised PyTorch network of architecture ``index`` (what ``measure`` times)."""
        raise NasflatError(f"no network builder for space '{self.name}'")

    def raw_proxies(self, progress: bool = True, build: bool = False, workers: int = 1) -> np.ndarray:
        """The 13 raw zero-cost proxies ``[A, 13]`` (columns in
        :data:`~nas_embedding_suite.zero_cost_proxies.ZCP_NAMES` order) of every architecture:
        read from a published file, or computed and cached by this project (only when ``build``,
        in ``workers`` processes, with a progress bar if ``progress``)."""
        raise NasflatError(f"no zero-cost proxies for the {self.name} space")

    def proxy_agreement(self, raw: np.ndarray) -> Dict[str, float]:
        """Spearman between ``raw`` (:meth:`raw_proxies`) and the published reference
        ``proxy_reference``, per proxy."""
        raise NasflatError(f"the {self.name} space has no published proxies to validate against")

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
    def function_classes(self) -> np.ndarray:
        """A class id per architecture (int64 [A], ids 0..C-1): architectures of one class compute
        the same function, so a published table may hold one measurement per class copied to all
        its members. The default groups architectures whose spec graphs ("cut" mode, ops of cut
        nodes ignored) are identical; a space with symmetries (NB201's isomorphic cells) overrides it."""
        graphs = self.graphs
        count = len(graphs)
        flat = np.concatenate([graphs.adjacency.reshape(count, -1).astype(np.int64),
                               np.where(graphs.node_mask, graphs.op_ids, -1)], axis=1)
        return np.unique(flat, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)

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
