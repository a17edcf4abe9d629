"""Copy the finished lines of a results folder into a small folder that can be kept or shared.

The copy has the results folder's own layout (``lines/<id>/done.json`` and the CSV files of
``lines/<id>/out/``) without what is large or local (unit npz files, pretrained weights, logs,
locks). So ``--status`` and ``--aggregate`` read it as they read the original, and a
``--local`` or ``--slurm`` run with ``--results`` pointing at (a copy of) it runs only the lines
it lacks: a long study can be carried between machines and finished piece by piece. The copied
markers name their logs relative to the results folder (``logs/<id>.out``), not by a path of the
machine that ran them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence

from nas_embedding_suite.output_files import atomic_write_bytes

from .job_list import JobLine
from .line_state import LineFolder, read_json, write_json

#: the files of a line's ``out/`` that are kept: every result table (small text)
KEPT_PATTERN = "*.csv"


#: the marker fields that hold a path of the machine that ran the line
PATH_FIELDS = ("stdout", "stderr")


def portable_marker(marker: Dict, results_root: Path) -> Dict:
    """``marker`` with its log paths relative to the results folder (the logs are not exported,
    and an absolute path names another machine's folders): ``logs/<id>.out``."""
    portable = dict(marker)
    for field in PATH_FIELDS:
        value = portable.get(field)
        if not value or not Path(str(value)).is_absolute():
            continue
        path = Path(str(value))
        try:
            portable[field] = str(path.relative_to(Path(results_root).resolve()))
        except ValueError:  # exported elsewhere: keep the log's place in a results folder
            portable[field] = str(Path(path.parent.name, path.name)) if path.parent.name == "logs" else path.name
    return portable


def export_done_lines(lines: Sequence[JobLine], results_root: Path, destination: Path) -> int:
    """Copy each done line of ``lines`` from ``results_root`` to ``destination``; return how many.

    A line's CSVs are copied before its done marker, each file atomically, so an interrupted
    export never shows a line as done without its results. Lines already in ``destination`` are
    replaced by the current copy."""
    copied = 0
    for line in lines:
        source = LineFolder(results_root, line.line_id)
        marker = read_json(source.done_file)
        if marker is None:
            continue
        target = LineFolder(destination, line.line_id)
        for csv in sorted(source.out_dir.glob(f"**/{KEPT_PATTERN}")):
            data = csv.read_bytes()
            atomic_write_bytes(target.out_dir / csv.relative_to(source.out_dir),
                               lambda stream, data=data: stream.write(data))
        write_json(target.done_file, portable_marker(marker, results_root))
        copied += 1
    return copied
