"""A tiny name -> object registry used for the pluggable parts (spaces, samplers, predictors...)."""
from __future__ import annotations

from typing import Callable, Dict, Generic, List, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; ``register`` is a decorator, ``get`` fails with the valid names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers the decorated object under ``name``."""

        def decorate(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = obj
            return obj

        return decorate

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return what it named (for tests that register a part for a while)."""
        return self._items.pop(name)

    def get(self, name: str) -> T:
        """The object registered as ``name``; an :class:`UnknownNameError` lists the valid names."""
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'; valid: {', '.join(self.names())}"
            ) from None

    def names(self) -> List[str]:
        """Registered names in registration order."""
        return list(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items
