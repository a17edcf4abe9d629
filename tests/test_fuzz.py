"""Fuzzing the command lines in-process with Hypothesis: generated device files, architecture
strings, job lists, flag values and truncations of every file the project writes.

The property everywhere: the entry point exits 0, or exits 2 with exactly one ``error: ...`` line
(``warning:`` lines may precede it); it never raises (a traceback), and a rerun over a damaged
results folder never loses a row of another run.

Profiles (``NASFLAT_FUZZ_PROFILE``): ``ci`` (default: fixed seed, few examples, well under a
minute) and ``thorough`` (a manual run: many more examples, random seed). With
``NASFLAT_FUZZ_TALLY=FILE`` every generated case appends ``ok`` or ``fail <reason>`` to FILE and
failures do not stop the run (used to count the cases that failed before the fixes).
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from correlation_trainer import predict as predict_cli
from correlation_trainer.main import main as trainer_main
from jobs.executor import main as executor_main
from nas_embedding_suite.cli import main as data_main

REPO = Path(__file__).resolve().parents[1]
THIS_CPU = REPO / "benchmarks" / "own_device" / "nb201_this_cpu.csv"

settings.register_profile("ci", max_examples=12, derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", max_examples=300, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PROFILE = os.environ.get("NASFLAT_FUZZ_PROFILE", "ci")
TALLY = os.environ.get("NASFLAT_FUZZ_TALLY")


def _fuzz(examples: int):
    """Settings of one fuzz test: ``examples`` in the ci profile, the profile's count otherwise."""
    base = settings.get_profile(PROFILE)
    return settings(base, max_examples=examples if PROFILE == "ci" else base.max_examples)


def run_entry(entry: Callable[[List[str]], int], argv: List[str]):
    """(status, stderr, raised) of an in-process command-line run."""
    err = io.StringIO()
    raised = None
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = entry(argv)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # what a user would see as a traceback
            status, raised = None, exc
    return status, err.getvalue(), raised


def failure_of(status, err: str, raised) -> str:
    """Why an outcome breaks the property ('' when it holds)."""
    if raised is not None:
        return f"raised {type(raised).__name__}: {str(raised)[:120]}"
    if "Traceback" in err:
        return "printed a traceback"
    if status == 0:
        return ""
    lines = [line for line in err.strip().splitlines() if not line.startswith("warning:")]
    if status != 2 or len(lines) != 1 or not lines[0].startswith("error: "):
        return f"exit {status} with stderr {err.strip()[:200]!r}"
    return ""


def check(reason: str, case: str) -> None:
    """Record (tally mode) or assert the property for one generated case."""
    if TALLY:
        with open(TALLY, "a", encoding="utf-8") as tally:
            tally.write(("ok" if not reason else f"fail {reason}").replace("\n", " ") + f" | {case[:160]!r}\n")
        return
    assert not reason, f"{case}: {reason}"


def run_and_check(entry, argv: List[str], case: str = "") -> int:
    status, err, raised = run_entry(entry, argv)
    check(failure_of(status, err, raised), case or " ".join(argv))
    return status


@pytest.fixture(autouse=True)
def _no_progress_bars(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")


# ------------------------------------------------------------------ device files

_REAL_ROWS = [line for line in THIS_CPU.read_text().splitlines() if line and not line.startswith("#")][1:]
_GARBAGE = st.one_of(st.text(max_size=12), st.sampled_from(["nan", "inf", "-1", "0", "1e308", "", " ", "|", "\x00"]))


@st.composite
def device_files(draw) -> str:
    """A real measured device file with random damage: rows dropped, doubled, cells replaced,
    headers changed, comment lines added, the text cut short."""
    rows = list(_REAL_ROWS)
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["drop_half", "double", "cell", "latency", "garbage_row", "constant"]))
        position = draw(st.integers(0, max(0, len(rows) - 1)))
        if not rows:
            break
        if kind == "drop_half":
            rows = rows[: len(rows) // 2]
        elif kind == "double":
            rows.insert(position, rows[position])
        elif kind == "cell":
            cells = rows[position].split(",")
            cells[draw(st.integers(0, len(cells) - 1))] = draw(_GARBAGE).replace("\n", "")
            rows[position] = ",".join(cells)
        elif kind == "latency":
            value = draw(st.floats(allow_nan=True, allow_infinity=True))
            rows[position] = ",".join(rows[position].split(",")[:2] + [repr(value)])
        elif kind == "garbage_row":
            rows.insert(position, draw(st.text(max_size=40)).replace("\n", " "))
        else:
            rows = [",".join(row.split(",")[:2] + ["3.0"]) for row in rows]
    header = draw(st.sampled_from(["index,arch,latency_ms", "arch,index,latency_ms", "index,latency_ms",
                                   "index,arch,latency", ""]))
    comments = draw(st.lists(st.sampled_from(["# space: nb201", "# space: fbnet", "# device: fuzz",
                                              "# protocol: {not json", "#", "# space:"]), max_size=3))
    text = "\n".join(comments + [header] + rows) + "\n"
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


@_fuzz(10)
@given(text=device_files())
def test_fuzz_device_files_through_the_trainer(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.csv"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        run_and_check(trainer_main, ["--task_index", "ND", "--predictor", "roofline", "--num_trials", "1",
                                     "--transfer_sample_sizes", "5", "--target_device_file", str(path),
                                     "--out_dir", str(Path(folder) / "r"), "--no_progress"],
                      case=f"device file {text[:120]!r}")


# ------------------------------------------------------------------ architecture strings

_NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


@st.composite
def nb201_like_archs(draw) -> str:
    """Strings near the NB201 grammar: right or wrong ops, edges, separators and lengths."""
    ops = st.one_of(st.sampled_from(_NB201_OPS), st.text(max_size=6))
    nodes = []
    for node in range(draw(st.integers(0, 4))):
        edges = [f"{draw(ops)}~{draw(st.one_of(st.integers(-1, 4), st.text(max_size=2)))}"
                 for _ in range(draw(st.integers(0, node + 2)))]
        nodes.append("|" + "|".join(edges) + "|")
    return draw(st.sampled_from(["+", "++", "-"])).join(nodes)


_ARCHS = st.one_of(nb201_like_archs(), st.text(max_size=30), st.integers(-10, 20000).map(str),
                   st.sampled_from(["1e3", "0x10", "15625", "-0", " 7 ", "[1, 2]", "k3_e1" * 22]))


@_fuzz(25)
@given(arch=_ARCHS, space=st.sampled_from(["nb201", "fbnet"]))
def test_fuzz_arch_strings(arch, space):
    run_and_check(data_main, ["describe-arch", "--space", space, "--", arch])


# ------------------------------------------------------------------ job lists

_FIELD = st.one_of(st.sampled_from(["True", "False", "true", "1", "0", "4000", "-1", "", "x"]), st.text(max_size=6))
_COMMANDS = st.sampled_from([
    "python correlation_trainer/main.py --task_index 9999", "python other.py --x 'open",
    "python correlation_trainer/main.py --out_dir elsewhere", "   ", "python main.py --a \"b c\"",
])


@st.composite
def job_lists(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["line", "study", "comment", "garbage"]))
        if kind == "line":
            fields = [draw(_FIELD) for _ in range(draw(st.integers(3, 6)))]
            lines.append(",".join(fields + [draw(_COMMANDS)]).replace("\n", " "))
        elif kind == "study":
            lines.append(f"# study: {draw(st.text(max_size=8))}".replace("\n", " "))
        elif kind == "comment":
            lines.append("# " + draw(st.text(max_size=20)).replace("\n", " "))
        else:
            lines.append(draw(st.text(max_size=30)).replace("\n", " "))
    return "\n".join(lines) + "\n"


@_fuzz(20)
@given(text=job_lists(), mode=st.sampled_from(["--status", "--dry-run"]))
def test_fuzz_job_lists(text, mode):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "list.log"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        run_and_check(executor_main, [str(path), mode, "--results", str(Path(folder) / "res")],
                      case=f"job list {text[:120]!r} {mode}")


# ------------------------------------------------------------------ flag values

_NUMBERS = st.one_of(st.integers(-3, 5).map(str), st.sampled_from(["nan", "inf", "-inf", "1e-9", "0.5", "", "x", "1.5"]))
_TRAINER_FLAGS = ["--lr", "--transfer_lr", "--weight_decay", "--eta_min", "--dropout", "--supp_dropout",
                  "--epochs", "--num_trials", "--seed", "--threads", "--batch_size", "--ensemble_size",
                  "--transfer_batch_size", "--transfer_sample_sizes", "--sample_sizes", "--meta_episodes"]


@_fuzz(20)
@given(flags=st.lists(st.tuples(st.sampled_from(_TRAINER_FLAGS), _NUMBERS), max_size=4),
       task=st.one_of(st.sampled_from(["ND", "N1", "FA", "9999", "6", "-1"]), st.text(max_size=4)),
       metric=st.sampled_from(["flops", "params", "random", "latency", "bogus"]),
       k=st.integers(-1, 4))
def test_fuzz_trainer_flags(flags, task, metric, k):
    argv = ["--choose_samples", str(k), "--task_index", task, "--sampling_metric", metric, "--no_progress"]
    for flag, value in flags:
        argv += [flag, value]
    run_and_check(trainer_main, argv)


@_fuzz(15)
@given(flags=st.lists(st.tuples(st.sampled_from(["--k", "--warmup", "--repeats", "--batch-size", "--threads",
                                                 "--seed"]), st.integers(-2, 2).map(str)), max_size=3),
       indices=st.lists(_ARCHS, min_size=0, max_size=2), sampler=st.sampled_from([None, "flops", "bogus"]))
def test_fuzz_measure_flags(flags, indices, sampler):
    with tempfile.TemporaryDirectory() as folder:
        argv = ["measure", "--space", "nb201", "--device-name", "fuzz", "--out", str(Path(folder) / "m.csv"),
                "--no-progress", "--warmup", "0", "--repeats", "1"]
        if indices:
            argv += ["--indices", *indices]
        if sampler:
            argv += ["--sampler", sampler]
        for flag, value in flags:
            argv += [flag, value]
        run_and_check(data_main, argv)


# ------------------------------------------------------------------ truncated outputs

def _roofline_run(out: Path, seed: int) -> List[str]:
    return ["--predictor", "roofline", "--seed", str(seed), "--out_dir", str(out), "--name_desc", "x",
            "--num_trials", "1", "--transfer_sample_sizes", "5", "--no_progress"]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """A folder of everything the project writes: two runs' result CSVs and units, a pretrained
    store, a measured device file, a chosen-sample list, a checkpoint and predictions, a job-line
    record and the data hash cache."""
    root = tmp_path_factory.mktemp("written")
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet, contextlib.redirect_stderr(io.StringIO()):
        for seed in (0, 1):
            assert trainer_main(_roofline_run(root / "results", seed)) == 0
        assert trainer_main(["--task_index", "9999", "--epochs", "1", "--transfer_epochs", "1", "--num_trials", "1",
                             "--sample_sizes", "4", "--transfer_sample_sizes", "3", "--no_progress",
                             "--out_dir", str(root / "quick")]) == 0
        assert trainer_main(["--choose_samples", "3", "--write_indices", str(root / "chosen.csv")]) == 0
        assert data_main(["measure", "--space", "nb201", "--device-name", "fuzz", "--indices-file",
                          str(root / "chosen.csv"), "--out", str(root / "device.csv"), "--warmup", "0",
                          "--repeats", "1", "--no-progress"]) == 0
        assert trainer_main(["--task_index", "ND", "--predictor", "roofline", "--num_trials", "1",
                             "--target_device_file", str(THIS_CPU), "--out_dir", str(root / "own"),
                             "--no_progress"]) == 0
        joblist = root / "list.log"
        joblist.write_text("True,1,False,1000,1,python correlation_trainer/main.py --predictor roofline "
                           "--num_trials 1 --transfer_sample_sizes 5 --no_progress\n")
        assert executor_main([str(joblist), "--local", "1", "--results", str(root / "jobs")]) == 0
    return root


def _consumers(root: Path):
    """{relative file: argv that reads it again} for every kind of written file."""
    own = ["--task_index", "ND", "--predictor", "roofline", "--num_trials", "1", "--target_device_file",
           str(THIS_CPU), "--out_dir", str(root / "own"), "--no_progress"]
    quick = ["--task_index", "9999", "--epochs", "1", "--transfer_epochs", "1", "--num_trials", "1",
             "--sample_sizes", "4", "--transfer_sample_sizes", "3", "--no_progress", "--out_dir", str(root / "quick")]
    checkpoint = ["--checkpoint", str(root / "own" / "roofline" / "predictor"), "--archs", "42", "7"]
    measure = ["measure", "--space", "nb201", "--device-name", "fuzz", "--indices-file", str(root / "chosen.csv"),
               "--out", str(root / "device.csv"), "--warmup", "0", "--repeats", "1", "--no-progress"]
    rerun = (trainer_main, _roofline_run(root / "results", 0))
    files = {f"results/x/{name}": rerun for name in ("nb201_trials.csv", "nb201_samp_eff.csv",
                                                     "aggr_nb201_samp_eff.csv")}
    files.update({str(p.relative_to(root)): rerun for p in (root / "results" / "x" / "units").glob("*.npz")})
    files.update({str(p.relative_to(root)): (trainer_main, quick) for p in (root / "quick" / "pretrained").glob("*")})
    files.update({
        "chosen.csv": (data_main, measure), "device.csv": (data_main, measure),
        "own/roofline/predictor/predictor.pt": (predict_cli.main, checkpoint),
        "own/roofline/predictor/predictor.json": (predict_cli.main, checkpoint),
        "own/roofline/this_cpu_predictions.csv": (trainer_main, own),
        "own/roofline/new_device_evaluation.csv": (trainer_main, own),
    })
    joblist = root / "list.log"
    for path in (root / "jobs" / "lines").glob("*/*.json"):
        files[str(path.relative_to(root))] = (executor_main, [str(joblist), "--status", "--results", str(root / "jobs")])
    return files


def _other_runs_rows(folder: Path) -> dict:
    """{result CSV: set of complete lines of the seed-1 run}, the rows a rerun of seed 0 must keep."""
    rows = {}
    for path in folder.glob("results/x/*.csv"):
        lines = path.read_text().splitlines()
        position = lines[0].split(",").index("seed")
        rows[path.name] = {line for line in lines[1:] if line.split(",")[position:position + 1] == ["1"]}
    return rows


_WRITTEN_KINDS = ["results/x/nb201_trials.csv", "results/x/nb201_samp_eff.csv", "results/x/aggr_nb201_samp_eff.csv",
                  "unit", "pretrained", "chosen.csv", "device.csv", "own/roofline/predictor/predictor.pt",
                  "own/roofline/predictor/predictor.json", "own/roofline/this_cpu_predictions.csv", "job line"]


@pytest.mark.parametrize("kind", _WRITTEN_KINDS)
@_fuzz(3)
@given(fraction=st.floats(0.0, 1.0), garbage=st.binary(max_size=8))
def test_fuzz_truncated_outputs(written, kind, fraction, garbage):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "copy"
        shutil.copytree(written, root)
        consumers = _consumers(root)
        prefix = {"unit": "results/x/units/", "pretrained": "quick/pretrained/", "job line": "jobs/lines/"}.get(kind)
        names = sorted(n for n in consumers if n.startswith(prefix)) if prefix else [kind]
        name = names[int(fraction * 1000) % len(names)]
        before = _other_runs_rows(root)
        path = root / name
        raw = path.read_bytes()
        cut = int(len(raw) * fraction)
        path.write_bytes(raw[:cut] + (garbage if cut < len(raw) else b""))
        entry, argv = consumers[name]
        case = f"{name} cut to {cut} of {len(raw)} bytes + {garbage!r}"
        status = run_and_check(entry, argv, case)
        if name.startswith("results/x/") and name.endswith(".csv") and status == 0:
            after = _other_runs_rows(root)
            for csv_name, rows in before.items():
                damaged_here = csv_name == Path(name).name
                lost = rows - after.get(csv_name, set())
                if damaged_here:  # the torn row itself may be rebuilt or gone; the intact ones stay
                    intact = {line for line in raw[:cut].decode(errors="replace").splitlines()[:-1]}
                    lost &= intact
                check(f"lost {len(lost)} row(s) of another run in {csv_name}" if lost else "", case)


def test_fuzz_profile_is_known():
    assert PROFILE in ("ci", "thorough"), f"NASFLAT_FUZZ_PROFILE={PROFILE}: use ci or thorough"
