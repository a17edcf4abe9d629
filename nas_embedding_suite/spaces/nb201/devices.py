"""The NB201 devices: HELP's 27 and LatBench's 13.

Device names follow the NASFLAT task lists: HELP devices by file stem (``titan_rtx_256``),
LatBench devices by file name without ``.pickle`` and with ``-`` replaced by ``_``
(``embedded_tpu_edge_tpu_int8``).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Tuple

import numpy as np

from ...safe_loading import load_latbench_pickle
from ..base import Device
from ..help_devices import help_devices

HELP_FOLDER = "HELP/data/nasbench201/latency"
HELP_GPU_BATCHES = (1, 32, 256)
LATBENCH = {
    # file stem: (kind, description)
    "desktop-cpu-core-i7-7820x-fp32": ("CPU", "Intel Core i7-7820X"),
    "desktop-gpu-gtx-1080ti-fp32": ("GPU", "NVIDIA GTX 1080 Ti"),
    "embedded-gpu-jetson-nano-fp16": ("embedded GPU", "NVIDIA Jetson Nano"),
    "embedded-gpu-jetson-nano-fp32": ("embedded GPU", "NVIDIA Jetson Nano"),
    "embedded-tpu-edge-tpu-int8": ("edge TPU", "Google Edge TPU"),
    "mobile-cpu-snapdragon-450-cortex-a53-int8": ("mobile CPU", "Snapdragon 450 Cortex-A53"),
    "mobile-cpu-snapdragon-675-kryo-460-int8": ("mobile CPU", "Snapdragon 675 Kryo 460"),
    "mobile-cpu-snapdragon-855-kryo-485-int8": ("mobile CPU", "Snapdragon 855 Kryo 485"),
    "mobile-dsp-snapdragon-675-hexagon-685-int8": ("DSP", "Snapdragon 675 Hexagon 685"),
    "mobile-dsp-snapdragon-855-hexagon-690-int8": ("DSP", "Snapdragon 855 Hexagon 690"),
    "mobile-gpu-snapdragon-450-adreno-506-int8": ("mobile GPU", "Snapdragon 450 Adreno 506"),
    "mobile-gpu-snapdragon-675-adreno-612-int8": ("mobile GPU", "Snapdragon 675 Adreno 612"),
    "mobile-gpu-snapdragon-855-adreno-640-int8": ("mobile GPU", "Snapdragon 855 Adreno 640"),
}


def latbench_devices() -> Tuple[Device, ...]:
    """LatBench's 13 devices (tables in seconds, keyed by LatBench's arch vectors)."""
    devices = []
    for stem, (kind, description) in LATBENCH.items():
        precision = stem.rsplit("-", 1)[1]
        devices.append(
            Device(
                stem.replace("-", "_"), "nb201", kind, None, "LatBench", "s",
                f"LatBench/{stem}.pickle", description, precision,
            )
        )
    return tuple(devices)


@lru_cache(maxsize=None)
def nb201_devices() -> Tuple[Device, ...]:
    """Every NB201 device: 27 HELP then 13 LatBench."""
    return tuple(help_devices("nb201", HELP_FOLDER, HELP_GPU_BATCHES)) + latbench_devices()


def read_latbench_file(path: Path, space) -> np.ndarray:
    """A LatBench table as ms per architecture of ``space`` (NaN where LatBench has none)."""
    table = load_latbench_pickle(path)
    row = np.full(space.num_archs, np.nan)
    for vector, seconds in table.items():
        row[space.index_of_latbench_tuple(vector)] = seconds * 1000.0
    return row
