"""Where a job list's results live and what state each line is in.

Layout under the results folder::

    lines/<id>/out/           the line's --out_dir (its own folder: lines never share a file)
    lines/<id>/done.json      written (atomically) when the command exited 0
    lines/<id>/running.json   while it runs: pid, host, start time, log paths
    lines/<id>/failed.json    when it exited non-zero or was interrupted
    lines/<id>/queued.json    submitted to SLURM and not started yet
    lines/<id>/.lock          held (flock) by the process that runs the line
    pretrained/               pretrained weights, shared by lines whose pretraining is the same
    logs/                     stdout/stderr of every run

A line is *running* exactly while someone holds its lock, so a ``running.json`` left by a killed
process (its lock is released by the kernel) reads as an interrupted, failed line.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Set

from nas_embedding_suite.output_files import atomic_write_bytes

DONE, RUNNING, FAILED, QUEUED, PENDING = "done", "running", "failed", "queued", "pending"
STATES = (DONE, RUNNING, QUEUED, FAILED, PENDING)


def write_json(path: Path, payload: Dict) -> None:
    """Write ``payload`` as JSON to ``path`` atomically."""
    atomic_write_bytes(path, lambda stream: stream.write(json.dumps(payload, indent=1).encode()))


def read_json(path: Path) -> Optional[Dict]:
    """The JSON object in ``path``, or None when it is absent or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class LineLock:
    """An exclusive, non-blocking flock on a line's ``.lock`` file, released when the holder dies."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = None

    def acquire(self) -> bool:
        """Take the lock; False if another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.handle = handle
        return True

    def release(self) -> None:
        """Give the lock back."""
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def live_slurm_jobs() -> Optional[Set[str]]:
    """Every array task SLURM lists as pending or running (``A_a``); None without squeue."""
    if shutil.which("squeue") is None:
        return None
    try:
        shown = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if shown.returncode != 0:
        return None
    return set(shown.stdout.split())


@dataclass
class LineStatus:
    """A line's state and the marker that tells it."""

    state: str
    detail: Dict

    @property
    def log(self) -> str:
        """The stdout log of the last run ('' if none was recorded)."""
        return str(self.detail.get("stdout", ""))


class LineFolder:
    """The results folder of one line."""

    def __init__(self, results_root: Path, line_id: str):
        self.root = Path(results_root)
        self.line_id = line_id
        self.path = self.root / "lines" / line_id

    out_dir = property(lambda self: self.path / "out")
    #: pretrained weights shared by every line of the results folder (``main.py --pretrained_dir``)
    pretrained_dir = property(lambda self: self.root / "pretrained")
    done_file = property(lambda self: self.path / "done.json")
    running_file = property(lambda self: self.path / "running.json")
    failed_file = property(lambda self: self.path / "failed.json")
    queued_file = property(lambda self: self.path / "queued.json")

    def lock(self) -> LineLock:
        """The line's lock (not yet taken)."""
        return LineLock(self.path / ".lock")

    def is_done(self) -> bool:
        """Whether the line has finished successfully."""
        return self.done_file.is_file()

    def is_locked(self) -> bool:
        """Whether some process holds the line's lock right now."""
        if not (self.path / ".lock").exists():
            return False
        probe = self.lock()
        if probe.acquire():
            probe.release()
            return False
        return True

    def status(self, live_jobs: Optional[Set[str]] = None) -> LineStatus:
        """The line's state: done, running, queued, failed or pending. A SLURM submission counts as
        queued while its task is in ``live_jobs`` (see :func:`live_slurm_jobs`; None: unknown, so
        believed)."""
        done = read_json(self.done_file)
        if done is not None:
            return LineStatus(DONE, done)
        if self.is_locked():
            return LineStatus(RUNNING, read_json(self.running_file) or {})
        running = read_json(self.running_file)
        if running is not None:
            return LineStatus(FAILED, {**running, "reason": "interrupted (its process is gone)"})
        queued = read_json(self.queued_file)
        if queued is not None and (live_jobs is None or queued["slurm_job"] in live_jobs):
            return LineStatus(QUEUED, queued)
        failed = read_json(self.failed_file)
        if failed is not None:
            return LineStatus(FAILED, failed)
        return LineStatus(PENDING, {})

    def clear(self, *names: str) -> None:
        """Remove the given markers (``running``, ``failed``, ``queued``) if present."""
        for name in names:
            try:
                os.remove(self.path / f"{name}.json")
            except FileNotFoundError:
                pass
