"""The devices with published latency tables, and what is known about each.

Device names follow the NASFLAT task lists: HELP devices by file stem (``titan_rtx_256``), LatBench
devices by file name without ``.pickle`` and with ``-`` replaced by ``_``
(``embedded_tpu_edge_tpu_int8``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from .errors import UnknownNameError

_GPU_MODELS = {
    "1080ti": "NVIDIA GTX 1080 Ti",
    "2080ti": "NVIDIA RTX 2080 Ti",
    "titan_rtx": "NVIDIA Titan RTX",
    "titanx": "NVIDIA Titan X",
    "titanxp": "NVIDIA Titan Xp",
}
_HELP_OTHERS = {
    # name: (kind, batch size or None when unknown, description)
    "gold_6226": ("CPU", None, "Intel Xeon Gold 6226"),
    "gold_6240": ("CPU", None, "Intel Xeon Gold 6240"),
    "silver_4114": ("CPU", None, "Intel Xeon Silver 4114"),
    "silver_4210r": ("CPU", None, "Intel Xeon Silver 4210R"),
    "pixel2": ("mobile CPU", 1, "Google Pixel 2 (whole ms)"),
    "pixel3": ("mobile CPU", 1, "Google Pixel 3"),
    "samsung_a50": ("mobile CPU", 1, "Samsung Galaxy A50 (whole ms)"),
    "samsung_s7": ("mobile CPU", 1, "Samsung Galaxy S7 (whole ms)"),
    "essential_ph_1": ("mobile CPU", 1, "Essential Phone PH-1 (whole ms)"),
    "raspi4": ("embedded CPU", 1, "Raspberry Pi 4"),
    "eyeriss": ("ASIC", 1, "Eyeriss accelerator (simulated)"),
    "fpga": ("FPGA", 1, "FPGA (Xilinx ZC706, simulated)"),
}
_HELP_GPU_BATCHES = {"nb201": (1, 32, 256), "fbnet": (1, 32, 64)}
_LATBENCH = {
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
_HELP_FOLDER = {"nb201": "HELP/data/nasbench201/latency", "fbnet": "HELP/data/fbnet/latency"}


@dataclass(frozen=True)
class Device:
    """A device with a latency table in one search space."""

    name: str
    space: str
    kind: str  # GPU, CPU, mobile CPU, embedded CPU, embedded GPU, mobile GPU, edge TPU, DSP, ASIC, FPGA
    batch_size: Optional[int]  # None where the source does not say
    source: str  # HELP or LatBench
    unit: str  # unit of the original file ("ms" or "s"); tables are always in ms
    file: str  # path relative to the data directory
    description: str
    precision: str = "fp32"


def _help_devices(space: str) -> List[Device]:
    devices = []
    for model, description in _GPU_MODELS.items():
        for batch in _HELP_GPU_BATCHES[space]:
            name = f"{model}_{batch}"
            devices.append(
                Device(name, space, "GPU", batch, "HELP", "ms", f"{_HELP_FOLDER[space]}/{name}.pt", description)
            )
    for name, (kind, batch, description) in _HELP_OTHERS.items():
        devices.append(
            Device(name, space, kind, batch, "HELP", "ms", f"{_HELP_FOLDER[space]}/{name}.pt", description)
        )
    return devices


def _latbench_devices() -> List[Device]:
    devices = []
    for stem, (kind, description) in _LATBENCH.items():
        precision = stem.rsplit("-", 1)[1]
        devices.append(
            Device(
                stem.replace("-", "_"), "nb201", kind, None, "LatBench", "s",
                f"LatBench/{stem}.pickle", description, precision,
            )
        )
    return devices


_CATALOG: Dict[str, List[Device]] = {
    "nb201": _help_devices("nb201") + _latbench_devices(),
    "fbnet": _help_devices("fbnet"),
}


def list_devices(space: str) -> List[Device]:
    """All devices with a latency table in ``space`` (NB201: 27 HELP + 13 LatBench; FBNet: 27)."""
    if space not in _CATALOG:
        raise UnknownNameError(f"no devices for space '{space}'; valid: {', '.join(_CATALOG)}")
    return list(_CATALOG[space])


def get_device(space: str, name: str) -> Device:
    """The device ``name`` of ``space``; an :class:`UnknownNameError` lists the valid names."""
    for device in list_devices(space):
        if device.name == name:
            return device
    names = ", ".join(d.name for d in list_devices(space))
    raise UnknownNameError(f"unknown {space} device '{name}'; valid: {names}")
