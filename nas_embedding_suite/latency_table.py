"""Latency tables: one row per device, one column per architecture, milliseconds, NaN if unmeasured."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from .array_cache import cached_arrays
from .devices import Device, get_device, list_devices
from .errors import DataError
from .spaces.base import SearchSpace


@dataclass
class LatencyTable:
    """Latencies of ``devices`` x architectures of ``space`` in ms, in the space's index order."""

    space: SearchSpace
    devices: List[Device]
    values: np.ndarray  # float64 [D, A], NaN where the device has no measurement

    @property
    def device_names(self) -> List[str]:
        """Names of the rows."""
        return [d.name for d in self.devices]

    def row(self, name: str) -> int:
        """Row of device ``name`` (an :class:`UnknownNameError` lists the valid names)."""
        names = self.device_names
        if name not in names:
            get_device(self.space.name, name)  # raises with the full list if the name is unknown
            raise DataError(f"device '{name}' is not loaded in this table")
        return names.index(name)

    def latencies(self, name: str) -> np.ndarray:
        """Latency (ms) of every architecture on ``name``; NaN where unmeasured."""
        return self.values[self.row(name)]

    def measured(self, name: str) -> np.ndarray:
        """Indices of the architectures measured on ``name``."""
        return np.flatnonzero(~np.isnan(self.latencies(name)))

    def coverage(self, name: str) -> float:
        """Share of the space's architectures measured on ``name``."""
        return float(np.mean(~np.isnan(self.latencies(name))))

    def subset(self, names: Sequence[str]) -> "LatencyTable":
        """A table of the given devices only, in the given order."""
        rows = [self.row(n) for n in names]
        return LatencyTable(self.space, [self.devices[r] for r in rows], self.values[rows])


def read_device_file(device: Device, space: SearchSpace) -> np.ndarray:
    """One device's latencies in ms from its source file (no cache), read by the space
    (:meth:`~nas_embedding_suite.spaces.base.SearchSpace.read_latencies`)."""
    return space.read_latencies(device)


def load_latency_table(
    space: SearchSpace, devices: Optional[Sequence[str]] = None, cache_dir: Optional[Path] = None
) -> LatencyTable:
    """The latency table of ``space`` for ``devices`` (default: all), cached by source checksums.

    The cache holds every device of the space, keyed by the content of all their files, so that
    loading any subset later costs one ``npz`` read.
    """
    catalog = list_devices(space.name)
    if devices is not None:
        for name in devices:
            get_device(space.name, name)
    files = [d.file for d in catalog]
    key = space.data_dir.content_key(files)

    def build():
        return {"values": np.stack([read_device_file(d, space) for d in catalog])}

    values = cached_arrays(f"latency-{space.name}", key, build, cache_dir)["values"]
    table = LatencyTable(space, catalog, values)
    return table.subset(devices) if devices is not None else table
