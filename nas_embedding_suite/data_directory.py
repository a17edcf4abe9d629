"""Locating the data directory, checking its files, and keying caches by their content.

The data directory is chosen, in order, by an explicit path (the ``--data_dir`` flag), the
environment variable ``NASFLAT_DATA_DIR``, ``<repository>/data`` (where ``env_setup.py download``
puts it) and ``<repository>/../shared/data``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from .data_origins import describe_origin
from .errors import DataError

ENV_VAR = "NASFLAT_DATA_DIR"
CACHE_ENV_VAR = "NASFLAT_CACHE_DIR"
REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKSUM_FILE = "SHA256SUMS"


def default_cache_dir() -> Path:
    """Folder for derived caches: ``NASFLAT_CACHE_DIR`` or ``<repository>/.cache``."""
    return Path(os.environ.get(CACHE_ENV_VAR) or REPO_ROOT / ".cache")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checksum_file(path: Path) -> Dict[str, str]:
    """Entries of a ``sha256sum`` listing as {relative path: hex digest}."""
    entries: Dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{path}: line {number} is not '<sha256>  <path>'")
        entries[os.path.normpath(parts[1].lstrip("*"))] = parts[0].lower()
    return entries


class DataDirectory:
    """The folder holding the published measurements (see the data README for its layout)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def resolve(cls, explicit: Optional[str] = None) -> "DataDirectory":
        """Pick the data directory from the flag, the environment or the default places."""
        if explicit:
            candidates = [("--data_dir", Path(explicit))]
        elif os.environ.get(ENV_VAR):
            candidates = [(ENV_VAR, Path(os.environ[ENV_VAR]))]
        else:
            candidates = [("default", REPO_ROOT / "data"), ("default", REPO_ROOT.parent / "shared" / "data")]
        for source, path in candidates:
            if path.is_dir():
                return cls(path.resolve())
        if candidates[0][0] != "default":
            source, path = candidates[0]
            raise DataError(
                f"data directory {path} (from {source}) does not exist; "
                "fetch the data with `python env_setup.py download --dest DIR` and point "
                f"--data_dir or {ENV_VAR} at DIR"
            )
        raise DataError(
            f"no data directory found: pass --data_dir or set {ENV_VAR}, or fetch the data with "
            "`python env_setup.py download` (writes ./data)"
        )

    def file(self, relative: str) -> Path:
        """Absolute path of a data file, failing with where to obtain it when it is missing."""
        path = self.root / relative
        if not path.is_file():
            raise DataError(
                f"missing data file {relative} in {self.root}; obtain it with "
                f"`python env_setup.py download` (origin: {describe_origin(relative)})"
            )
        return path

    def listed_checksums(self) -> Dict[str, str]:
        """The ``SHA256SUMS`` entries as {relative path: hex digest}."""
        return read_checksum_file(self.file(CHECKSUM_FILE))

    def verify(self, files: Optional[Iterable[str]] = None) -> List[Tuple[str, str]]:
        """Check files against ``SHA256SUMS``; returns (path, 'ok' | 'missing' | 'mismatch') rows."""
        listed = self.listed_checksums()
        wanted = files if files is not None else sorted(listed)
        rows = []
        for relative in wanted:
            path = self.root / relative
            if relative not in listed:
                rows.append((relative, "unlisted"))
            elif not path.is_file():
                rows.append((relative, "missing"))
            else:
                rows.append((relative, "ok" if sha256_of(path) == listed[relative] else "mismatch"))
        return rows

    def verify_or_raise(self, files: Iterable[str]) -> None:
        """Raise a :class:`DataError` naming the first file that is missing or fails its checksum."""
        for relative, status in self.verify(files):
            if status == "missing":
                self.file(relative)
            if status == "mismatch":
                raise DataError(
                    f"checksum mismatch for {self.root / relative}: the file is damaged or not the "
                    "published version; fetch it again with `python env_setup.py download`"
                )

    def content_key(self, files: Iterable[str]) -> str:
        """A short hash of the given files' contents, used to key caches derived from them."""
        digest = hashlib.sha256()
        for relative in sorted(files):
            digest.update(relative.encode())
            digest.update(sha256_of(self.file(relative)).encode())
        return digest.hexdigest()[:16]
