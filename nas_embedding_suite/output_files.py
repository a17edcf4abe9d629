"""Writing output files safely: checked paths, atomic replacement, permissions from the umask.

Every file the toolkit writes (result CSVs, device files, checkpoints, chosen-sample lists) goes
through these helpers, so that a bad output path is one clear error before any work is done, an
interrupted write never leaves a half-written file, and files are as readable as the user's umask
allows (0644 under the usual 022), not the 0600 of a temporary file.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, IO

from .errors import NasflatError


def umask_file_mode() -> int:
    """The mode a newly created regular file gets under the current umask (0o666 & ~umask)."""
    current = os.umask(0)
    os.umask(current)
    return 0o666 & ~current


def check_output_file(path, flag: str) -> Path:
    """Check that ``path`` can be written as a file (creating missing parent folders).

    Raises a :class:`NasflatError` naming ``flag`` when the path is a folder, lies under a file, or
    its folder cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise NasflatError(f"{flag} {path} is a folder; give a file name")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise NasflatError(f"{flag} {path}: {ancestor} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NasflatError(f"{flag} {path}: cannot create folder {path.parent} ({exc.strerror or exc})") from None
    if not os.access(path.parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise NasflatError(f"{flag} {path}: permission denied")
    return path


def check_output_folder(path, flag: str) -> Path:
    """Create folder ``path`` if needed and check that files can be written in it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test"):
            pass
    except OSError as exc:
        raise NasflatError(f"{flag} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def atomic_write_bytes(path: Path, writer: Callable[[IO[bytes]], object]) -> None:
    """Call ``writer(stream)`` on a temporary file beside ``path``, then rename it to ``path``.

    The file gets the umask's permissions (the temporary file's 0600 would hide results from the
    rest of a cluster group).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            writer(stream)
        os.chmod(temporary, umask_file_mode())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, lambda stream: stream.write(text.encode("utf-8")))
