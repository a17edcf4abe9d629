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
