"""HELP's devices (Lee et al. 2021): the same 27 devices measured on every HELP search space.

HELP devices are named by file stem (``titan_rtx_256``): the five GPUs at three batch sizes each
(which batch sizes depends on the space), and twelve other devices. Each space that reads HELP's
tables lists them with :func:`help_devices`, giving its folder and GPU batch sizes.
"""
from __future__ import annotations

from typing import List, Sequence

from .base import Device

GPU_MODELS = {
    "1080ti": "NVIDIA GTX 1080 Ti",
    "2080ti": "NVIDIA RTX 2080 Ti",
    "titan_rtx": "NVIDIA Titan RTX",
    "titanx": "NVIDIA Titan X",
    "titanxp": "NVIDIA Titan Xp",
}
OTHER_DEVICES = {
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


def help_devices(space: str, folder: str, gpu_batches: Sequence[int]) -> List[Device]:
    """HELP's 27 devices of ``space``: every GPU at each of ``gpu_batches``, then the others; their
    files are ``<folder>/<name>.pt`` (one latency in ms per architecture, in index order)."""
    devices = []
    for model, description in GPU_MODELS.items():
        for batch in gpu_batches:
            name = f"{model}_{batch}"
            devices.append(Device(name, space, "GPU", batch, "HELP", "ms", f"{folder}/{name}.pt", description))
    for name, (kind, batch, description) in OTHER_DEVICES.items():
        devices.append(Device(name, space, kind, batch, "HELP", "ms", f"{folder}/{name}.pt", description))
    return devices
