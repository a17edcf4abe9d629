"""Run one job-list line: take its lock, run its command into its own folder, leave a marker.

The command's ``python``/``python3`` is this interpreter, ``--out_dir`` is replaced by the line's
own folder, ``--threads NTASKS`` is added unless the command sets ``--threads``, and the trainer's
``--pretrained_dir`` is the results folder's shared ``pretrained/`` (lines that pretrain alike,
differing only in k, fine-tuning or evaluation, pretrain once) unless the command sets it. The child is
killed with its parent (Linux ``PR_SET_PDEATHSIG``), so killing an executor leaves no orphan
writing into a line folder. Finished work inside a line (the trainer's per-unit files) is reused
when an interrupted line runs again, and the trainer replaces its own rows, so a rerun never
duplicates rows.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, List, Optional

from .job_list import JobLine
from .line_state import FAILED, LineFolder, LineLock, write_json

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when the parent process dies (Linux only)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _without_option(words: List[str], option: str) -> List[str]:
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word == option:
            skip = True
        elif not word.startswith(option + "="):
            kept.append(word)
    return kept


def _has_option(words: List[str], option: str) -> bool:
    return any(w == option or w.startswith(option + "=") for w in words)


def build_argv(line: JobLine, out_dir: Path, python: str = sys.executable,
               pretrained_dir: Optional[Path] = None) -> List[str]:
    """The argument vector that runs ``line`` with its results in ``out_dir`` (and, for the
    trainer, its pretrained weights in the shared ``pretrained_dir``)."""
    words = line.words
    if Path(words[0]).name in ("python", "python3"):
        words = [python] + words[1:]
    words = _without_option(words, "--out_dir") + ["--out_dir", str(out_dir)]
    if not _has_option(words, "--threads"):
        words += ["--threads", str(line.ntasks)]
    trainer = len(words) > 1 and Path(words[1]).as_posix().endswith(
        ("correlation_trainer/main.py", "correlation_trainer/search.py"))
    if pretrained_dir is not None and trainer and not _has_option(words, "--pretrained_dir"):
        words += ["--pretrained_dir", str(pretrained_dir)]
    return words


class LineRun:
    """One run of one line: ``start`` (lock, running marker, child process), then ``finish``."""

    def __init__(self, line: JobLine, results_root: Path, repo_root: Path):
        self.line = line
        self.folder = LineFolder(results_root, line.line_id)
        self.repo_root = Path(repo_root)
        self.lock: Optional[LineLock] = None
        self.process: Optional[subprocess.Popen] = None
        self.started = 0.0
        self.logs = {}

    def start(self, stdout: Optional[IO] = None, stderr: Optional[IO] = None, log_paths=None) -> bool:
        """Start the command; False (nothing started) if the line is done or held by another run."""
        if self.folder.is_done():
            return False
        lock = self.folder.lock()
        if not lock.acquire():
            return False
        if self.folder.is_done():  # finished between the check and the lock
            lock.release()
            return False
        self.lock = lock
        self.logs = dict(log_paths or {})
        self.started = time.time()
        argv = build_argv(self.line, self.folder.out_dir.resolve(),
                          pretrained_dir=self.folder.pretrained_dir.resolve())
        running = {"id": self.line.line_id, "command": self.line.command, "argv": argv, "pid": os.getpid(),
                   "host": socket.gethostname(), "started": self.started, **self.logs, **_slurm_ids()}
        write_json(self.folder.running_file, running)
        self.folder.clear("failed", "queued")
        try:
            self.process = subprocess.Popen(argv, cwd=self.repo_root, stdout=stdout, stderr=stderr,
                                            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        except OSError as exc:
            self.finish(127, reason=f"cannot start the command: {exc.strerror or exc}")
            return True
        write_json(self.folder.running_file, {**running, "command_pid": self.process.pid})
        return True

    def finish(self, returncode: int, reason: str = "") -> str:
        """Record the outcome (done marker on exit status 0, else failed marker) and unlock."""
        record = {"id": self.line.line_id, "command": self.line.command, "study": self.line.study,
                  "job_id": self.line.job_id, "line_number": self.line.line_number,
                  "exit_status": returncode, "wall_s": round(time.time() - self.started, 3),
                  "host": socket.gethostname(), "finished": time.time(), **self.logs, **_slurm_ids()}
        if returncode == 0:
            write_json(self.folder.done_file, record)
            state = "done"
        else:
            record["reason"] = reason or f"exit status {returncode}"
            write_json(self.folder.failed_file, record)
            state = FAILED
        self.folder.clear("running")
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        return state

    def stop(self) -> None:
        """Terminate the child (then kill it after 10 s) and record the line as interrupted."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.lock is not None:
            self.finish(self.process.returncode if self.process else 1, reason="interrupted")


def _slurm_ids() -> dict:
    job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return {"slurm_job": f"{job}_{task}"} if job and task else {}
