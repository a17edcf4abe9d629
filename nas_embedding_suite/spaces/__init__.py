"""Search spaces: the base class, the registry, and one folder per space (NB201, FBNet)."""
from .base import Device, GraphBatch, SearchSpace
from .registry import SPACES, get_space, list_spaces, register_space, space_class, unregister_space
from . import nb201  # noqa: F401  (registers "nb201"; first, so its tasks come first in the suite)
from . import fbnet  # noqa: F401  (registers "fbnet")

__all__ = [
    "Device", "GraphBatch", "SearchSpace", "SPACES", "get_space", "list_spaces", "register_space",
    "space_class", "unregister_space",
]
