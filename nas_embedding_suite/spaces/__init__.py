"""Search spaces: registry, NAS-Bench-201 and FBNet."""
from .base import GraphBatch, SearchSpace
from .registry import SPACES, get_space, list_spaces, register_space
from . import fbnet, nb201  # noqa: F401  (registers the spaces)

__all__ = ["GraphBatch", "SearchSpace", "SPACES", "get_space", "list_spaces", "register_space"]
