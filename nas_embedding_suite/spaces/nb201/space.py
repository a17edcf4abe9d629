"""The NAS-Bench-201 search space: 15,625 cells in official index order (see :mod:`.cells`)."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Tuple

import numpy as np

from ...array_cache import cached_arrays
from ...errors import ArchitectureError, DataError
from ...safe_loading import load_torch_file
from ..base import Device, GraphBatch, SearchSpace
from ..registry import register_space
from .cells import (
    NODE_OP_NAMES, NUM_EDGES, NUM_NODES, cell_graphs, naslib_tuple, ops_from_naslib_tuple, ops_key, ops_keys,
    ops_to_arch_str, parse_arch_str, representative_cells,
)
from .devices import nb201_devices, read_latbench_file

if TYPE_CHECKING:
    from torch import nn

STR_ARCH2IDX = "HELP/data/nasbench201/str_arch2idx.pt"


@register_space("nb201")
class NB201Space(SearchSpace):
    """The NAS-Bench-201 cell space in official index order (from HELP's ``str_arch2idx.pt``)."""

    name = "nb201"
    node_op_names = list(NODE_OP_NAMES)
    help_reference_file = "HELP/data/nasbench201/hardware_embedding_index.pt"
    graph_source_file = STR_ARCH2IDX
    cost_units = {"params": "millions", "flops": "MFLOPs"}
    num_nodes = NUM_NODES
    #: Source sizes, transfer lr and epochs are the reference settings (NASFLAT spec, sections 4
    #: and 9); dropout, the fine-tuning batch and the sampler were chosen by measurement
    #: (docs/defaults.md).
    default_settings = {"sample_sizes": [16], "transfer_lr": 3e-3, "transfer_epochs": 40, "dropout": 0.0,
                        "transfer_batch_size": None, "sampling_metric": "flops"}
    headline_settings = {}
    help_source_size = 900
    #: log params and FLOPs stand in for the proxies, so that MultiPredict's results do not depend
    #: on the proxies this project computes itself (the comparison table was measured this way)
    multipredict_encoding = "pf"
    baseline_encoder = "gcn"
    upstream_names = ("nb201", "nasbench201")
    has_accuracies = True
    proxy_reference = "NASLib's partial file (725 cells, CIFAR-10 batches)"
    task_file = Path(__file__).with_name("tasks.yaml")

    @property
    def num_archs(self) -> int:
        return int(self.op_matrix.shape[0])

    @cached_property
    def op_matrix(self) -> np.ndarray:
        """Canonical op ids [15625, 6] in NAS-Bench-201 index order (cached on disk)."""
        key = self.data_dir.content_key([STR_ARCH2IDX])
        return cached_arrays("nb201-ops", key, lambda: {"ops": self._read_op_matrix()})["ops"]

    def _read_op_matrix(self) -> np.ndarray:
        path = self.data_dir.file(STR_ARCH2IDX)
        mapping = load_torch_file(path)
        if not isinstance(mapping, dict) or len(mapping) != 5**NUM_EDGES:
            raise DataError(f"{path} should map all {5 ** NUM_EDGES} arch strings to indices")
        matrix = np.full((len(mapping), NUM_EDGES), -1, dtype=np.int64)
        for arch, index in mapping.items():
            if not isinstance(arch, str) or not isinstance(index, int) or not 0 <= index < len(mapping):
                raise DataError(f"{path} holds a malformed entry {arch!r:.60} -> {index!r:.20}")
            try:
                matrix[index] = parse_arch_str(arch)
            except ArchitectureError as exc:
                raise DataError(f"{path}: {exc}") from None
        if (matrix < 0).any():
            raise DataError(f"{path} does not assign every index 0..{len(mapping) - 1}")
        return matrix

    @cached_property
    def _index_of_key(self) -> np.ndarray:
        lookup = np.full(5**NUM_EDGES, -1, dtype=np.int64)
        lookup[ops_keys(self.op_matrix)] = np.arange(self.num_archs)
        return lookup

    def index_of_ops(self, ops) -> int:
        """Index of the cell with these 6 canonical op ids."""
        return int(self._index_of_key[ops_key(ops)])

    def arch_str(self, index: int) -> str:
        return ops_to_arch_str(self.op_matrix[self.check_index(index)])

    def parse(self, text: str) -> int:
        return self.index_of_ops(parse_arch_str(text))

    def latbench_tuple(self, index: int) -> Tuple[int, ...]:
        """LatBench's arch vector (same ids and order as the canonical ops)."""
        return tuple(int(o) for o in self.op_matrix[self.check_index(index)])

    def index_of_latbench_tuple(self, vector) -> int:
        """Index of a LatBench arch vector."""
        if len(vector) != NUM_EDGES or not all(0 <= int(o) <= 4 for o in vector):
            raise ArchitectureError(f"malformed LatBench arch vector {vector!r}")
        return self.index_of_ops(vector)

    def naslib_tuple(self, index: int) -> Tuple[int, ...]:
        """NASLib's op tuple for ``index``."""
        return naslib_tuple(self.op_matrix[self.check_index(index)])

    def index_of_naslib_tuple(self, naslib_ops) -> int:
        """Index of a NASLib op tuple."""
        return self.index_of_ops(ops_from_naslib_tuple(naslib_ops))

    @cached_property
    def _cut_graphs_and_flags(self):
        return cell_graphs(self.op_matrix, "cut")

    def build_graphs(self, mode: str = "cut") -> GraphBatch:
        if mode == "cut":
            return self._cut_graphs_and_flags[0]
        return cell_graphs(self.op_matrix, mode)[0]

    @property
    def disconnected(self) -> np.ndarray:
        """True for the cells with no input-to-output path (341 of them)."""
        return self._cut_graphs_and_flags[1]

    @cached_property
    def function_classes(self) -> np.ndarray:
        """Isomorphism classes of the cells (8,765 of them): cells whose
        :func:`~.cells.representative_cells` agree compute the same function (the grouping the
        zero-cost proxies use)."""
        representatives = representative_cells(self.op_matrix, self.graphs.node_mask[:, 1:-1])
        return np.unique(ops_keys(representatives), return_inverse=True)[1].reshape(-1).astype(np.int64)

    def compute_cost_features(self):
        from .cost_features import nb201_cost_features

        return nb201_cost_features(self.op_matrix, self.graphs.node_mask[:, 1:-1])

    def params_flops(self):
        from .costs import nb201_params_flops

        return nb201_params_flops(self.op_matrix)

    @cached_property
    def accuracies(self):
        """CIFAR-10/100 and ImageNet16-120 test accuracies (%) per architecture (a DataFrame)."""
        from .metrics import load_accuracies

        return load_accuracies(self)

    @cached_property
    def naswot(self) -> np.ndarray:
        """NASWOT score per architecture (NaN for the disconnected cells)."""
        from .metrics import load_naswot

        return load_naswot(self)["naswot"].to_numpy()

    def describe(self, index: int) -> Dict[str, object]:
        info = super().describe(index)
        index = info["index"]
        for dataset, accuracy in self.accuracies.iloc[index].items():
            info[f"test_acc_{dataset} (%)"] = round(float(accuracy), 3)
        info["naswot"] = float(self.naswot[index])
        info["latbench_tuple"] = self.latbench_tuple(index)
        info["naslib_tuple"] = self.naslib_tuple(index)
        info["disconnected"] = bool(self.disconnected[index])
        return info

    @classmethod
    def devices(cls) -> List[Device]:
        return list(nb201_devices())

    def read_latencies(self, device: Device) -> np.ndarray:
        if device.source == "LatBench":
            return read_latbench_file(self.data_dir.file(device.file), self)
        return super().read_latencies(device)

    def build_network(self, index: int) -> nn.Module:
        """The NAS-Bench-201 CIFAR-10 network of cell ``index``."""
        from .network import NB201_OPS, build_nb201_network

        return build_nb201_network([NB201_OPS[op] for op in self.op_matrix[index]])

    def raw_proxies(self, progress: bool = True, build: bool = False, workers: int = 1) -> np.ndarray:
        """The proxies computed by this project (:mod:`.proxies`; about 1.5 hours on two CPU cores to
        build, resumable; never built unless ``build``)."""
        from .proxies import nb201_raw_zcp

        return nb201_raw_zcp(self, progress=progress, build_missing=build, workers=workers)

    def proxy_agreement(self, raw: np.ndarray) -> Dict[str, float]:
        from .proxies import naslib_agreement

        return naslib_agreement(self, raw)
