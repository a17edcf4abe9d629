"""Everything a task's experiment needs as arrays and tensors, built once per task."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import List, Optional, Sequence

import numpy as np
import torch
from scipy.stats import spearmanr

from nas_embedding_suite.device_file import MeasuredDevice
from nas_embedding_suite.devices import Device
from nas_embedding_suite.encodings import load_encoding
from nas_embedding_suite.errors import NasflatError
from nas_embedding_suite.latency_table import LatencyTable, load_latency_table
from nas_embedding_suite.spaces.base import SearchSpace
from nas_embedding_suite.tasks import Task


def minmax_per_device(values: np.ndarray) -> np.ndarray:
    """Scale each device row to [0, 1] over its measured (non-NaN) archs; NaN stays NaN."""
    low = np.nanmin(values, axis=1, keepdims=True)
    span = np.nanmax(values, axis=1, keepdims=True) - low
    return (values - low) / np.where(span > 0, span, 1.0)


@dataclass
class TaskData:
    """Graphs, supplementary vectors and normalised latencies of one task.

    Device index ``d`` (the hardware-embedding row) is the position in ``task.devices``: sources
    first, then targets.
    """

    task: Task
    space: SearchSpace
    table: LatencyTable  # rows in task.devices order, milliseconds
    targets: np.ndarray  # [D, A] min-max scaled per device, NaN where unmeasured
    adjacency: torch.Tensor  # float32 [A, N, N]
    op_ids: torch.Tensor  # int64 [A, N]
    node_mask: torch.Tensor  # bool [A, N]
    supplementary: Optional[torch.Tensor]  # float32 [A, d] or None
    node_features: Optional[torch.Tensor] = None  # float32 [A, N, F] per-node inputs, or None

    @classmethod
    def build(cls, task: Task, space: SearchSpace, encoding: Optional[str] = None,
              graph_mode: str = "compute") -> "TaskData":
        """Load the task's latency table and the space's graphs (and encoding, if any).

        ``graph_mode`` "compute" keeps every op the network runs (latency depends on dead-end ops
        too); "cut" is the spec's graph with nodes off every input-to-output path removed.
        """
        table = load_latency_table(space, task.devices)
        graphs = space.graphs_for(graph_mode)
        supplementary = None
        if encoding is not None:
            supplementary = torch.from_numpy(load_encoding(encoding, space))
        return cls(
            task=task,
            space=space,
            table=table,
            targets=minmax_per_device(table.values),
            adjacency=torch.from_numpy(graphs.adjacency.astype(np.float32)),
            op_ids=torch.from_numpy(graphs.op_ids),
            node_mask=torch.from_numpy(graphs.node_mask),
            supplementary=supplementary,
        )

    def with_measured_targets(self, measured: Sequence[MeasuredDevice]) -> "TaskData":
        """The task's sources with ``measured`` devices (device files) as its only targets.

        Each file becomes a latency-table row (NaN where it has no measurement), min-max scaled
        over its measured architectures like every other target.
        """
        names = [m.name for m in measured]
        for device in measured:
            if device.space != self.space.name:
                raise NasflatError(f"{device.path} holds {device.space} latencies, not {self.space.name}")
            if device.name in self.task.train:
                raise NasflatError(
                    f"measured device '{device.name}' ({device.path}) has the name of a source device "
                    f"of task {self.task.label}; give it another name (# device: line or file name)"
                )
            if names.count(device.name) > 1:
                raise NasflatError(f"two device files are named '{device.name}'; device names must differ")
        sources = self.table.subset(list(self.task.train))
        rows = np.stack([m.row(self.space.num_archs) for m in measured])
        devices = sources.devices + [
            Device(m.name, self.space.name, "measured", m.protocol.get("batch_size"), "device file", "ms",
                   str(m.path), m.metadata.get("machine", ""))
            for m in measured
        ]
        table = LatencyTable(self.space, devices, np.vstack([sources.values, rows]))
        task = replace(self.task, test=tuple(names))
        return replace(self, task=task, table=table, targets=minmax_per_device(table.values))

    def to(self, device: torch.device) -> "TaskData":
        """A copy whose tensors live on ``device``."""
        return replace(
            self,
            adjacency=self.adjacency.to(device),
            op_ids=self.op_ids.to(device),
            node_mask=self.node_mask.to(device),
            supplementary=None if self.supplementary is None else self.supplementary.to(device),
            node_features=None if self.node_features is None else self.node_features.to(device),
        )

    @property
    def source_devices(self) -> List[int]:
        """Device indices of the sources."""
        return list(range(len(self.task.train)))

    @property
    def target_devices(self) -> List[int]:
        """Device indices of the targets."""
        return list(range(len(self.task.train), len(self.task.devices)))

    def device_name(self, device: int) -> str:
        """Name of device index ``device``."""
        return self.task.devices[device]

    def measured(self, device: int) -> np.ndarray:
        """Architectures measured on ``device``."""
        return np.flatnonzero(~np.isnan(self.targets[device]))

    def measured_on_all(self, devices: List[int]) -> np.ndarray:
        """Architectures measured on every device of ``devices``."""
        return np.flatnonzero(~np.isnan(self.targets[devices]).any(axis=0))

    def check_budget(self, k: int) -> None:
        """Fail clearly if a target has too few measurements for ``k`` samples plus evaluation."""
        for device in self.target_devices:
            count = len(self.measured(device))
            if count < k + 2:
                raise NasflatError(
                    f"target device {self.device_name(device)} has {count} measured architectures; "
                    f"k={k} transfer samples need at least {k + 2}"
                )


def closest_source(data: TaskData, target: int, archs: np.ndarray) -> int:
    """The source device whose latencies on ``archs`` have the highest Spearman with the target's."""
    measured = data.targets[target, archs]
    best, best_rho = data.source_devices[0], -np.inf
    for source in data.source_devices:
        values = data.targets[source, archs]
        both = ~np.isnan(values) & ~np.isnan(measured)
        if both.sum() < 2 or np.ptp(values[both]) == 0 or np.ptp(measured[both]) == 0:
            continue
        rho = spearmanr(values[both], measured[both])[0]
        if rho > best_rho:
            best, best_rho = source, rho
    return best
