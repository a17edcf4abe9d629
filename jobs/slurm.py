"""Submit a job list's lines to SLURM as job arrays, and run one array task.

Lines are grouped by their resources (GPU, MEM, NTASKS); each group becomes one job array
(``sbatch --array=0-(n-1)%K --mem=<MEM>M --cpus-per-task=<NTASKS> [--gres=gpu:1]``), usually a
single array for a whole list. The array's task i runs entry i of a manifest (JSON) written next
to the batch script under ``<results>/slurm/``, so later edits to the job list do not change what a
queued task runs. Logs go to ``<results>/logs/%A_%a.out`` / ``.err``.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from nas_embedding_suite.errors import NasflatError

from .job_list import JobLine
from .line_state import DONE, QUEUED, RUNNING, LineFolder, live_slurm_jobs, write_json
from .runner import LineRun


class SlurmError(NasflatError):
    """sbatch is missing or refused a submission."""


def group_by_resources(lines: Sequence[JobLine]) -> Dict[tuple, List[JobLine]]:
    """Lines grouped by (gpu, mem_mb, ntasks), in first-seen order."""
    groups: Dict[tuple, List[JobLine]] = {}
    for line in lines:
        groups.setdefault(line.resources, []).append(line)
    return groups


def batch_script(python: str, repo_root: Path, manifest: Path) -> str:
    """The batch script of one array: run the manifest's entry ``$SLURM_ARRAY_TASK_ID``."""
    return (
        "#!/usr/bin/env bash\n"
        "# One task of a NASFLAT job-list array; written by parallelized_executor.sh --slurm.\n"
        "set -euo pipefail\n"
        f"cd {shlex.quote(str(repo_root))}\n"
        f"exec {shlex.quote(python)} -m jobs.executor --run-task {shlex.quote(str(manifest))} "
        '"$SLURM_ARRAY_TASK_ID"\n'
    )


def sbatch_argv(group: tuple, count: int, script: Path, logs: Path, max_parallel: Optional[int],
                partition: Optional[str], account: Optional[str], time_limit: Optional[str],
                job_name: str) -> List[str]:
    """The sbatch command of one array of ``count`` tasks with the group's resources."""
    gpu, mem_mb, ntasks = group
    array = f"0-{count - 1}" + (f"%{max_parallel}" if max_parallel else "")
    argv = ["sbatch", "--parsable", f"--job-name={job_name}", f"--array={array}", "--ntasks=1",
            f"--cpus-per-task={ntasks}", f"--mem={mem_mb}M", f"--output={logs}/%A_%a.out",
            f"--error={logs}/%A_%a.err"]
    if gpu:
        argv.append("--gres=gpu:1")
    for flag, value in (("--partition", partition), ("--account", account), ("--time", time_limit)):
        if value:
            argv.append(f"{flag}={value}")
    return argv + [str(script)]


def submit(lines: Sequence[JobLine], results_root: Path, repo_root: Path, python: str,
           max_parallel: Optional[int] = None, partition: Optional[str] = None,
           account: Optional[str] = None, time_limit: Optional[str] = None, job_name: str = "nasflat",
           dry_run: bool = False, say: Callable[[str], None] = print) -> List[str]:
    """Submit the lines that are neither done, running nor queued; returns the array job ids."""
    results_root = Path(results_root).resolve()
    live = live_slurm_jobs()
    todo = [line for line in lines
            if LineFolder(results_root, line.line_id).status(live if live is not None else set()).state not in (DONE, RUNNING, QUEUED)]
    say(f"{len(lines) - len(todo)} of {len(lines)} line(s) done, running or queued; "
        f"{'would submit' if dry_run else 'submitting'} {len(todo)}")
    if not todo:
        return []
    if not dry_run and shutil.which("sbatch") is None:
        raise SlurmError("sbatch was not found on PATH; run on a SLURM login node or use --local N")
    logs, slurm_dir = results_root / "logs", results_root / "slurm"
    if not dry_run:
        logs.mkdir(parents=True, exist_ok=True)
        slurm_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    job_ids = []
    for number, (group, members) in enumerate(group_by_resources(todo).items()):
        manifest = slurm_dir / f"{stamp}-{number}.json"
        script = slurm_dir / f"{stamp}-{number}.sh"
        argv = sbatch_argv(group, len(members), script, logs, max_parallel, partition, account,
                           time_limit, job_name)
        if dry_run:
            say("would run: " + shlex.join(argv))
            say("  where the script runs: " + batch_script(python, repo_root, manifest).splitlines()[-1])
            for index, member in enumerate(members):
                say(f"  task {index}: {member.line_id} (line {member.line_number}) {member.command}")
            continue
        write_json(manifest, {"results_root": str(results_root), "lines": [asdict(m) for m in members]})
        script.write_text(batch_script(python, repo_root, manifest))
        shown = subprocess.run(argv, capture_output=True, text=True)
        if shown.returncode != 0:
            raise SlurmError(f"sbatch failed: {' '.join(shown.stderr.split()) or shown.returncode}")
        job = shown.stdout.strip().split(";")[0]
        job_ids.append(job)
        for index, member in enumerate(members):
            write_json(LineFolder(results_root, member.line_id).queued_file,
                       {"slurm_job": f"{job}_{index}", "submitted": time.time(),
                        "stdout": str(logs / f"{job}_{index}.out"), "stderr": str(logs / f"{job}_{index}.err")})
        say(f"submitted array {job}: {len(members)} task(s), mem {group[1]}M, {group[2]} CPU(s)"
            f"{', 1 GPU' if group[0] else ''}; logs {logs}/{job}_<task>.out")
    return job_ids


def wait_for(job_ids: Sequence[str], poll_s: float = 5.0) -> None:
    """Block until SLURM lists none of ``job_ids`` any more."""
    while job_ids:
        shown = subprocess.run(["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i"],
                               capture_output=True, text=True)
        if shown.returncode == 0 and not shown.stdout.strip():
            return
        time.sleep(poll_s)


def run_task(manifest_path: Path, index: int, repo_root: Path) -> int:
    """Run entry ``index`` of a manifest (inside a SLURM array task); its output is the task's log."""
    manifest = json.loads(Path(manifest_path).read_text())
    line = JobLine(**manifest["lines"][index])
    job, task = os.environ.get("SLURM_ARRAY_JOB_ID", ""), os.environ.get("SLURM_ARRAY_TASK_ID", "")
    logs = Path(manifest["results_root"]) / "logs"
    log_paths = {"stdout": str(logs / f"{job}_{task}.out"), "stderr": str(logs / f"{job}_{task}.err")}
    run = LineRun(line, Path(manifest["results_root"]), repo_root)
    sys.stdout.flush()
    if not run.start(None, None, log_paths):
        print(f"line {line.line_id} is already done or running; nothing to do")
        return 0
    if run.process is None:
        return 1

    def interrupt(signum, frame):  # leave the wait first: stopping inside it would deadlock
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        code = run.process.wait()
    except KeyboardInterrupt:
        run.stop()
        print(f"line {line.line_id}: interrupted; a later submission runs it again")
        return 130
    state = run.finish(code)
    print(f"line {line.line_id}: {state} (exit status {code})")
    return 0 if state == "done" else 1
