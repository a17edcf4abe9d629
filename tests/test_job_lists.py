"""Job lists end to end: parsing and ids, the repository's lists, local runs with kill-and-resume,
a real SLURM cluster, aggregation and plots. Every run is a real (tiny) trainer run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from correlation_trainer.main import build_parser
from correlation_trainer.representations import encoding_of
from nas_embedding_suite.encodings import list_encodings
from jobs.aggregate import geometric_mean, variant_of
from jobs.job_list import JobListError, command_id, executable_lines, load_job_list, parse_text
from jobs.runner import build_argv

from slurm_cluster import SlurmCluster, missing_reason

REPO = Path(__file__).resolve().parents[1]
EXECUTOR = REPO / "parallelized_executor.sh"
QUICK = ("python correlation_trainer/main.py --task_index 9999 --epochs 1 --transfer_epochs 1 "
         "--num_trials 1 --sample_sizes 4 --transfer_sample_sizes 3 --no_progress")


def quick_list(path: Path, seeds=(0, 1), failing: bool = True) -> Path:
    """A job list of quick real runs (one per seed) and optionally one that fails."""
    lines = ["# study: quick"]
    lines += [f"True,{i},False,1000,1,{QUICK} --seed {seed}" for i, seed in enumerate(seeds)]
    if failing:
        lines += ["# study: broken", f"True,9,False,1000,1,{QUICK} --task_index 4242"]
    lines += ["False,10,False,1000,1,python correlation_trainer/main.py --predictor help"]
    path.write_text("\n".join(lines) + "\n")
    return path


def executor(*args, env=None, check=False, timeout=300) -> subprocess.CompletedProcess:
    done = subprocess.run(["bash", str(EXECUTOR), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"executor failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def done_markers(results: Path) -> dict:
    return {p.parent.name: p.stat().st_mtime_ns for p in (results / "lines").glob("*/done.json")}


def trial_rows(results: Path) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in (results / "lines").glob("*/out/*/*_trials.csv")])


# ---------------------------------------------------------------- parsing and ids

def test_lines_parse_with_studies_and_stable_ids():
    text = ("# study: headline\nTrue,1,False,4000,2,python  main.py --a 1\n\n# plain comment\n"
            "False,2,True,8000,4,python main.py --b '2 3'\n# study: other\ntrue,3,false,10,1,python main.py --a 1\n")
    lines = parse_text(text, "x.log")
    assert [(l.line_number, l.execute, l.gpu, l.mem_mb, l.ntasks, l.study) for l in lines] == [
        (2, True, False, 4000, 2, "headline"), (5, False, True, 8000, 4, "headline"), (7, True, False, 10, 1, "other")]
    assert lines[0].line_id == lines[2].line_id == command_id("python main.py   --a 1")
    assert lines[1].words[-1] == "2 3"
    assert [l.line_number for l in executable_lines(lines)] == [2]


@pytest.mark.parametrize("text, message", [
    ("True,1,False,4000,python main.py", "x.log line 1: expected EXECUTE,JOB_ID,GPU,MEM,NTASKS"),
    ("Yes,1,False,4000,1,python main.py", "x.log line 1: EXECUTE must be True or False"),
    ("True,1,False,lots,1,python main.py", "MEM must be a positive whole number"),
    ("True,1,False,100,0,python main.py", "NTASKS must be a positive whole number"),
    ("True,1,False,100,1,   ", "the command is empty"),
    ("True,1,False,100,1,python main.py --x 'open", "cannot be split into words"),
])
def test_malformed_lines_name_file_and_line(text, message):
    with pytest.raises(JobListError, match=message):
        parse_text(text, "x.log")


def test_malformed_job_list_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.log"
    bad.write_text("# study: a\nTrue,1,False,4000,python main.py\n")
    done = executor(bad, "--status")
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {bad} line 2: expected EXECUTE,JOB_ID,GPU,MEM,NTASKS,<command>, found 5 field(s)"


def test_command_gets_own_out_dir_threads_and_shared_pretrained_dir(tmp_path):
    line = parse_text("True,1,False,100,3,python correlation_trainer/main.py --out_dir elsewhere --seed 2")[0]
    argv = build_argv(line, tmp_path / "out", python="/py")
    assert argv == ["/py", "correlation_trainer/main.py", "--seed", "2", "--out_dir", str(tmp_path / "out"),
                    "--threads", "3"]
    shared = tmp_path / "pretrained"
    assert build_argv(line, tmp_path / "out", "/py", shared)[-2:] == ["--pretrained_dir", str(shared)]
    own = parse_text("True,1,False,100,3,python correlation_trainer/main.py --pretrained_dir mine")[0]
    assert build_argv(own, tmp_path / "out", "/py", shared).count("--pretrained_dir") == 1
    other = parse_text("True,1,False,100,1,python other.py")[0]
    assert "--pretrained_dir" not in build_argv(other, tmp_path / "out", "/py", shared)


def test_variant_names_changed_settings():
    assert variant_of({"space": "nb201", "gnn_type": "ensemble", "transfer_epochs": 40, "seed": 3}) == "reference"
    assert variant_of({"space": "fbnet", "representation": "adj_gin_zcp", "gnn_type": "gat", "transfer_epochs": 30,
                       "hwemb_to_mlp": True}) == "hwemb_to_mlp=True gnn_type=gat"
    assert variant_of({"space": "fbnet", "representation": "adj_gin"}) == "representation=adj_gin"
    # the representation is NASFLAT's input: the other methods' rows stay at their reference
    assert variant_of({"space": "fbnet", "predictor": "roofline", "representation": "adj_gin"}) == "reference"
    assert variant_of({"space": "fbnet", "predictor": "nasflat_plus", "representation": "adj_gin"}) != "reference"
    assert variant_of({"space": "nb201", "predictor": "nasflat_plus", "plus_parts": "base"}) == "reference"
    assert variant_of({"space": "nb201", "predictor": "nasflat_plus", "plus_parts": "cost nodes base"}) != "reference"
    # a setting of one method is no variant of another, whatever its row recorded
    assert variant_of({"space": "nb201", "predictor": "help", "plus_parts": "cost nodes base"}) == "reference"
    assert variant_of({"space": "nb201", "plus_parts": "cost nodes base", "meta_episodes": 10}) == "reference"
    assert variant_of({"space": "nb201", "predictor": "help", "meta_episodes": 10}) == "meta_episodes=10"
    # the per-space defaults of main.py are the reference (NB201: no dropout; FBNet: batch 16)
    assert variant_of({"space": "nb201", "dropout": 0.0, "sampling_metric": "flops"}) == "reference"
    assert variant_of({"space": "fbnet", "transfer_batch_size": 16, "sampling_metric": "random"}) == "reference"
    assert variant_of({"space": "nb201", "dropout": 0.1}) == "dropout=0.1"
    assert geometric_mean([0.5, 0.8]) == pytest.approx((0.5 * 0.8) ** 0.5)


# ---------------------------------------------------------------- the repository's job lists

@pytest.mark.parametrize("name", ["unified_joblist.log", "help_unified_joblist.log", "multipredict_unified_joblist.log",
                                  "references_joblist.log", "physics_joblist.log", "encodings_joblist.log",
                                  "samplers_joblist.log"])
def test_repository_job_lists_are_valid(name):
    lines = load_job_list(REPO / "large_run_slurms" / name)
    assert lines
    parser = build_parser()
    for line in lines:
        words = line.words
        assert words[:2] == ["python", "correlation_trainer/main.py"], line
        if not line.execute:
            continue
        args = parser.parse_args(words[2:])  # every flag of a runnable line exists
        needed = {encoding_of(args.representation), args.sampling_metric} & set(list_encodings())
        assert needed <= set(list_encodings()), line
        assert "--out_dir" not in words
        if name not in ("unified_joblist.log", "encodings_joblist.log", "samplers_joblist.log"):
            # the baselines take NASFLAT's 12 tasks and k = 5, 10, 20
            assert args.predictor != "nasflat" and args.transfer_sample_sizes == [5, 10, 20]


def test_sampler_list_runs_every_predictor_with_every_design_sampler_on_the_12_tasks():
    lines = [line for line in load_job_list(REPO / "large_run_slurms" / "samplers_joblist.log") if line.execute]
    parser = build_parser()
    runs = {(a.predictor, a.space, a.task_index, a.sampling_metric)
            for a in (parser.parse_args(line.words[2:]) for line in lines)}
    assert len(runs) == len(lines)  # no experiment twice
    for predictor in ("nasflat", "nasflat_plus", "roofline", "roofline_prior", "help", "multipredict"):
        for metric in ("doptimal", "doptimal_prior", "sequential"):
            for space in ("nb201", "fbnet"):
                assert {t for p, s, t, m in runs if (p, s, m) == (predictor, space, metric)} == {str(t) for t in range(6)}


def test_unified_list_covers_the_studies():
    lines = load_job_list(REPO / "large_run_slurms" / "unified_joblist.log")
    studies = {line.study for line in lines}
    for study in ("headline", "samplers", "encodings", "gnn_type", "hw_embedding", "source_sizes", "from_scratch"):
        assert study in studies
    headline = [l for l in lines if l.study == "headline"]
    assert len(headline) == 12 and all(l.execute for l in headline)
    parser = build_parser()
    parsed = [parser.parse_args(line.words[2:]) for line in lines if line.study == "source_sizes"]
    sizes = {(a.space, a.sample_sizes[0] if a.sample_sizes else "default") for a in parsed}
    assert {("nb201", s) for s in (4, 8, 32, 64, 128, 512, "default")} <= sizes
    scratch = [parser.parse_args(line.words[2:]) for line in lines if line.study == "from_scratch"]
    assert len(scratch) == 12 and all(a.sample_sizes == [0] for a in scratch)
    few_shot = [l for l in lines if l.study == "few_shot_fbnet"]
    args = [parser.parse_args(l.words[2:]) for l in few_shot]
    assert sorted(a.task_index for a in args) == list("012345")
    # The same threads as the headline's FBNet lines: their pretrained models are shared.
    assert {l.ntasks for l in few_shot} == {l.ntasks for l in headline if "fbnet" in l.words}
    assert all(a.space == "fbnet" and a.transfer_sample_sizes == [5, 10] for a in args)


# ---------------------------------------------------------------- local mode

def test_local_run_status_rerun_and_aggregate(tmp_path):
    joblist, results = quick_list(tmp_path / "quick.log"), tmp_path / "results"
    assert "3 pending" in executor(joblist, "--status", "--results", results).stdout
    started = time.perf_counter()
    first = executor(joblist, "--local", 2, "--results", results)
    print(f"local list of 3 lines: {time.perf_counter() - started:.1f} s")
    assert first.returncode == 1, first.stdout + first.stderr  # the failing line; the others ran
    markers = done_markers(results)
    assert len(markers) == 2
    status = executor(joblist, "--status", "--results", results).stdout
    assert "2 done, 0 running, 0 queued, 1 failed, 0 pending; 1 line(s) marked False" in status
    failed_log = results / "logs" / f"{command_id(QUICK + ' --task_index 4242')}.err"
    assert f"log {failed_log}" in status and "error:" in failed_log.read_text()

    again = executor(joblist, "--local", 2, "--results", results)
    assert "2 of 3 line(s) already done; running 1" in again.stdout
    assert done_markers(results) == markers  # nothing re-ran

    executor(joblist, "--aggregate", "--results", results, check=True)
    tidy = pd.read_csv(results / "tidy_results.csv")
    assert len(tidy) == 2 * 2  # 2 lines x 2 target devices x 1 k x 1 trial
    assert not tidy.duplicated(["line_id", "target_device", "source_size", "k", "trial"]).any()
    assert set(tidy["method"]) == {"nasflat"} and set(tidy["study"]) == {"quick"}
    summary = (results / "summary.md").read_text()
    assert "## quick" in summary and "| NQ |" in summary and "geometric mean" in summary
    pngs = sorted(p.name for p in (results / "plots").rglob("*.png"))
    assert pngs == ["NQ_gold_6226.png", "NQ_titan_rtx_256.png", "samp_eff_NQ.png"]


def test_export_keeps_results_and_resumes_elsewhere(tmp_path):
    joblist, results = quick_list(tmp_path / "quick.log", failing=False), tmp_path / "results"
    executor(joblist, "--local", 2, "--results", results, check=True)
    kept = tmp_path / "kept"
    out = executor(joblist, "--export", kept, "--results", results, check=True).stdout
    assert "exported 2 done line(s) of 2" in out
    files = {p.suffix for p in kept.rglob("*") if p.is_file()}
    assert files == {".csv", ".json"}  # no unit npz, weights, logs or locks
    assert "2 done, 0 running" in executor(joblist, "--status", "--results", kept, check=True).stdout
    for folder in (results, kept):
        executor(joblist, "--aggregate", "--no-plots", "--results", folder, check=True)
    columns = ["line_id", "target_device", "k", "trial", "spr", "kdt"]
    original, exported = (pd.read_csv(f / "tidy_results.csv")[columns] for f in (results, kept))
    pd.testing.assert_frame_equal(original, exported)

    longer = quick_list(tmp_path / "longer.log", seeds=(0, 1, 2), failing=False)
    resumed = executor(longer, "--local", 1, "--results", kept, check=True)
    assert "2 of 3 line(s) already done; running 1" in resumed.stdout
    same = executor(joblist, "--export", results, "--results", results)
    assert same.returncode != 0 and "is the results folder itself" in same.stderr


def test_dry_run_changes_nothing(tmp_path):
    joblist, results = quick_list(tmp_path / "quick.log"), tmp_path / "results"
    out = executor(joblist, "--dry-run", "--results", results, check=True).stdout
    assert out.count("pending") == 3 and f"--out_dir {results}/lines/" in out
    assert not (results / "lines").exists()


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_killed_executor_resumes_without_duplicates(tmp_path):
    joblist, results = quick_list(tmp_path / "quick.log", seeds=(0, 1, 2), failing=False), tmp_path / "results"
    process = subprocess.Popen(["bash", str(EXECUTOR), str(joblist), "--local", "1", "--results", str(results)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(done_markers(results)) < 1 and time.time() < deadline:
        time.sleep(0.2)
    assert done_markers(results), "no line finished in time"
    running = None
    while running is None and time.time() < deadline:
        running = next(iter((results / "lines").glob("*/running.json")), None)
        time.sleep(0.1)
    child = None
    while child is None and time.time() < deadline:  # the trainer process started for the next line
        shown = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        child = int(shown[0]) if shown else None
        time.sleep(0.05)
    assert child is not None, "no line in flight when the executor was killed"
    assert f"pid {child} on" in executor(joblist, "--status", "--results", results).stdout
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = done_markers(results)
    assert 1 <= len(before) < 3
    for _ in range(50):
        if not _pid_alive(child):
            break
        time.sleep(0.1)
    assert not _pid_alive(child), "the line in flight outlived its executor"
    status = executor(joblist, "--status", "--results", results).stdout
    assert "interrupted (its process is gone)" in status

    rerun = executor(joblist, "--local", 1, "--results", results)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    after = done_markers(results)
    assert len(after) == 3 and all(after[k] == v for k, v in before.items())
    rows = trial_rows(results)
    assert len(rows) == 3 * 2 and not rows.duplicated(["run_key", "target_device", "trial", "k"]).any()
    assert not list((results / "lines").glob("*/running.json"))


# ---------------------------------------------------------------- real SLURM

@pytest.fixture(scope="module")
def slurm():
    """A running single-node SLURM cluster (skipped where it cannot run, except under CI)."""
    reason = missing_reason()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs a SLURM cluster: {reason}")
        pytest.skip(reason)
    cluster = SlurmCluster()
    try:
        cluster.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        cluster.stop()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the SLURM cluster did not start: {exc}")
        pytest.skip(f"the SLURM cluster did not start: {exc}")
    yield cluster
    cluster.stop()


def test_slurm_array_runs_every_line_once(slurm, tmp_path):
    joblist, results = quick_list(tmp_path / "quick.log"), tmp_path / "results"
    env = slurm.env
    dry = executor(joblist, "--slurm", "--dry-run", "--max-parallel", 2, "--results", results, env=env, check=True)
    assert "--array=0-2%2" in dry.stdout and "--mem=1000M" in dry.stdout and "--cpus-per-task=1" in dry.stdout
    started = time.perf_counter()
    submitted = executor(joblist, "--slurm", "--max-parallel", 2, "--partition", "debug", "--time", "10:00",
                         "--results", results, "--wait", env=env)
    print(f"SLURM list of 3 lines: {time.perf_counter() - started:.1f} s")
    assert "submitted array" in submitted.stdout, submitted.stdout + submitted.stderr
    job = submitted.stdout.split("submitted array ")[1].split(":")[0]
    markers = done_markers(results)
    assert len(markers) == 2, submitted.stdout + "".join(p.read_text() for p in (results / "logs").glob("*"))
    for line_id in markers:
        record = json.loads((results / "lines" / line_id / "done.json").read_text())
        assert record["slurm_job"].startswith(job + "_") and record["exit_status"] == 0
        assert Path(record["stdout"]).is_file() and "results in" in Path(record["stdout"]).read_text()
    status = executor(joblist, "--status", "--results", results, env=env)
    assert "2 done, 0 running, 0 queued, 1 failed" in status.stdout
    assert f"log {results}/logs/{job}_2.err" in status.stdout

    again = executor(joblist, "--slurm", "--results", results, "--wait", env=env)
    assert "2 of 3 line(s) done, running or queued; submitting 1" in again.stdout
    assert done_markers(results) == markers  # nothing re-ran
    rows = trial_rows(results)
    assert len(rows) == 2 * 2 and not rows.duplicated(["run_key", "target_device", "trial", "k"]).any()


def test_slurm_cancel_mid_list_then_resubmit_completes(slurm, tmp_path):
    joblist, results = quick_list(tmp_path / "quick.log", failing=False), tmp_path / "results"
    env = slurm.env
    submitted = executor(joblist, "--slurm", "--max-parallel", 1, "--results", results, env=env, check=True)
    job = submitted.stdout.split("submitted array ")[1].split(":")[0]
    deadline = time.time() + 120
    while "1 running" not in executor(joblist, "--status", "--results", results, env=env).stdout:
        assert time.time() < deadline, "no line started"
        time.sleep(0.3)
    subprocess.run(["scancel", job], env=env, check=True)
    while subprocess.run(["squeue", "-h", "-j", job], env=env, capture_output=True, text=True).stdout.strip():
        assert time.time() < deadline, "the cancelled array stayed in the queue"
        time.sleep(0.3)
    status = executor(joblist, "--status", "--results", results, env=env).stdout
    assert "0 running, 0 queued, 1 failed, 1 pending" in status and "interrupted" in status

    again = executor(joblist, "--slurm", "--results", results, "--wait", env=env)
    assert "0 of 2 line(s) done, running or queued; submitting 2" in again.stdout, again.stdout + again.stderr
    assert "2 done, 0 running, 0 queued, 0 failed, 0 pending" in again.stdout
    rows = trial_rows(results)
    assert len(rows) == 2 * 2 and not rows.duplicated(["run_key", "target_device", "trial", "k"]).any()


def test_comparison_table_from_job_list_results(tmp_path, capsys):
    from jobs.comparison import main as comparison_main

    base = "python correlation_trainer/main.py --task_index 9999 --num_trials 1 --transfer_sample_sizes 5 --no_progress"
    joblist = tmp_path / "comparison.log"
    joblist.write_text(f"# study: headline\nTrue,1,False,1000,1,{base}\n"
                       f"# study: epochs\nTrue,2,False,1000,1,{base} --epochs 3\n"
                       f"# study: references\nTrue,3,False,1000,1,{base} --predictor flops\n"
                       f"True,4,False,1000,1,{base} --predictor closest_device\n"
                       f"# study: few_shot_fbnet\nTrue,5,False,1000,1,{base.replace('sizes 5', 'sizes 10')}\n")
    results = tmp_path / "results"
    executor(joblist, "--local", "1", "--results", results, check=True)
    out = tmp_path / "comparison.md"
    assert comparison_main([str(results), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.strip() in capsys.readouterr().out
    k5, k10 = text.split("k = 10**")
    table = [l for l in k5.splitlines() if l.startswith("| ")]
    methods = [l.split("|")[1].strip() for l in table[1:]]
    assert methods == ["nasflat", "closest_device", "flops"]  # the --epochs 3 variant is left out
    # the few_shot_fbnet study's lines are NASFLAT reference rows too
    assert [l.split("|")[1].strip() for l in k10.splitlines() if l.startswith("| ")][1:] == ["nasflat"]
    assert table[0].split("|")[2].strip() == "NQ" and text.count("**") >= 4
    rows = trial_rows(results)
    flops = rows[rows["predictor"] == "flops"]["spr"].mean()
    assert f"{flops:.3f}" in [c.strip(" *") for c in table[methods.index("flops") + 1].split("|")]
    assert comparison_main([str(tmp_path / "nowhere")]) == 2
