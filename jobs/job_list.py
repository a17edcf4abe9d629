"""Job-list files: one experiment per line, ``EXECUTE,JOB_ID,GPU,MEM,NTASKS,<command>``.

Only lines whose EXECUTE field is ``True`` run; blank lines and ``#`` lines are skipped. A comment
line ``# study: NAME`` names the study of the lines below it. GPU ``True`` asks for one GPU, MEM is
in MB, NTASKS is the number of CPUs. The command is everything after the fifth comma.

Each line has a stable id: a hash of its normalised command (shell words joined by single
spaces), so reordering the file, renumbering JOB_ID or changing whitespace keeps the id, and the
same experiment is never run twice.
"""
from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

from nas_embedding_suite.errors import NasflatError

#: Prefix of the comment line that names the study of the lines after it.
STUDY_PREFIX = "# study:"
_BOOLEANS = {"true": True, "false": False}


class JobListError(NasflatError):
    """A job-list file is missing or has a malformed line."""


@dataclass(frozen=True)
class JobLine:
    """One experiment line of a job list."""

    line_number: int
    execute: bool
    job_id: str
    gpu: bool
    mem_mb: int
    ntasks: int
    command: str
    study: str

    @property
    def words(self) -> List[str]:
        """The command split into shell words."""
        return shlex.split(self.command)

    @property
    def line_id(self) -> str:
        """Stable id: the first 12 hex digits of the SHA-256 of the normalised command."""
        return command_id(self.command)

    @property
    def resources(self) -> Tuple[bool, int, int]:
        """(gpu, mem_mb, ntasks): lines with equal resources can share one SLURM job array."""
        return self.gpu, self.mem_mb, self.ntasks


def normalise_command(command: str) -> str:
    """The command's shell words joined by single spaces (quoted where needed)."""
    return shlex.join(shlex.split(command))


def command_id(command: str) -> str:
    """Stable id of a command (see :func:`normalise_command`)."""
    return hashlib.sha256(normalise_command(command).encode()).hexdigest()[:12]


def _boolean(value: str, field: str, where: str) -> bool:
    try:
        return _BOOLEANS[value.strip().lower()]
    except KeyError:
        raise JobListError(f"{where}: {field} must be True or False, not '{value.strip()}'") from None


def _positive_int(value: str, field: str, where: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        number = 0
    if number < 1:
        raise JobListError(f"{where}: {field} must be a positive whole number, not '{value.strip()}'")
    return number


def parse_line(text: str, line_number: int, study: str, source: str = "<job list>") -> JobLine:
    """Parse one non-comment line; a malformed line raises :class:`JobListError` naming it."""
    where = f"{source} line {line_number}"
    fields = text.split(",", 5)
    if len(fields) < 6:
        raise JobListError(f"{where}: expected EXECUTE,JOB_ID,GPU,MEM,NTASKS,<command>, "
                           f"found {len(fields)} field(s)")
    execute, job_id, gpu, mem, ntasks, command = fields
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise JobListError(f"{where}: the command cannot be split into words ({exc})") from None
    if not words:
        raise JobListError(f"{where}: the command is empty")
    return JobLine(
        line_number=line_number, execute=_boolean(execute, "EXECUTE", where), job_id=job_id.strip(),
        gpu=_boolean(gpu, "GPU", where), mem_mb=_positive_int(mem, "MEM", where),
        ntasks=_positive_int(ntasks, "NTASKS", where), command=command.strip(), study=study,
    )


def parse_text(text: str, source: str = "<job list>") -> List[JobLine]:
    """Every experiment line of a job list's text (executable or not), in file order."""
    lines, study = [], ""
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.lower().startswith(STUDY_PREFIX):
            study = stripped[len(STUDY_PREFIX):].strip()
        if not stripped or stripped.startswith("#"):
            continue
        lines.append(parse_line(stripped, number, study, source))
    return lines


def load_job_list(path: Path) -> List[JobLine]:
    """Every experiment line of the job-list file ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise JobListError(f"job list {path} is not a UTF-8 text file") from None
    except OSError as exc:
        raise JobListError(f"cannot read job list {path}: {exc.strerror or exc}") from None
    return parse_text(text, str(path))


def executable_lines(lines: List[JobLine]) -> List[JobLine]:
    """The lines marked True, without repeats of the same command (the first one is kept)."""
    seen, chosen = set(), []
    for line in lines:
        if line.execute and line.line_id not in seen:
            seen.add(line.line_id)
            chosen.append(line)
    return chosen
