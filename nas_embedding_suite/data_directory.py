"""Locating the data directory, checking its files, and keying caches by their content.

The data directory is chosen, in order, by an explicit path (the ``--data_dir`` flag), the
environment variable ``NASFLAT_DATA_DIR``, ``<repository>/data`` (where ``env_setup.py download``
puts it) and ``<repository>/../shared/data``.

Every data file listed in ``SHA256SUMS`` is checked against it the first time a process uses it.
The check is cheap: the digest of a file is kept in ``<cache>/data_hashes.json`` with its size,
modification time and inode, and recomputed only when one of those changed. A user who edits
their data on purpose passes ``--trust_modified_data``: a mismatch is then a warning instead of an
error. Setting ``NASFLAT_TRUST_MODIFIED_DATA=1`` trusts every data directory without the warnings
(for scripts and tests that damage files on purpose).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

from .data_origins import describe_origin
from .errors import DataError

ENV_VAR = "NASFLAT_DATA_DIR"
CACHE_ENV_VAR = "NASFLAT_CACHE_DIR"
REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKSUM_FILE = "SHA256SUMS"
TRUST_ENV_VAR = "NASFLAT_TRUST_MODIFIED_DATA"
HASH_CACHE_FILE = "data_hashes.json"


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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read checksum list {path}: {getattr(exc, 'strerror', None) or exc.__class__.__name__}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{path}: line {number} is not '<sha256>  <path>'")
        entries[os.path.normpath(parts[1].lstrip("*"))] = parts[0].lower()
    return entries


def _file_identity(path: Path) -> List[int]:
    """Size, modification time (ns) and inode: when all three are unchanged the bytes are taken as unchanged."""
    status = path.stat()
    return [status.st_size, status.st_mtime_ns, status.st_ino]


class FileHashes:
    """SHA-256 digests of files, kept on disk with the identity of the file they were computed for."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._entries: Optional[Dict[str, list]] = None

    def _load(self) -> Dict[str, list]:
        if self._entries is None:
            try:
                entries = json.loads(self.path.read_text(encoding="utf-8"))
                self._entries = entries if isinstance(entries, dict) else {}
            except (OSError, ValueError):
                self._entries = {}
        return self._entries

    def digest(self, path: Path) -> str:
        """The hex SHA-256 of ``path``, from the cache when the file is unchanged."""
        key = str(Path(path).absolute())
        identity = _file_identity(path)
        entry = self._load().get(key)
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == identity:
            return str(entry[1])
        digest = sha256_of(path)
        self._entries[key] = [identity, digest]
        self._save()
        return digest

    def _save(self) -> None:
        from .output_files import atomic_write_text

        try:
            atomic_write_text(self.path, json.dumps(self._entries, indent=0, sort_keys=True))
        except OSError:
            pass  # a read-only cache only costs rehashing next time


#: data roots whose modified files are used with a warning (``--trust_modified_data``)
_TRUSTED_ROOTS: Set[Path] = set()
#: (root, relative path) -> file identity that matched SHA256SUMS in this process
_VERIFIED: Dict[Tuple[Path, str], List[int]] = {}
_WARNED: Set[Tuple[Path, str]] = set()


def _trusted_by_environment() -> bool:
    return os.environ.get(TRUST_ENV_VAR, "") not in ("", "0")


def trust_modified_data(root: Path) -> None:
    """Use the files of data directory ``root`` even where they differ from ``SHA256SUMS``."""
    _TRUSTED_ROOTS.add(Path(root).resolve())


class DataDirectory:
    """The folder holding the published measurements (see the data README for its layout)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._listed: Optional[Dict[str, str]] = None
        self._hashes: Optional[FileHashes] = None

    @property
    def trusts_modified_data(self) -> bool:
        """True when modified files are used (flag or environment)."""
        return self.root.resolve() in _TRUSTED_ROOTS or _trusted_by_environment()

    @classmethod
    def resolve(cls, explicit: Optional[str] = None, trust_modified: bool = False) -> "DataDirectory":
        """Pick the data directory from the flag, the environment or the default places.

        With ``trust_modified`` its files are used even where they differ from ``SHA256SUMS``.
        """
        directory = cls._locate(explicit)
        if trust_modified:
            trust_modified_data(directory.root)
        return directory

    @classmethod
    def _locate(cls, explicit: Optional[str]) -> "DataDirectory":
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
        """Absolute path of a data file, failing with where to obtain it when it is missing, and
        with a one-line error when it differs from its ``SHA256SUMS`` entry (checked once per
        process and file; see the module docstring)."""
        path = self.root / relative
        if not path.is_file():
            raise DataError(
                f"missing data file {relative} in {self.root}; obtain it with "
                f"`python env_setup.py download` (origin: {describe_origin(relative)})"
            )
        if relative != CHECKSUM_FILE:
            self._check(relative, path)
        return path

    def _checksums(self) -> Dict[str, str]:
        """``SHA256SUMS`` as read once by this object ({} when the directory has none)."""
        if self._listed is None:
            listing = self.root / CHECKSUM_FILE
            self._listed = read_checksum_file(listing) if listing.is_file() else {}
        return self._listed

    def _digest(self, path: Path) -> str:
        if self._hashes is None:
            self._hashes = FileHashes(default_cache_dir() / HASH_CACHE_FILE)
        return self._hashes.digest(path)

    def _check(self, relative: str, path: Path) -> None:
        """Compare ``path`` with its ``SHA256SUMS`` entry unless this process already did."""
        expected = self._checksums().get(os.path.normpath(relative))
        if expected is None:
            return  # not a published file (nothing to compare with)
        key = (self.root, relative)
        identity = _file_identity(path)
        if _VERIFIED.get(key) == identity:
            return
        if self._digest(path) == expected:
            _VERIFIED[key] = identity
            return
        if not self.trusts_modified_data:
            raise DataError(
                f"checksum mismatch for {path}: the file differs from its SHA256SUMS entry (damaged, "
                "replaced or edited); fetch it again with `python env_setup.py download`, or pass "
                f"--trust_modified_data (or set {TRUST_ENV_VAR}=1) to use it as it is"
            )
        if key not in _WARNED and not _trusted_by_environment():
            _WARNED.add(key)
            print(f"warning: {path} differs from SHA256SUMS; used as it is (--trust_modified_data)",
                  file=sys.stderr)

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
            digest.update(self._digest(self.file(relative)).encode())
        return digest.hexdigest()[:16]
