"""The FBNet devices: HELP's 27 (GPUs at batch sizes 1, 32 and 64)."""
from __future__ import annotations

from functools import lru_cache
from typing import Tuple

from ..base import Device
from ..help_devices import help_devices

HELP_FOLDER = "HELP/data/fbnet/latency"
HELP_GPU_BATCHES = (1, 32, 64)


@lru_cache(maxsize=None)
def fbnet_devices() -> Tuple[Device, ...]:
    """Every FBNet device (HELP's)."""
    return tuple(help_devices("fbnet", HELP_FOLDER, HELP_GPU_BATCHES))
