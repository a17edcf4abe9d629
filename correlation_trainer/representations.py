"""``--representation``: the graph alone (``adj_gin``) or the graph plus a supplementary encoding."""
from __future__ import annotations

from typing import List, Optional

from nas_embedding_suite.encodings import list_encodings
from nas_embedding_suite.errors import UnknownNameError

PREFIX = "adj_gin"


def list_representations() -> List[str]:
    """Every valid ``--representation``: ``adj_gin`` and ``adj_gin_<encoding>``."""
    return [PREFIX] + [f"{PREFIX}_{name}" for name in list_encodings()]


def encoding_of(representation: str) -> Optional[str]:
    """The encoding a representation adds to the graph (None for the graph alone)."""
    if representation not in list_representations():
        raise UnknownNameError(
            f"unknown representation '{representation}'; valid: {', '.join(list_representations())}"
        )
    return None if representation == PREFIX else representation[len(PREFIX) + 1:]
