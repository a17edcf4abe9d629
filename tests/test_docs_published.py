"""The documentation cannot drift from the results: every marked table block of README.md and
docs/ equals what its record generates, docs/cli.md equals what the parsers give, and the README
stays a short user's guide."""
import re
import shutil
from pathlib import Path

import pytest

from jobs.publish import BLOCK, REPO, load_spec, main, publish, render

README = REPO / "README.md"


def test_every_table_and_the_cli_reference_are_as_generated():
    stale = publish(REPO, check=True, say=lambda _: None)
    assert not stale, "run `python -m jobs.publish`: " + "; ".join(f"{s.path}: {s.name}" for s in stale)


def test_every_table_definition_is_published_once():
    spec = load_spec()
    placed = [m.group("name") for path in [README, *sorted((REPO / "docs").glob("*.md"))]
              for m in BLOCK.finditer(path.read_text(encoding="utf-8"))]
    assert sorted(placed) == sorted(spec), "each table of results_records/tables.yaml sits in one block"


def test_every_table_states_its_record_and_provenance():
    spec = load_spec()
    for name, definition in spec.items():
        text = render(name, definition)
        assert definition["record"] in text and text.count("\n| ") >= 2, name
        assert "Record `" in text and ("not kept" in text or "trial rows" in text or "published" in text), name


def test_a_hand_edited_table_is_found(tmp_path):
    for part in ("README.md", "docs", "results_records"):
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / part)
    page = tmp_path / "docs" / "reproduction.md"
    text = page.read_text(encoding="utf-8")
    page.write_text(text.replace("| ND | 0.834", "| ND | 0.934", 1), encoding="utf-8")
    stale = publish(tmp_path, check=True, say=lambda _: None)
    assert [(str(s.path), s.name) for s in stale] == [("docs/reproduction.md", "reproduction_nb201")]
    publish(tmp_path, say=lambda _: None)  # writing repairs it
    assert page.read_text(encoding="utf-8") == text
    assert not publish(tmp_path, check=True, say=lambda _: None)


def test_check_exit_status_and_one_line_errors(tmp_path, capsys):
    assert main(["--check"]) == 0
    assert main(["record", str(tmp_path), "--out", str(tmp_path / "r.csv")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: ")


def test_readme_is_a_short_guide_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    assert "python3 env_setup.py run" in text and "python3 env_setup.py test" in text
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (REPO / link).exists(), link


def test_doc_links_point_to_existing_pages_and_anchors():
    def anchors(path: Path):
        out = set()
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^#+ (.*)", line)
            if match:
                out.add(re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-"))
        return out

    for page in [README, *sorted((REPO / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target, anchor in re.findall(r"\]\(([^)#\s]*\.md|)(?:#([^)\s]+))?\)", text):
            path = (page.parent / target).resolve() if target else page
            assert path.exists(), f"{page.name}: {target}"
            if anchor:
                assert anchor in anchors(path), f"{page.name}: {target}#{anchor}"


@pytest.mark.parametrize("module", ["correlation_trainer.main", "nas_embedding_suite.cli", "jobs.executor"])
def test_cli_reference_lists_every_flag(module):
    import importlib

    parser = importlib.import_module(module).build_parser()
    reference = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    flags = [s for a in parser._actions for s in a.option_strings
             if s.startswith("--") and s != "--help" and a.help != "==SUPPRESS=="]
    assert flags and all(f"`{flag}" in reference or f", {flag}" in reference for flag in flags)


def test_committed_records_name_no_machine_paths():
    from jobs.line_state import read_json

    markers = sorted((REPO / "large_run_slurms" / "records").glob("*/lines/*/done.json"))
    assert markers
    for marker in markers:
        record = read_json(marker)
        assert not any(str(value).startswith("/") for value in record.values()), marker
    for record in (REPO / "results_records").glob("**/*.csv"):
        assert "/work/" not in record.read_text(encoding="utf-8") and "/home/" not in record.read_text(encoding="utf-8")


def test_exported_markers_name_their_logs_relative_to_the_results_folder(tmp_path):
    from jobs.export import portable_marker

    marker = {"id": "abc", "stdout": str(tmp_path / "logs" / "abc.out"), "stderr": "/elsewhere/logs/abc.err",
              "wall_s": 1.0}
    assert portable_marker(marker, tmp_path) == {"id": "abc", "stdout": "logs/abc.out",
                                                 "stderr": "logs/abc.err", "wall_s": 1.0}


def _record(relative: str):
    import pandas as pd

    return pd.read_csv(REPO / relative, dtype=str, keep_default_na=False)


def test_transcribed_cells_agree_with_the_committed_raw_rows():
    """Where a transcribed table's rows also have committed trial rows (the NB201 random-member
    samplers, the everything-on runs, the CATE lines of the supplementary study), the transcription
    is what those rows give."""
    from jobs.aggregate import collect, geometric_mean, summarise

    tidy = collect(REPO / "large_run_slurms" / "records" / "encodings_joblist")
    tasks = ["ND", "N1", "N2", "N3", "N4", "NA"]

    def summary(study, k=20, seed=None, contains="", lacks=None):
        rows = tidy[(tidy["study"] == study) & (tidy["k"] == k) & tidy["variant"].str.contains(contains, regex=False)]
        if lacks:
            rows = rows[~rows["variant"].str.contains(lacks, regex=False)]
        if seed is not None:
            rows = rows[rows["seed"].astype(int) == seed]
        frame = summarise(rows).set_index("task")
        assert frame["variant"].nunique() == 1 and len(frame) >= 5
        return frame

    checked = 0
    for k in (5, 20):
        record = _record(f"results_records/samplers/samplers_nb201_k{k}.csv").set_index("sampler")
        for metric, label in (("arch2vec", "arch2vec"), ("cate", "cate"), ("zcp", "zcp"), ("a2vcatezcp", "CAZ")):
            frame = summary("samplers_random_member", k, contains=f"sampling_metric={metric} ")
            shown = [record.loc[f"{label}, random member", t].strip("*") for t in tasks + ["gm"]]
            assert shown == [f"{frame.loc[t, 'spr']:.3f}" for t in tasks] + \
                [f"{geometric_mean(frame.loc[tasks, 'spr']):.3f}"], (k, label)
            checked += 1
        cate = summary("supplementary", k, contains="representation=adj_gin_cate")
        row = _record(f"results_records/encodings/supplementary_nb201_k{k}.csv").set_index("representation").loc["cate"]
        assert [row[t] for t in tasks[1:]] == [f"{cate.loc[t, 'spr']:.3f} ± {cate.loc[t, 'spr_std']:.3f}" for t in tasks[1:]]
        checked += 1
    runs = _record("results_records/encodings/all_on_runs.csv").set_index("run")
    for label, args in [("both changes, seed 0 (`all_on_regularised`)", ("all_on_regularised",)),
                        ("both changes, seed 1", ("all_on_seed_1", 20, None, "", "dropout=0.05")),
                        ("+ head dropout 0.05, seed 0 (`all_on_head_dropout`)", ("all_on_head_dropout",)),
                        ("+ head dropout 0.05, seed 1", ("all_on_seed_1", 20, None, "dropout=0.05")),
                        ("+ head dropout 0.05, seed 2", ("all_on_seed_2",)),
                        ("+ ensemble of 3, seed 0 (`all_on_ensemble`)", ("all_on_ensemble", 20, 0)),
                        ("+ ensemble of 3, seed 1", ("all_on_ensemble", 20, 1)),
                        ("+ ensemble of 3, seed 2", ("all_on_ensemble", 20, 2))]:
        frame = summary(*args)
        assert [runs.loc[label, t] for t in tasks] == \
            [f"{frame.loc[t, 'spr']:.4f} ± {frame.loc[t, 'spr_std']:.3f}" for t in tasks], label
        checked += 1
    assert checked == 18


def test_the_summary_column_of_trial_rows_is_their_geometric_mean():
    import numpy as np
    import pandas as pd

    spec = load_spec()["headline_summary"]
    label, source = next(iter(spec["trial_methods"].items()))
    rows = pd.read_csv(REPO / source["record"], keep_default_na=False, na_values=[""])
    rows = rows[(rows["method"] == source["method"]) & (rows["variant"] == source["variant"])]
    table = render("headline_summary", spec)
    header = next(line for line in table.splitlines() if line.startswith("| space"))
    column = [c.strip() for c in header.strip("|").split("|")].index(label)
    for space, tasks in spec["spaces"].items():
        for k in spec["k"]:
            chosen = rows[(rows["space"] == space) & (rows["k"] == k)]
            # average over a task's targets within each trial, then over trials; geometric mean over tasks
            per_task = chosen.groupby(["task", "trial"])["spr"].mean().groupby("task").mean()
            expected = float(np.exp(np.log(per_task[tasks]).mean()))
            line = next(line for line in table.splitlines() if line.startswith(f"| {space} | {k} |"))
            assert float(line.strip("|").split("|")[column]) == pytest.approx(expected, abs=5e-4)
