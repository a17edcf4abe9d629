"""The search-space registry."""
from __future__ import annotations

from functools import lru_cache
from typing import List

from ..data_directory import DataDirectory
from ..registry import Registry

SPACES: Registry = Registry("search space")
register_space = SPACES.register


def list_spaces() -> List[str]:
    """Names of the registered search spaces."""
    return SPACES.names()


def space_class(name: str) -> type:
    """The registered class of space ``name``: its class attributes (devices, tasks, trainer
    defaults...) need no data directory. An unknown name lists the valid ones."""
    return SPACES.get(name)


def unregister_space(name: str) -> type:
    """Remove space ``name`` from the registry (for tests that register a space for a while);
    returns its class."""
    return SPACES.unregister(name)


def get_space(name: str, data_dir: DataDirectory):
    """The search space ``name`` reading from ``data_dir`` (one shared instance per folder)."""
    return _space_instance(SPACES.get(name), data_dir.root)


@lru_cache(maxsize=None)
def _space_instance(cls, root):
    return cls(DataDirectory(root))
