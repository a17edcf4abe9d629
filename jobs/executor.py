"""parallelized_executor.sh: Run a job list on SLURM or locally, resumably; status; aggregate.

    parallelized_executor.sh JOBLIST --local N        run the lines N at a time on this machine
    parallelized_executor.sh JOBLIST --slurm [opts]   submit one SLURM job array over the lines
    parallelized_executor.sh JOBLIST --dry-run        print what would run (with --slurm: the sbatch commands)
    parallelized_executor.sh JOBLIST --status         done / running / queued / failed / pending lines
    parallelized_executor.sh JOBLIST --aggregate      tidy CSV, Markdown summary and plots of the done lines
    parallelized_executor.sh JOBLIST --export DIR     copy the done lines' results (CSVs, markers) to DIR

Results go to ``--results DIR`` (default ``results/<job list name>``), one folder per line
(``lines/<id>/``); a line with a done marker is never run again, so rerunning the same command
after a stop, a crash or a requeue completes the list.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from nas_embedding_suite.errors import ArgumentParser, NasflatError, run_reporting_errors
from nas_embedding_suite.output_files import check_output_folder

from jobs.job_list import JobLine, executable_lines, load_job_list
from jobs.line_state import STATES, LineFolder, live_slurm_jobs
from jobs.runner import build_argv

REPO_ROOT = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    """Every option of the executor."""
    p = ArgumentParser(prog="parallelized_executor.sh", description=__doc__.split("\n")[0].split(": ", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n")[2:]))
    p.add_argument("joblist", nargs="?", help="job-list file (EXECUTE,JOB_ID,GPU,MEM,NTASKS,<command> lines)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--slurm", action="store_true", help="submit the pending lines as SLURM job array(s)")
    mode.add_argument("--local", type=int, metavar="N", help="run the pending lines here, N at a time")
    mode.add_argument("--status", action="store_true", help="list done, running, queued, failed and pending lines")
    mode.add_argument("--aggregate", action="store_true",
                      help="collect the done lines into tidy_results.csv, summary.md and plots/")
    mode.add_argument("--export", metavar="DIR",
                      help="copy the done lines' markers and result CSVs (no weights, logs or npz) to DIR, "
                           "a folder that --status, --aggregate and --results read like this one")
    mode.add_argument("--run-task", nargs=2, metavar=("MANIFEST", "INDEX"), help=argparse.SUPPRESS)
    p.add_argument("--study", action="append", metavar="NAME",
                   help="only the lines of this study (a '# study: NAME' group); repeatable")
    p.add_argument("--dry-run", action="store_true", help="print what would run and change nothing")
    p.add_argument("--results", metavar="DIR", help="results folder (default: results/<job list name>)")
    p.add_argument("--max-parallel", type=int, metavar="K",
                   help="SLURM: at most K tasks of an array at once (--array=...%%K)")
    p.add_argument("--partition", help="SLURM partition")
    p.add_argument("--account", help="SLURM account")
    p.add_argument("--time", dest="time_limit", metavar="LIMIT", help="SLURM time limit per task, e.g. 04:00:00")
    p.add_argument("--job-name", default="nasflat", help="SLURM job name")
    p.add_argument("--wait", action="store_true", help="SLURM: return only when the submitted arrays have left the queue")
    p.add_argument("--no-plots", action="store_true", help="--aggregate: tables only, no PNG plots")
    return p


def results_root(args: argparse.Namespace) -> Path:
    """The results folder of this job list."""
    if args.results:
        return Path(args.results).resolve()
    return REPO_ROOT / "results" / Path(args.joblist).stem


def dry_run(lines: Sequence[JobLine], root: Path) -> None:
    """Print each line's state and the exact command a local run would start."""
    for line in lines:
        folder = LineFolder(root, line.line_id)
        state = folder.status().state
        print(f"{state:8} {line.line_id} line {line.line_number} [{line.study or '-'}] "
              f"gpu={line.gpu} mem={line.mem_mb}M cpus={line.ntasks}")
        if state != "done":
            print("         " + " ".join(build_argv(line, folder.out_dir, pretrained_dir=folder.pretrained_dir)))


def last_error_line(log: Optional[str]) -> str:
    """The last non-empty line of a log file ('' if there is none)."""
    try:
        with open(log, "rb") as stream:
            stream.seek(0, 2)
            stream.seek(max(0, stream.tell() - 4096))
            lines = [l.strip() for l in stream.read().decode(errors="replace").splitlines() if l.strip()]
    except (OSError, TypeError):
        return ""
    return lines[-1][:200] if lines else ""


def print_status(all_lines: Sequence[JobLine], root: Path) -> int:
    """Print every line's state (failures with their log) and the counts; 1 if any failed."""
    live = live_slurm_jobs()
    counts = {state: 0 for state in STATES}
    disabled = sum(not line.execute for line in all_lines)
    for line in executable_lines(list(all_lines)):
        status = LineFolder(root, line.line_id).status(live)
        counts[status.state] += 1
        extra = ""
        if status.state == "failed":
            extra = f"  {status.detail.get('reason', '')}; log {status.detail.get('stderr', '-')}"
            last = last_error_line(status.detail.get("stderr"))
            extra += f"\n         {last}" if last else ""
        elif status.state == "running":
            extra = (f"  pid {status.detail.get('command_pid', status.detail.get('pid'))} on "
                     f"{status.detail.get('host')}; log {status.log}")
        elif status.state == "queued":
            extra = f"  slurm {status.detail.get('slurm_job')}"
        elif status.state == "done":
            extra = f"  {status.detail.get('wall_s', 0):.1f} s"
        print(f"{status.state:8} {line.line_id} line {line.line_number} [{line.study or '-'}]{extra}")
    summary = ", ".join(f"{counts[s]} {s}" for s in STATES)
    print(f"{summary}; {disabled} line(s) marked False; results in {root}")
    return 1 if counts["failed"] else 0


def run(args: argparse.Namespace) -> int:
    """Carry out the chosen mode."""
    if args.run_task:
        from jobs.slurm import run_task
        return run_task(Path(args.run_task[0]), int(args.run_task[1]), REPO_ROOT)
    if not args.joblist:
        raise NasflatError("name a job-list file, e.g. parallelized_executor.sh large_run_slurms/unified_joblist.log --status")
    if args.local is not None and args.local < 1:
        raise NasflatError("--local N needs N of at least 1")
    if args.max_parallel is not None and args.max_parallel < 1:
        raise NasflatError("--max-parallel K needs K of at least 1")
    all_lines = load_job_list(Path(args.joblist))
    if args.study:
        unknown = sorted(set(args.study) - {line.study for line in all_lines})
        if unknown:
            known = ", ".join(dict.fromkeys(line.study for line in all_lines if line.study))
            raise NasflatError(f"{args.joblist} has no study {', '.join(unknown)}; its studies: {known or 'none'}")
        all_lines = [line for line in all_lines if line.study in args.study]
    lines = executable_lines(all_lines)
    root = results_root(args)
    if args.status:
        return print_status(all_lines, root)
    if args.export:
        from jobs.export import export_done_lines
        destination = Path(args.export).resolve()
        if destination == root:
            raise NasflatError(f"--export {args.export} is the results folder itself; name another folder")
        copied = export_done_lines(lines, root, destination)
        print(f"exported {copied} done line(s) of {len(lines)} from {root} to {destination}")
        return 0
    if args.aggregate:
        from jobs.aggregate import aggregate
        aggregate(root, Path(args.joblist), plots=not args.no_plots)
        return 0
    if args.slurm:
        from jobs.slurm import submit, wait_for
        if not args.dry_run:
            check_output_folder(root, "--results")
        jobs = submit(lines, root, REPO_ROOT, sys.executable, args.max_parallel, args.partition,
                      args.account, args.time_limit, args.job_name, dry_run=args.dry_run)
        if args.wait and jobs:
            wait_for(jobs)
            return print_status(all_lines, root)
        return 0
    if args.dry_run:
        dry_run(lines, root)
        return 0
    if args.local is None:
        raise NasflatError("choose a mode: --local N, --slurm, --dry-run, --status or --aggregate")
    from jobs.local import run_local
    check_output_folder(root, "--results")
    return run_local(lines, root, REPO_ROOT, args.local)


def main(argv: Optional[List[str]] = None) -> int:
    """Parse the options and run; one-line errors instead of tracebacks."""
    args = build_parser().parse_args(argv)
    status = [0]

    def action() -> None:
        status[0] = run(args)

    try:
        code = run_reporting_errors(action, "interrupted: rerun the same command to resume")
    except BrokenPipeError:  # output piped into a program that stopped reading (e.g. head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code or status[0]


if __name__ == "__main__":
    sys.exit(main())
