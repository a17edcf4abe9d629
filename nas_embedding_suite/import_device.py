"""Published latency tables as device files: ``python -m nas_embedding_suite import-device``.

A table is read from CSV, TSV, JSON, parquet, a pickle (through the restricted unpickler: plain
data and numpy float64 scalars only) or a torch file (``weights_only``; HELP's ``.pt`` lists, one
latency per index) into rows with an architecture column and a latency column;
``--filter COL=VALUE`` keeps some rows and ``--split-by COL`` makes one device per distinct value.
JSON and pickles may hold a mapping ``{architecture: latency}`` (LatBench's pickles), a dict of
equal-length columns or a list of records; a pickle in HW-NAS-Bench's layout is read by
:func:`hw_nas_bench_frame`.

Architectures may be given as (``--arch-format``, detected when not given):

- ``index``: the index in the space's official order (NB201 unless ``--space fbnet``);
- ``arch-string``: an NB201 arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``;
- ``latbench``: LatBench's 6-op tuple (arch-string edge order; none=0, skip_connect=1,
  nor_conv_1x1=2, nor_conv_3x3=3, avg_pool_3x3=4);
- ``naslib``: NASLib's 6-op tuple (edges 0-1, 0-2, 0-3, 1-2, 1-3, 2-3; skip=0, none=1, conv3x3=2,
  conv1x1=3, avgpool=4);
- ``fbnet``: FBNet's 22 layer choices (block names such as ``k3_e1``, or ids 0..8, as a list or a
  string joined by ``-``, ``_``, ``,`` or spaces).

6-op tuples are always ambiguous (LatBench's and NASLib's encodings are both bijections of the same
tuples), so they need ``--arch-format``. The unit (``--unit s|ms|us``) is inferred only from the
latency column's name (``latency_ms``, ``time_s``, ``lat (us)``...) or from a format that documents
it (HW-NAS-Bench: ms); otherwise it must be given. Every device is written in the project's
device-file format (:mod:`.device_file`) with a ``#`` header naming the source file, its
sha256, the filter, the split value, the columns, the architecture format and the unit, and no
timestamp: importing the same table twice gives the same bytes.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .data_directory import sha256_of
from .device_file import COLUMNS, header_lines
from .duplicates import copy_report
from .errors import ArchitectureError, DataError, NasflatError
from .output_files import atomic_write_text, check_output_file
from .safe_loading import load_restricted_pickle, load_torch_file

FORMAT_OF_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".parquet": "parquet",
                    ".pq": "parquet", ".pickle": "pickle", ".pkl": "pickle", ".pt": "torch", ".pth": "torch"}
TABLE_FORMATS = ("csv", "tsv", "json", "parquet", "pickle", "torch")
ARCH_FORMATS = ("index", "arch-string", "latbench", "naslib", "fbnet")
#: milliseconds per unit
UNITS = {"s": 1000.0, "ms": 1.0, "us": 1e-3}
_UNIT_WORDS = {
    "s": ("s", "sec", "secs", "second", "seconds"),
    "ms": ("ms", "msec", "msecs", "millisecond", "milliseconds"),
    "us": ("us", "µs", "usec", "usecs", "microsecond", "microseconds"),
}
#: architecture columns looked for, in this order, when --arch-column is not given
ARCH_COLUMN_NAMES = ("arch", "arch_str", "arch_string", "architecture", "arch_vector", "index", "arch_index",
                     "idx", "key")
#: HW-NAS-Bench's NB201 datasets and latency metrics (``<device>_latency``, milliseconds)
HW_NAS_BENCH_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
HW_NAS_BENCH_LATENCY = "_latency"
#: the file a header records to tell an imported device file from a measured one
SOURCE_KEY = "source_sha256"


@dataclass
class SourceTable:
    """A table read from a file: rows as a DataFrame, and what the format says about them."""

    frame: pd.DataFrame
    format: str
    unit_hint: Optional[Tuple[str, str]] = None  # (unit, why) when the format documents its unit
    line_offset: Optional[int] = None  # file line of row 0, for CSV/TSV (else rows are numbered)

    def where(self, row: int) -> str:
        """How messages name table row ``row`` (0-based)."""
        return f"line {row + self.line_offset}" if self.line_offset is not None else f"row {row + 1}"


@dataclass
class ImportedDevice:
    """One device of an imported table, ready to be written."""

    name: str
    space: object
    indices: np.ndarray  # sorted architecture indices
    latency_ms: np.ndarray
    metadata: Dict[str, str] = field(default_factory=dict)
    repeats_dropped: int = 0

    def text(self) -> str:
        """The device file: the ``#`` header, then ``index,arch,latency_ms`` rows."""
        strings = arch_strings(self.space)[self.indices]
        values = np.char.mod("%.12g", self.latency_ms)
        rows = [f"{i},{a},{v}" for i, a, v in zip(self.indices.tolist(), strings.tolist(), values.tolist())]
        return "\n".join(header_lines(self.metadata) + [",".join(COLUMNS)] + rows) + "\n"


@lru_cache(maxsize=None)
def arch_strings(space) -> np.ndarray:
    """The arch string of every architecture of ``space`` (an object array, computed once)."""
    return np.array([space.arch_str(i) for i in range(space.num_archs)], dtype=object)


# ------------------------------------------------------------------ reading tables


def table_format(path: Path, given: Optional[str]) -> str:
    """The format of ``path``: ``given``, else from its suffix."""
    if given:
        return given
    found = FORMAT_OF_SUFFIX.get(path.suffix.lower())
    if found is None:
        raise NasflatError(f"cannot tell the format of {path} from its suffix '{path.suffix}'; "
                           f"give --format ({', '.join(TABLE_FORMATS)})")
    return found


def _leading_comment_lines(path: Path) -> int:
    count = 0
    with open(path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            if not line.startswith("#"):
                break
            count += 1
    return count


def _read_delimited(path: Path, separator: str, fmt: str) -> SourceTable:
    skipped = _leading_comment_lines(path)
    try:
        frame = pd.read_csv(path, sep=separator, skiprows=skipped, keep_default_na=False, na_values=[""],
                            skipinitialspace=True)
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a UTF-8 text file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataError(f"cannot read {fmt.upper()} {path}: {' '.join(str(exc).split())[:200]}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return SourceTable(frame, fmt, line_offset=skipped + 2)


def _column_of(values: Sequence) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    column[:] = list(values)
    return column


def frame_from_object(obj, path: Path, fmt: str) -> pd.DataFrame:
    """Rows of a JSON or pickled object: a mapping ``{architecture: latency}`` (columns ``arch``
    and ``latency``), a dict of equal-length columns, or a list of records."""
    if isinstance(obj, dict) and obj:
        values = list(obj.values())
        if all(isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) or v is None for v in values):
            return pd.DataFrame({"arch": _column_of(list(obj.keys())),
                                 "latency": np.array([np.nan if v is None else float(v) for v in values])})
        if all(isinstance(v, (list, tuple)) for v in values) and len({len(v) for v in values}) == 1:
            return pd.DataFrame({str(k): _column_of(v) for k, v in obj.items()})
    if isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
        columns = list(dict.fromkeys(str(k) for record in obj for k in record))
        return pd.DataFrame({c: _column_of([record.get(c) for record in obj]) for c in columns})
    kind = type(obj).__name__
    raise DataError(f"{path}: a {fmt} table must be a mapping {{architecture: latency}}, a dict of "
                    f"equal-length columns or a list of records, not this {kind}")


def read_table(path: Path, fmt: Optional[str] = None, space_of=None) -> SourceTable:
    """Read ``path`` (format ``fmt`` or from its suffix) into a :class:`SourceTable`.

    ``space_of(name)`` returns a search space; it is needed only for an HW-NAS-Bench pickle's FBNet
    lookup tables (summed over the space's architectures).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing table {path}")
    fmt = table_format(path, fmt)
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, "," if fmt == "csv" else "\t", fmt)
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise NasflatError(f"reading parquet needs pyarrow (pip install -r requirements.txt): {exc}") from None
        except Exception as exc:  # pyarrow's errors have no common base class
            raise DataError(f"cannot read parquet {path}: {' '.join(str(exc).split())[:200]}") from None
        frame.columns = [str(c) for c in frame.columns]
        return SourceTable(frame.reset_index(drop=True), fmt)
    if fmt == "json":
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise DataError(f"{path} is not a UTF-8 text file") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"cannot read JSON {path}: {exc}") from None
        return SourceTable(frame_from_object(obj, path, fmt), fmt)
    if fmt == "torch":
        obj = load_torch_file(path)
        obj = obj.tolist() if hasattr(obj, "tolist") else obj
        if isinstance(obj, (list, tuple)) and obj and all(isinstance(v, (int, float)) for v in obj):
            return SourceTable(pd.DataFrame({"index": np.arange(len(obj)), "latency": np.asarray(obj, dtype=float)}),
                               "torch (one latency per index)")
        return SourceTable(frame_from_object(obj, path, fmt), fmt)
    if fmt == "pickle":
        obj = load_restricted_pickle(path, "pickle")
        if is_hw_nas_bench(obj):
            return SourceTable(hw_nas_bench_frame(obj, path, space_of), "pickle (HW-NAS-Bench layout)",
                               unit_hint=("ms", "HW-NAS-Bench publishes milliseconds"))
        return SourceTable(frame_from_object(obj, path, fmt), fmt)
    raise NasflatError(f"unknown table format '{fmt}'; valid: {', '.join(TABLE_FORMATS)}")


# ------------------------------------------------------------------ HW-NAS-Bench


def is_hw_nas_bench(obj) -> bool:
    """Whether ``obj`` has HW-NAS-Bench's layout: ``{"nasbench201": {dataset: {metric: [...]}}, ...}``."""
    return isinstance(obj, dict) and bool(obj) and set(obj) <= {"nasbench201", "fbnet"} and \
        all(isinstance(v, dict) for v in obj.values())


def fbnet_lookup_keys(dataset: str = "cifar100") -> Tuple[List[str], List[List[str]]]:
    """HW-NAS-Bench's lookup-table keys of its FBNet network: the keys every architecture adds
    (stem, head, pooling, classifier) and, per searchable layer, the key of each of the 9 choices
    (``ConvBlock_H.._W.._Cin.._Cout.._exp.._kernel.._stride.._group..`` or ``Skip_...``)."""
    from .spaces.fbnet.network import FBNET_CHOICES, FBNET_STEM_CHANNELS, fbnet_layer_shapes, fbnet_setting, \
        parse_fbnet_choice

    imagenet = "imagenet" in dataset.lower()
    setting = fbnet_setting("imagenet" if imagenet else "cifar")
    size, classes = (224, 1000) if imagenet else (32, 100)
    fixed = [f"ConvNorm_H{size}_W{size}_Cin3_Cout{FBNET_STEM_CHANNELS}_kernel3_stride{setting.stem_stride}_group1"]
    size //= setting.stem_stride
    shapes = fbnet_layer_shapes("imagenet" if imagenet else "cifar100")
    layers = []
    for shape in shapes:
        keys = []
        for name in FBNET_CHOICES:
            spec = parse_fbnet_choice(name)
            if spec is None:
                keys.append(f"Skip_H{size}_W{size}_Cin{shape.c_in}_Cout{shape.c_out}_stride{shape.stride}")
            else:
                keys.append(f"ConvBlock_H{size}_W{size}_Cin{shape.c_in}_Cout{shape.c_out}_exp{spec.expansion}"
                            f"_kernel{spec.kernel}_stride{shape.stride}_group{spec.groups}")
        layers.append(keys)
        size //= shape.stride
    head = setting.head_channels
    fixed += [f"ConvNorm_H{size}_W{size}_Cin{shapes[-1].c_out}_Cout{head}_kernel1_stride1_group1",
              f"AvgP_H{size}_W{size}_Cin{head}_Cout{head}_kernel{size}_stride1",
              f"FC_Cin{head}_Cout{classes}"]
    return fixed, layers


def fbnet_lookup_latencies(choices: np.ndarray, table: Dict[str, float], dataset: str = "cifar100") -> np.ndarray:
    """Each architecture's sum of lookup-table entries along its layers (HW-NAS-Bench's FBNet cost)."""
    fixed, layers = fbnet_lookup_keys(dataset)
    missing = [key for key in fixed + [k for keys in layers for k in keys] if key not in table]
    if missing:
        raise DataError(f"the FBNet lookup table has no entry {missing[0]} ({len(missing)} missing)")
    per_layer = np.array([[float(table[key]) for key in keys] for keys in layers])  # [22, 9]
    choices = np.asarray(choices, dtype=np.int64)
    return sum(float(table[key]) for key in fixed) + per_layer[np.arange(choices.shape[1]), choices].sum(axis=1)


def hw_nas_bench_frame(obj: dict, path: Path, space_of=None) -> pd.DataFrame:
    """HW-NAS-Bench's pickle as rows ``space, dataset, device, metric, arch, latency`` (ms).

    NB201: every ``<device>_latency`` list of every dataset, one value per architecture index (the
    arch string of ``config[i]["arch_str"]`` when the dataset has configs). FBNet: every
    ``<device>_latency`` lookup table summed over the 5,000 architectures of the fbnet space
    (CIFAR-100 network, dataset ``cifar100``). Energy and other metrics are left out.
    """
    parts = []
    for dataset, metrics in (obj.get("nasbench201") or {}).items():
        if not isinstance(metrics, dict):
            raise DataError(f"{path}: nasbench201/{dataset} should be a dict of metric lists")
        archs = None
        configs = metrics.get("config")
        if isinstance(configs, list) and configs and all(isinstance(c, dict) and "arch_str" in c for c in configs):
            archs = _column_of([c["arch_str"] for c in configs])
        for metric, values in metrics.items():
            if not metric.endswith(HW_NAS_BENCH_LATENCY):
                continue
            if not isinstance(values, (list, tuple)) or not values:
                raise DataError(f"{path}: nasbench201/{dataset}/{metric} should be a list of values")
            column = archs if archs is not None and len(archs) == len(values) else np.arange(len(values))
            parts.append(pd.DataFrame({
                "space": "nb201", "dataset": str(dataset), "device": metric[: -len(HW_NAS_BENCH_LATENCY)],
                "metric": metric, "arch": _column_of(list(column)),
                "latency": pd.to_numeric(pd.Series(_column_of(list(values))), errors="coerce").to_numpy()}))
    fbnet_tables = {m: t for m, t in (obj.get("fbnet") or {}).items() if m.endswith(HW_NAS_BENCH_LATENCY)}
    if fbnet_tables:
        if space_of is None:
            raise NasflatError("summing HW-NAS-Bench's FBNet lookup tables needs the fbnet space's architectures")
        space = space_of("fbnet")
        names = arch_strings(space)
        for metric, table in fbnet_tables.items():
            if not isinstance(table, dict):
                raise DataError(f"{path}: fbnet/{metric} should be a lookup table (dict)")
            parts.append(pd.DataFrame({
                "space": "fbnet", "dataset": "cifar100", "device": metric[: -len(HW_NAS_BENCH_LATENCY)],
                "metric": metric, "arch": names, "latency": fbnet_lookup_latencies(space.choices, table)}))
    if not parts:
        raise DataError(f"{path} has HW-NAS-Bench's layout but no <device>_latency metric")
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------ columns, filters, units


def _missing_column(name: str, frame: pd.DataFrame, path: Path, flag: str) -> NasflatError:
    return NasflatError(f"{flag} {name}: {path} has no column '{name}' (columns: {', '.join(frame.columns)})")


def parse_filters(filters: Sequence[str]) -> List[Tuple[str, str]]:
    """``["device=pi5", ...]`` as [(column, value)]."""
    parsed = []
    for text in filters or ():
        column, sep, value = text.partition("=")
        if not sep or not column.strip():
            raise NasflatError(f"--filter {text}: write COLUMN=VALUE (e.g. --filter device=pi5 framework=onnx)")
        parsed.append((column.strip(), value.strip()))
    return parsed


def apply_filters(frame: pd.DataFrame, filters: List[Tuple[str, str]], path: Path) -> pd.DataFrame:
    """The rows whose columns equal every filter value (compared as text)."""
    keep = np.ones(len(frame), dtype=bool)
    for column, value in filters:
        if column not in frame.columns:
            raise _missing_column(column, frame, path, "--filter")
        text = frame[column].astype(str).str.strip()
        matches = (text == value).to_numpy()
        if not (keep & matches).any():
            seen = sorted(text[keep].unique().tolist())[:12]
            raise NasflatError(f"--filter {column}={value}: no row of {path} left (values of {column}: "
                               f"{', '.join(seen)})")
        keep &= matches
    return frame[keep]


def choose_arch_column(frame: pd.DataFrame, given: Optional[str], path: Path) -> Tuple[str, str]:
    """(column, how it was chosen)."""
    if given:
        if given not in frame.columns:
            raise _missing_column(given, frame, path, "--arch-column")
        return given, "given"
    lower = {c.lower(): c for c in frame.columns}
    for name in ARCH_COLUMN_NAMES:
        if name in lower:
            return lower[name], "detected"
    raise NasflatError(f"cannot tell which column of {path} names the architecture (columns: "
                       f"{', '.join(frame.columns)}); give --arch-column")


def unit_of_name(name: str) -> Optional[str]:
    """The unit a column name states (``latency_ms`` -> ms, ``time_s`` -> s), or None."""
    words = set(re.split(r"[^0-9a-zµ]+", name.lower()))
    found = [unit for unit, spellings in _UNIT_WORDS.items() if words & set(spellings)]
    return found[0] if len(found) == 1 else None


def choose_latency_column(frame: pd.DataFrame, given: Optional[str], taken: Sequence[str], path: Path) -> str:
    """The latency column: ``given``, else the one column whose name says latency (or a unit),
    else the one numeric column left."""
    if given:
        if given not in frame.columns:
            raise _missing_column(given, frame, path, "--latency-column")
        return given
    free = [c for c in frame.columns if c not in taken]
    named = [c for c in free if "latency" in c.lower() or unit_of_name(c)]
    if len(named) == 1:
        return named[0]
    numeric = [c for c in free if pd.api.types.is_numeric_dtype(frame[c])]
    candidates = named or numeric
    if len(candidates) == 1:
        return candidates[0]
    raise NasflatError(f"cannot tell which column of {path} holds the latency (candidates: "
                       f"{', '.join(candidates or free) or 'none'}); give --latency-column")


def resolve_unit(column: str, given: Optional[str], hint: Optional[Tuple[str, str]]) -> Tuple[str, str]:
    """(unit, why): from ``--unit``, the column name or the format; never guessed."""
    stated = unit_of_name(column)
    reason = f"from the column name {column}" if stated else None
    if stated is None and hint is not None:
        stated, reason = hint
    if given:
        if stated is not None and stated != given:
            raise NasflatError(f"--unit {given} contradicts the table: its latencies are in {stated} ({reason})")
        return given, "given by --unit"
    if stated is None:
        raise NasflatError(f"the unit of column '{column}' cannot be told from its name; give --unit s, ms or us "
                           "(LatBench publishes seconds, HELP and HW-NAS-Bench milliseconds)")
    return stated, reason


def read_latencies(table: SourceTable, frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """The latency column as floats, NaN where the cell is empty; a non-numeric, infinite, zero
    or negative reading is an error naming its row."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    empty = raw.isna().to_numpy()
    bad = np.flatnonzero((np.isnan(values) & ~empty) | np.isinf(values) | (values <= 0))
    if len(bad):
        row = int(frame.index[bad[0]])
        raise DataError(f"{path} {table.where(row)}: latency {str(raw.iloc[bad[0]])[:40]!r} is not a positive "
                        f"finite number ({len(bad)} such rows)")
    return values


# ------------------------------------------------------------------ architectures


_TUPLE_RE = re.compile(r"^[\(\[]\s*-?\d+(\s*,\s*-?\d+)*\s*,?\s*[\)\]]$")


def classify_arch(value) -> Tuple[str, object]:
    """(kind, parsed) of one architecture value: ("index", int), ("arch-string", str), ("tuple",
    tuple of ints), ("fbnet", 22 choice ids) or ("unknown", reason)."""
    from .spaces.fbnet.space import parse_choices

    if isinstance(value, (bool, np.bool_)):
        return "unknown", "a boolean"
    if isinstance(value, (int, np.integer)):
        return "index", int(value)
    if isinstance(value, (float, np.floating)):
        if np.isfinite(value) and float(value).is_integer():
            return "index", int(value)
        return "unknown", "not an integer index"
    if isinstance(value, (tuple, list, np.ndarray)):
        items = list(value)
        if items and all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in items):
            return ("fbnet", tuple(int(v) for v in items)) if len(items) == 22 else ("tuple", tuple(int(v) for v in items))
        if len(items) == 22 and all(isinstance(v, str) for v in items):
            try:
                return "fbnet", parse_choices("-".join(items))
            except ArchitectureError as exc:
                return "unknown", str(exc)
        return "unknown", f"a sequence of {len(items)} items that are not all integers"
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return "index", int(text)
        if text.startswith("|"):
            return "arch-string", text
        if _TUPLE_RE.match(text):
            numbers = tuple(int(t) for t in re.findall(r"-?\d+", text))
            return ("fbnet", numbers) if len(numbers) == 22 else ("tuple", numbers)
        try:
            return "fbnet", parse_choices(text)
        except ArchitectureError:
            return "unknown", "not an index, an NB201 arch string, an op tuple or an FBNet layer list"
    return "unknown", f"a {type(value).__name__}"


_KIND_OF_FORMAT = {"index": "index", "arch-string": "arch-string", "latbench": "tuple", "naslib": "tuple",
                   "fbnet": "fbnet"}
_SPACE_OF_KIND = {"arch-string": "nb201", "tuple": "nb201", "fbnet": "fbnet"}


def _hashable(values: np.ndarray) -> np.ndarray:
    """``values`` with lists and arrays (parquet and JSON list cells) turned into tuples."""
    if values.dtype != object or not any(isinstance(v, (list, np.ndarray)) for v in values):
        return values
    return _column_of([tuple(v.tolist()) if isinstance(v, np.ndarray) else tuple(v) if isinstance(v, list) else v
                       for v in values])


def parse_archs(table: SourceTable, frame: pd.DataFrame, column: str, arch_format: Optional[str],
                space_name: Optional[str], space_of, path: Path) -> Tuple[object, np.ndarray, str]:
    """(space, architecture index of every row, the format) of column ``column``.

    Each distinct value is parsed once. Errors (one line): a value of no format, values of two
    search spaces, values of two formats, 6-op tuples without ``--arch-format`` (LatBench's and
    NASLib's encodings cannot be told apart), an architecture not in the space.
    """
    values = _hashable(frame[column].to_numpy())
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    if (codes < 0).any():
        row = int(frame.index[np.flatnonzero(codes < 0)[0]])
        raise DataError(f"{path} {table.where(row)}: no architecture in column {column}")
    uniques = list(uniques)
    parsed = [classify_arch(u) for u in uniques]
    first_row = np.full(len(uniques), -1, dtype=np.int64)
    first_row[codes[::-1]] = np.arange(len(codes))[::-1]

    def where(u: int) -> str:
        return table.where(int(frame.index[first_row[u]]))

    unknown = [u for u, (kind, _) in enumerate(parsed) if kind == "unknown"]
    if unknown:
        u = unknown[0]
        raise DataError(f"{path} {where(u)}: cannot read architecture {str(uniques[u])[:80]!r} ({parsed[u][1]})")
    if arch_format is not None:
        wanted = _KIND_OF_FORMAT[arch_format]
        wrong = [u for u, (kind, _) in enumerate(parsed) if kind != wanted]
        if wrong:
            u = wrong[0]
            raise DataError(f"{path} {where(u)}: {str(uniques[u])[:80]!r} is not a {arch_format} architecture")
        fmt = arch_format
    else:
        kinds = {kind for kind, _ in parsed}
        spaces = {_SPACE_OF_KIND[k] for k in kinds if k in _SPACE_OF_KIND}
        if len(spaces) > 1:
            example = {(_SPACE_OF_KIND.get(k)): u for u, (k, _) in enumerate(parsed) if k in _SPACE_OF_KIND}
            raise DataError(
                f"{path}: column {column} mixes search spaces: nb201 ({str(uniques[example['nb201']])[:60]!r}, "
                f"{where(example['nb201'])}) and fbnet ({str(uniques[example['fbnet']])[:60]!r}, "
                f"{where(example['fbnet'])}); keep one with --filter")
        if len(kinds) > 1:
            raise DataError(f"{path}: column {column} mixes architecture formats ({', '.join(sorted(kinds))}); "
                            "give --arch-format to read one")
        kind = kinds.pop()
        if kind == "tuple":
            lengths = {len(p) for _, p in parsed}
            if lengths == {6}:
                raise NasflatError(
                    f"{path}: column {column} holds 6-op tuples, which LatBench and NASLib encode differently "
                    "(LatBench: none=0, skip=1, arch-string edge order; NASLib: skip=0, none=1, edges "
                    "0-1,0-2,0-3,1-2,1-3,2-3); give --arch-format latbench or --arch-format naslib")
            u = next(u for u, (_, p) in enumerate(parsed) if len(p) != 6)
            raise DataError(f"{path} {where(u)}: cannot read architecture {str(uniques[u])[:80]!r} (a tuple of "
                            f"{len(parsed[u][1])} numbers: NB201 tuples have 6, FBNet layer lists 22)")
        fmt = {"index": "index", "arch-string": "arch-string", "fbnet": "fbnet"}[kind]
    space_from_format = "fbnet" if fmt == "fbnet" else ("nb201" if fmt != "index" else None)
    if space_name is not None and space_from_format is not None and space_name != space_from_format:
        raise NasflatError(f"--space {space_name}: the architectures of {path} are {space_from_format} ({fmt})")
    space = space_of(space_name or space_from_format or "nb201")
    lookup = np.empty(len(uniques), dtype=np.int64)
    for u, (_, value) in enumerate(parsed):
        try:
            lookup[u] = _index_of(space, fmt, value)
        except ArchitectureError as exc:
            raise DataError(f"{path} {where(u)}: {exc}") from None
    return space, lookup[codes], fmt


def _index_of(space, fmt: str, value) -> int:
    if fmt == "index":
        return space.check_index(value)
    if fmt == "arch-string":
        return space.parse(value)
    if fmt == "latbench":
        return space.index_of_latbench_tuple(value)
    if fmt == "naslib":
        return space.index_of_naslib_tuple(value)
    from .spaces.fbnet.space import choices_key

    if len(value) != 22 or not all(0 <= c <= 8 for c in value):
        raise ArchitectureError(f"malformed FBNet architecture {value!r:.80}: expected 22 choice ids 0..8")
    index = space.index_of_key(choices_key(value))
    if index < 0:
        raise ArchitectureError(f"{value!r:.80} is a valid FBNet architecture but not one of the "
                                f"{space.num_archs} with published latencies")
    return index


# ------------------------------------------------------------------ devices


def safe_name(text: str) -> str:
    """A device name from free text: letters, digits, '_', '-' and '.' kept, the rest '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text).strip()).strip("_") or "device"


def _repeated_rows(table: SourceTable, frame: pd.DataFrame, rows: np.ndarray, skip: Sequence[str],
                   path: Path, name: str, arch: int) -> NasflatError:
    """The error for an architecture listed twice with different latencies, naming the columns
    that tell its rows apart."""
    part = frame.iloc[rows]
    differing = [c for c in part.columns if c not in skip and part[c].astype(str).nunique() > 1]
    where = " and ".join(table.where(int(i)) for i in part.index[:2])
    hint = (f"they differ in {', '.join(differing)}: keep one with --filter {differing[0]}=... or make one device "
            f"per value with --split-by {' '.join(differing)}") if differing else \
        "combine or remove the repeated measurements first"
    return DataError(f"{path}: device {name} lists architecture {arch} with different latencies ({where}); {hint}")


def build_devices(table: SourceTable, frame: pd.DataFrame, space, indices: np.ndarray, latency_ms: np.ndarray,
                  split_by: Sequence[str], base_name: Optional[str], default_name: str,
                  columns_used: Sequence[str], path: Path) -> List[ImportedDevice]:
    """One :class:`ImportedDevice` per distinct value of the ``split_by`` columns (one in all
    without them). An architecture listed twice with the same latency (an exact repeat) is kept
    once; with different latencies it is an error."""
    if split_by:
        groups = frame.groupby(list(split_by), sort=True, dropna=False).indices
        named = []
        for key, positions in groups.items():
            key = key if isinstance(key, tuple) else (key,)
            label = "_".join(safe_name(k) for k in key)
            named.append((f"{safe_name(base_name)}_{label}" if base_name else label,
                          " ".join(f"{c}={k}" for c, k in zip(split_by, key)), np.asarray(positions)))
    else:
        named = [(safe_name(base_name or default_name), "", np.arange(len(frame)))]
    names = [n for n, _, _ in named]
    if len(set(names)) != len(names):
        clash = next(n for n in names if names.count(n) > 1)
        raise NasflatError(f"two devices of {path} would both be named {clash}; give other --split-by columns")
    devices = []
    for name, split_value, positions in named:
        order = positions[np.argsort(indices[positions], kind="stable")]
        archs, values = indices[order], latency_ms[order]
        first = np.concatenate([[True], archs[1:] != archs[:-1]])
        if not first.all():
            start = np.flatnonzero(first)
            group_of = np.cumsum(first) - 1
            low = np.minimum.reduceat(values, start)
            high = np.maximum.reduceat(values, start)
            differ = np.flatnonzero(low != high)
            if len(differ):
                arch = int(archs[start[differ[0]]])
                rows = order[group_of == differ[0]]
                raise _repeated_rows(table, frame, rows, columns_used, path, name, arch)
        devices.append(ImportedDevice(name, space, archs[first], values[first],
                                      {"split": split_value}, int((~first).sum())))
    return devices


def _existing_is_imported(path: Path) -> bool:
    """Whether a file at ``path`` is absent or was written by import-device (never overwrite a
    device file measured with ``measure``)."""
    if not path.exists():
        return True
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                if not line.startswith("#"):
                    return False
                if line.lstrip("#").strip().startswith(f"{SOURCE_KEY}:"):
                    return True
    except OSError:
        return True  # check_output_file reports what is wrong with the path
    return False


@dataclass
class ImportRequest:
    """What ``import-device`` was asked to do (its flags)."""

    path: Path
    table_format: Optional[str] = None
    arch_column: Optional[str] = None
    latency_column: Optional[str] = None
    arch_format: Optional[str] = None
    space: Optional[str] = None
    unit: Optional[str] = None
    filters: Sequence[str] = ()
    split_by: Sequence[str] = ()
    device_name: Optional[str] = None
    out_dir: Path = Path("measurements")
    out: Optional[Path] = None


def import_devices(request: ImportRequest, space_of) -> Tuple[List[Tuple[ImportedDevice, Path]], List[str]]:
    """Read, check and write every device of ``request``; returns [(device, file)] and report lines.

    ``space_of(name)`` gives the search space ``name``. Nothing is written unless every device is
    valid and every output path can be written.
    """
    path = Path(request.path)
    table = read_table(path, request.table_format, space_of)
    report = [f"read {path} ({table.format}, {len(table.frame)} rows)"]
    filters = parse_filters(request.filters)
    frame = apply_filters(table.frame, filters, path) if filters else table.frame
    for column in request.split_by or ():
        if column not in frame.columns:
            raise _missing_column(column, frame, path, "--split-by")
    arch_column, how = choose_arch_column(frame, request.arch_column, path)
    taken = [arch_column] + [c for c, _ in filters] + list(request.split_by or ())
    latency_column = choose_latency_column(frame, request.latency_column, taken, path)
    unit, unit_reason = resolve_unit(latency_column, request.unit, table.unit_hint)
    values = read_latencies(table, frame, latency_column, path)
    present = ~np.isnan(values)
    skipped = int((~present).sum())
    if not present.any():
        raise DataError(f"{path}: no row has a latency in column {latency_column}")
    frame, values = frame[present], values[present]
    space, indices, arch_format = parse_archs(table, frame, arch_column, request.arch_format, request.space,
                                              space_of, path)
    latency_ms = values * UNITS[unit]
    report.append(f"architectures: column {arch_column} ({how}), format {arch_format}"
                  f"{' (detected)' if request.arch_format is None else ''}, space {space.name}; "
                  f"latencies: column {latency_column}, unit {unit} ({unit_reason})"
                  + (f"; {skipped} rows without a latency skipped" if skipped else ""))
    if filters:
        report.append(f"filter {' '.join(f'{c}={v}' for c, v in filters)}: {len(frame) + skipped} rows kept")
    devices = build_devices(table, frame, space, indices, latency_ms, request.split_by or (), request.device_name,
                            path.stem, taken + [latency_column], path)
    if request.out is not None and len(devices) != 1:
        raise NasflatError(f"--out names one file but {path} gives {len(devices)} devices "
                           f"({', '.join(d.name for d in devices[:6])}); use --out-dir")
    digest = sha256_of(path)
    targets = []
    for device in devices:
        out = Path(request.out) if request.out is not None else Path(request.out_dir) / f"{space.name}_{device.name}.csv"
        check_output_file(out, "--out" if request.out is not None else "--out-dir")
        if not _existing_is_imported(out):
            raise NasflatError(f"{out} exists and was not written by import-device (measurements of your own?); "
                               "give another --out or --out-dir")
        device.metadata = {
            "space": space.name, "device": device.name, "source": str(path.resolve()), SOURCE_KEY: digest,
            "source_format": table.format,
            "filter": " ".join(f"{c}={v}" for c, v in filters) or "none",
            "split_by": device.metadata["split"] or "none",
            "arch_column": f"{arch_column} (format {arch_format})",
            "latency_column": latency_column,
            "unit": f"{unit} ({unit_reason}); latencies below are milliseconds",
            "rows": f"{len(device.indices)} architectures"
                    + (f", {device.repeats_dropped} exact repeats dropped" if device.repeats_dropped else ""),
        }
        targets.append((device, out))
    if len({out.resolve() for _, out in targets}) != len(targets):
        raise NasflatError("two devices would be written to the same file; give --split-by columns that differ")
    classes = space.function_classes
    for device, out in targets:
        atomic_write_text(out, device.text())
        copies = copy_report(classes, device.indices, device.latency_ms)
        line = (f"{out}: device {device.name}, {len(device.indices)} architectures "
                f"({100 * len(device.indices) / space.num_archs:.1f}% of {space.name}), {copies.distinct} distinct "
                f"measurements, median {np.median(device.latency_ms):.4g} ms")
        if device.repeats_dropped:
            line += f"; {device.repeats_dropped} exact repeats dropped"
        if copies.copied:
            line += (f"; copies detected: {copies.copies} rows repeat the latency of an isomorphic architecture "
                     "(the trainer deduplicates them by default)")
        report.append(line)
        median = float(np.median(device.latency_ms))
        if median < 0.01 or median > 60_000:
            report.append(f"warning: the median latency of {device.name} is {median:.4g} ms; is --unit right?")
    return targets, report
