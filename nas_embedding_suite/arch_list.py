"""Architecture lists: files naming architectures of a space, one per line."""
from __future__ import annotations

from pathlib import Path
from typing import List

from .errors import read_text_file


def read_arch_list(path: Path, space) -> List[int]:
    """Architecture indices from a file: one index or arch string per line (the first CSV column;
    blank lines, ``#`` comments and a header line ``index`` or ``arch`` are skipped)."""
    lines = read_text_file(path, "architecture list").splitlines()
    indices = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        first = text.split(",", 1)[0].strip()
        if first not in ("index", "arch"):
            indices.append(space.resolve_arch(first))
    return indices
