"""Fetching the data directory from the files' public origins, verified against known checksums.

The checksums ship with the package (``data_checksums.sha256``, the same list as the data
directory's ``SHA256SUMS``), so a download is checked before it is used. One file is a conversion:
``arch_score_acc.csv`` is made from the upstream pandas pickle ``arch_score_acc.pd``, which is read
through an allow-list unpickler that can only rebuild DataFrames of numbers and strings.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional

from tqdm import tqdm

from .data_directory import read_checksum_file
from .data_origins import CONVERTED_FILES, origin_of
from .errors import DataError, one_line

CHECKSUMS = Path(__file__).with_name("data_checksums.sha256")

# Globals a plain pandas DataFrame pickle needs; nothing that can run code or touch files.
_PANDAS_GLOBALS = {
    ("pandas.core.frame", "DataFrame"),
    ("pandas", "DataFrame"),
    ("pandas", "Index"),
    ("pandas", "RangeIndex"),
    ("pandas", "StringDtype"),
    ("pandas.arrays", "StringArray"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
    ("pandas.core.internals", "BlockManager"),
    ("pandas.core.indexes.numeric", "Float64Index"),
    ("_codecs", "encode"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.blocks", "new_block"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas.core.indexes.numeric", "Int64Index"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "slice"),
    # string columns of a pandas with pyarrow installed (a requirement): an Arrow array rebuilt
    # from its type name and byte buffers
    ("pandas.arrays", "ArrowStringArray"),
    ("pyarrow.lib", "_restore_array"),
    ("pyarrow.lib", "type_for_alias"),
    ("pyarrow.lib", "py_buffer"),
    ("builtins", "bytearray"),
}


class _DataFrameUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _PANDAS_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def known_checksums() -> Dict[str, str]:
    """{relative path: sha256} of every data file."""
    return read_checksum_file(CHECKSUMS)


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except Exception as exc:
        raise DataError(f"cannot download {url}: {one_line(exc)[:200]}") from None


def _convert_pandas_pickle_to_csv(raw: bytes, source: str) -> bytes:
    try:
        frame = _DataFrameUnpickler(io.BytesIO(raw)).load()
        return frame.to_csv(index_label="arch").encode()
    except Exception as exc:
        raise DataError(f"cannot convert {source}: {one_line(exc)[:200]}") from None


def download(dest: Path, only: Optional[List[str]] = None) -> List[str]:
    """Download every data file into ``dest`` (skipping verified ones); returns files that failed.

    Each file is written atomically and checked against its known checksum. A converted file whose
    bytes differ from the reference conversion is kept but reported.
    """
    dest = Path(dest)
    checksums = known_checksums()
    failed = []
    for relative in tqdm(sorted(only or checksums), desc="downloading", unit="file"):
        target = dest / relative
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == checksums[relative]:
            continue
        source = CONVERTED_FILES.get(relative, relative)
        origin = origin_of(source)
        if origin is None:
            failed.append(f"{relative}: no known origin")
            continue
        try:
            raw = _fetch(origin.url_for(source))
            if relative in CONVERTED_FILES:
                raw = _convert_pandas_pickle_to_csv(raw, source)
        except DataError as exc:
            failed.append(str(exc))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        with os.fdopen(handle, "wb") as stream:
            stream.write(raw)
        os.replace(temporary, target)
        if hashlib.sha256(raw).hexdigest() != checksums[relative]:
            failed.append(f"{relative}: checksum mismatch after download")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CHECKSUMS, dest / "SHA256SUMS")
    return failed
