"""Loading pickled data without running arbitrary code.

HELP's ``.pt`` files load with ``torch.load(..., weights_only=True)``. LatBench's pickles hold
``{tuple of 6 ints: float}`` where some floats are numpy float64 scalars; they load through
:class:`RestrictedUnpickler`, which admits only the globals needed to rebuild such scalars, and the
result is checked for exactly that shape.
"""
from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np

from .errors import DataError, one_line

# Globals a LatBench pickle may name: numpy's scalar constructor (old and new module path) and dtype.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "dtype"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global except numpy's scalar constructor and dtype."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if name == "dtype":
            return np.dtype
        return _float64_scalar


def _float64_scalar(dtype: Any, data: bytes = b"") -> np.float64:
    """Rebuild a numpy scalar, accepting float64 only."""
    if not isinstance(dtype, np.dtype) or dtype != np.dtype("float64") or not isinstance(data, bytes):
        raise pickle.UnpicklingError(f"refusing numpy scalar of dtype {dtype!r}")
    if len(data) != 8:
        raise pickle.UnpicklingError("malformed float64 scalar")
    return np.frombuffer(data, dtype="<f8")[0]


def load_torch_file(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``; any failure becomes a :class:`DataError` naming the file."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"missing file {path}") from None
    except pickle.UnpicklingError as exc:  # foreign globals: torch's text goes on to suggest unsafe loading
        found = re.search(r"(?:Unsupported global: GLOBAL|global) ([\w.]+)", str(exc))
        what = f"it names the Python object {found.group(1)}" if found else "it holds objects other than tensors"
        raise DataError(f"cannot load {path}: refused, {what} and unpickling it could run code; "
                        "only plain tensor files are loaded") from None
    except Exception as exc:  # truncated zip, garbage bytes...
        raise DataError(f"cannot load {path}: {one_line(exc)[:200]}") from None


def load_restricted_pickle(path: Path, what: str = "pickle") -> Any:
    """Unpickle ``path`` through :class:`RestrictedUnpickler`: plain Python data (dicts, lists,
    tuples, strings, numbers) and numpy float64 scalars only. A pickle naming any other global (a
    class, a function: what would run code) is a :class:`DataError` that names the global, as is a
    missing, truncated or malformed file; ``what`` names the file's kind in the message."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"missing file {path}") from None
    except OSError as exc:
        raise DataError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return RestrictedUnpickler(io.BytesIO(raw)).load()
    except Exception as exc:
        raise DataError(f"cannot load {what} {path}: {one_line(exc)[:200]}") from None


def load_latbench_pickle(path: Path) -> Dict[Tuple[int, ...], float]:
    """Load one LatBench file: ``{arch vector (6 ints in 0..4): latency in seconds}``."""
    table = load_restricted_pickle(path, "LatBench pickle")
    if not isinstance(table, dict) or not table:
        raise DataError(f"LatBench pickle {path} does not hold a non-empty dict")
    cleaned: Dict[Tuple[int, ...], float] = {}
    for key, value in table.items():
        if (
            not isinstance(key, tuple)
            or len(key) != 6
            or not all(type(op) is int and 0 <= op <= 4 for op in key)
        ):
            raise DataError(f"LatBench pickle {path} has a malformed key {key!r:.60}")
        if type(value) not in (float, np.float64) or not np.isfinite(value) or value <= 0:
            raise DataError(f"LatBench pickle {path} has a malformed latency {value!r:.60} for {key}")
        cleaned[key] = float(value)
    return cleaned
