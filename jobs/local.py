"""Run a job list's lines on this machine, N at a time."""
from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Callable, List

from .job_list import JobLine
from .line_state import LineFolder
from .runner import LineRun


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run_local(lines: List[JobLine], results_root: Path, repo_root: Path, parallel: int,
              say: Callable[[str], None] = print, poll_s: float = 0.2) -> int:
    """Run every line that is not done and not running elsewhere, ``parallel`` at a time.

    Each line's stdout/stderr go to ``logs/<id>.out`` / ``.err``. A failed line never stops the
    others. Returns 0 if every line is done at the end, else 1 (130 when interrupted)."""
    logs = Path(results_root) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    todo = [line for line in lines if not LineFolder(results_root, line.line_id).is_done()]
    say(f"{len(lines) - len(todo)} of {len(lines)} line(s) already done; running {len(todo)}, "
        f"{parallel} at a time")
    active: List[LineRun] = []
    finished = failed = 0
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while todo or active:
            while todo and len(active) < parallel:
                line = todo.pop(0)
                run = LineRun(line, results_root, repo_root)
                out_path, err_path = logs / f"{line.line_id}.out", logs / f"{line.line_id}.err"
                with open(out_path, "ab") as out, open(err_path, "ab") as err:
                    started = run.start(out, err, {"stdout": str(out_path), "stderr": str(err_path)})
                if not started:
                    say(f"skip  {line.line_id} (line {line.line_number}): done or running elsewhere")
                elif run.process is None:
                    failed += 1
                    say(f"FAIL  {line.line_id} (line {line.line_number}): could not start; see {err_path}")
                else:
                    say(f"start {line.line_id} (line {line.line_number}) {line.command}")
                    active.append(run)
            for run in list(active):
                code = run.process.poll()
                if code is None:
                    continue
                active.remove(run)
                wall = time.time() - run.started
                if run.finish(code) == "done":
                    finished += 1
                    say(f"done  {run.line.line_id} in {wall:.1f} s")
                else:
                    failed += 1
                    say(f"FAIL  {run.line.line_id} (exit status {code}) after {wall:.1f} s; "
                        f"log {run.logs['stderr']}")
            time.sleep(poll_s)
    except KeyboardInterrupt:
        for run in active:
            run.stop()
        say(f"interrupted: {len(active)} line(s) in flight were stopped; rerun to complete the list")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    remaining = sum(not LineFolder(results_root, line.line_id).is_done() for line in lines)
    say(f"finished {finished}, failed {failed}; {len(lines) - remaining} of {len(lines)} line(s) done")
    return 0 if remaining == 0 else 1
