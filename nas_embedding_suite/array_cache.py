"""A small on-disk cache of numpy arrays, keyed by the checksums of the files they derive from."""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np

from .data_directory import default_cache_dir


def cached_arrays(
    name: str,
    key: str,
    build: Callable[[], Dict[str, np.ndarray]],
    cache_dir: Optional[Path] = None,
) -> Dict[str, np.ndarray]:
    """Load ``<cache_dir>/<name>-<key>.npz``, or build the arrays, save them atomically and return them.

    A damaged cache file is rebuilt rather than trusted; ``allow_pickle`` is never enabled.
    """
    path = cache_path(name, key, cache_dir)
    stored = read_arrays(path) if path.is_file() else None
    if stored is not None:
        return stored  # a damaged or truncated file reads as None and is rebuilt below
    arrays = build()
    try:
        write_arrays(path, arrays)
    except OSError:
        pass  # a read-only cache folder only costs speed
    return arrays


def cache_path(name: str, key: str, cache_dir: Optional[Path] = None) -> Path:
    """Where :func:`cached_arrays` keeps ``name`` built for ``key``."""
    return Path(cache_dir or default_cache_dir()) / f"{name}-{key}.npz"


def write_arrays(path: Path, arrays: Dict[str, np.ndarray]) -> None:
    """Save ``arrays`` to the ``.npz`` file ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_arrays(path: Path) -> Optional[Dict[str, np.ndarray]]:
    """The arrays of an ``.npz`` file, or None when it is missing or damaged (never unpickles)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {k: stored[k] for k in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None
