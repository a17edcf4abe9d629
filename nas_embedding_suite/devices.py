"""The devices with latency tables, by search space: each space lists its own
(:meth:`~nas_embedding_suite.spaces.base.SearchSpace.devices`, in its folder)."""
from __future__ import annotations

from typing import List

from .errors import UnknownNameError
from .spaces import SPACES, Device

__all__ = ["Device", "get_device", "list_devices"]


def list_devices(space: str) -> List[Device]:
    """All devices with a latency table in ``space`` (NB201: 27 HELP + 13 LatBench; FBNet: 27)."""
    if space not in SPACES:
        raise UnknownNameError(f"no devices for space '{space}'; valid: {', '.join(SPACES.names())}")
    return list(SPACES.get(space).devices())


def get_device(space: str, name: str) -> Device:
    """The device ``name`` of ``space``; an :class:`UnknownNameError` lists the valid names."""
    for device in list_devices(space):
        if device.name == name:
            return device
    names = ", ".join(d.name for d in list_devices(space))
    raise UnknownNameError(f"unknown {space} device '{name}'; valid: {names}")
