"""Device files: latencies measured on a device of one's own, one architecture per row.

A device file is a CSV with ``#`` comment lines before the header::

    # nasflat measured latencies
    # space: nb201
    # device: my_laptop
    # protocol: {"batch_size": 1, "threads": 1, "warmup": 10, "repeats": 30, ...}
    # machine: Intel(R) Xeon(R) ... (2 logical CPUs), Linux-6.1-x86_64
    # torch: 2.13.0+cpu
    # created: 2026-11-28T17:05:00+00:00
    index,arch,latency_ms
    4096,|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|,5.4123

``index`` is the architecture's index in the space's official order, ``arch`` its string; a file
written by another tool may leave one of the two empty (but not both). ``latency_ms`` must be a
positive number. The comment lines are optional when the space is given by the caller; the device
name then defaults to the file name without extension.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from .errors import ArchitectureError, DataError, NasflatError

COLUMNS = ("index", "arch", "latency_ms")
TITLE = "nasflat measured latencies"


@dataclass
class MeasuredDevice:
    """Latencies (ms) of some architectures of ``space`` measured on device ``name``."""

    name: str
    space: str
    indices: np.ndarray  # int64 [n], architecture indices, file order
    latency_ms: np.ndarray  # float64 [n]
    metadata: Dict[str, str] = field(default_factory=dict)  # the comment header, key -> value
    path: Optional[Path] = None

    def row(self, num_archs: int) -> np.ndarray:
        """A latency-table row over the whole space: ms where measured, NaN elsewhere."""
        values = np.full(num_archs, np.nan)
        values[self.indices] = self.latency_ms
        return values

    @property
    def protocol(self) -> Dict[str, object]:
        """The measurement protocol recorded in the header ({} when there is none)."""
        text = self.metadata.get("protocol")
        if not text:
            return {}
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return {"description": text}


def header_lines(metadata: Dict[str, str]) -> List[str]:
    """The comment header of a device file, title first."""
    return [f"# {TITLE}"] + [f"# {key}: {value}" for key, value in metadata.items()]


def _split_header(path: Path, text: str) -> Tuple[Dict[str, str], List[Tuple[int, str]]]:
    """(metadata from the ``# key: value`` lines, [(line number, line)] of the CSV part)."""
    metadata: Dict[str, str] = {}
    body: List[Tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            key, sep, value = stripped.lstrip("#").strip().partition(":")
            if sep and not body:
                metadata[key.strip()] = value.strip()
            continue
        body.append((number, line))
    return metadata, body


def _parse_latency(path: Path, number: int, text: str) -> float:
    text = (text or "").strip()
    if not text:
        raise DataError(f"{path} line {number}: missing latency_ms")
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path} line {number}: latency_ms '{text[:40]}' is not a number") from None
    if not np.isfinite(value) or value <= 0:
        raise DataError(f"{path} line {number}: latency_ms {text[:40]} is not a positive finite number")
    return value


def _resolve_row(space, path: Path, number: int, index_text: str, arch_text: str) -> int:
    """The architecture index of one row, checking that index and arch agree when both are given."""
    index_text, arch_text = (index_text or "").strip(), (arch_text or "").strip()
    if not index_text and not arch_text:
        raise DataError(f"{path} line {number}: neither index nor arch is given")
    try:
        from_arch = space.parse(arch_text) if arch_text else None
        if index_text:
            if not index_text.isdigit():
                raise ArchitectureError(f"index '{index_text[:40]}' is not a non-negative integer")
            index = space.check_index(int(index_text))
            if from_arch is not None and from_arch != index:
                raise ArchitectureError(
                    f"index {index} is {space.arch_str(index)}, not {arch_text[:80]}"
                )
            return index
        return from_arch
    except ArchitectureError as exc:
        raise DataError(f"{path} line {number}: {exc}") from None


def read_device_file(path: Path, space, name: Optional[str] = None, allow_empty: bool = False) -> MeasuredDevice:
    """Read and check a device file of ``space`` (a :class:`SearchSpace`).

    Errors (one line each, naming file and line): a missing file, a header without the columns
    index, arch, latency_ms, a file of another space, an arch string not in the space, an index
    out of range or disagreeing with its arch, a missing or non-numeric latency, an architecture
    listed twice, a file without rows (unless ``allow_empty``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"missing device file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read device file {path}: {exc}") from None
    metadata, body = _split_header(path, text)
    declared = metadata.get("space")
    if declared is not None and declared != space.name:
        raise DataError(f"{path} holds {declared} latencies, not {space.name}")
    if not body:
        raise DataError(f"{path} has no header line {','.join(COLUMNS)}")
    header_number, header = body[0]
    columns = [c.strip() for c in next(csv.reader([header]))]
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise DataError(
            f"{path} line {header_number}: header must name the columns {', '.join(COLUMNS)} "
            f"(missing {', '.join(missing)})"
        )
    position = {c: columns.index(c) for c in COLUMNS}
    seen: Dict[int, int] = {}
    indices, latencies = [], []
    for number, line in body[1:]:
        cells = next(csv.reader([line]))
        cells += [""] * (len(columns) - len(cells))
        index = _resolve_row(space, path, number, cells[position["index"]], cells[position["arch"]])
        latency = _parse_latency(path, number, cells[position["latency_ms"]])
        if index in seen:
            raise DataError(
                f"{path} line {number}: architecture {index} is listed twice (lines {seen[index]} "
                f"and {number})"
            )
        seen[index] = number
        indices.append(index)
        latencies.append(latency)
    if not indices and not allow_empty:
        raise DataError(f"{path} has no measurements")
    device_name = name or metadata.get("device") or path.stem
    return MeasuredDevice(device_name, space.name, np.asarray(indices, dtype=np.int64),
                          np.asarray(latencies, dtype=np.float64), metadata, path)


def _difference(old: Optional[str], new: str) -> str:
    """``old``, not ``new``; for JSON objects only the entries that differ."""
    try:
        before, after = json.loads(old or "{}"), json.loads(new)
    except json.JSONDecodeError:
        before = after = None
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        return (", ".join(f"{k}={before.get(k)}" for k in keys) + ", not "
                + ", ".join(f"{k}={after.get(k)}" for k in keys))
    return f"{old!r:.120}, not {new!r:.120}"


class DeviceFileWriter:
    """Appends measurements to a device file one row at a time (flushed), so that a run that is
    interrupted keeps every finished row and a rerun resumes after them.

    Opening an existing file checks that it belongs to the same space and device and was measured
    with the same protocol; a partial last line (a run killed while writing) is dropped.
    """

    def __init__(self, path: Path, space, metadata: Dict[str, str], compare: Tuple[str, ...] = ()):
        self.path = Path(path)
        self.space = space
        self.done: Dict[int, float] = {}
        if self.path.is_file() and self.path.stat().st_size > 0:
            existing = read_device_file(self._without_partial_line(), space, allow_empty=True)
            for key in ("device",) + compare:
                if key in metadata and existing.metadata.get(key) != metadata[key]:
                    raise NasflatError(
                        f"{self.path} was measured with {key} "
                        f"{_difference(existing.metadata.get(key), metadata[key])}; "
                        "use another file or the same settings"
                    )
            self.done = dict(zip(existing.indices.tolist(), existing.latency_ms.tolist()))
            self._stream = self.path.open("a", encoding="utf-8", newline="")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("w", encoding="utf-8", newline="")
            self._stream.write("\n".join(header_lines(metadata)) + "\n" + ",".join(COLUMNS) + "\n")
            self._stream.flush()

    def _without_partial_line(self) -> Path:
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            self.path.write_bytes(raw[: raw.rfind(b"\n") + 1])
        return self.path

    def append(self, index: int, latency_ms: float) -> None:
        """Write one row and flush it to disk."""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(
            [index, self.space.arch_str(index), f"{latency_ms:.6f}"]
        )
        self._stream.write(buffer.getvalue())
        self._stream.flush()
        self.done[int(index)] = float(latency_ms)

    def close(self) -> None:
        """Close the file."""
        self._stream.close()

    def __enter__(self) -> "DeviceFileWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
