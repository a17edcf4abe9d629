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
    folder = Path(cache_dir or default_cache_dir())
    path = folder / f"{name}-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {k: stored[k] for k in stored.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            pass  # damaged or truncated: rebuild below
    arrays = build()
    temporary = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=path.name, suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(temporary, path)
    except OSError:
        if temporary and os.path.exists(temporary):
            os.remove(temporary)  # a read-only cache folder only costs speed
    return arrays
