"""The code's shape: layers point down (import-linter contracts), no cycles, no script imported,
no private names imported across modules, no ``sys.path`` patching, and the package metadata in
step with the pinned requirements."""
from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("nas_embedding_suite", "correlation_trainer", "jobs")
SCRIPT_FOLDERS = ("benchmarks", "large_run_slurms")
SCRIPTS = {"correlation_trainer.main", "correlation_trainer.predict", "correlation_trainer.search",
           "nas_embedding_suite.cli", "jobs.executor"}


def project_files(*folders: str):
    for folder in folders:
        yield from sorted((REPO / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path):
    """(line, absolute module, imported names) of every ``from ... import`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield node.lineno, module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail("import-linter is not installed (it is in requirements.txt)")
    done = subprocess.run([str(lint), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "broken" not in done.stdout.split("Contracts:")[-1].split("kept")[0]


def test_no_private_names_are_imported_across_modules():
    found = []
    for path in project_files(*PACKAGES, *SCRIPT_FOLDERS):
        for line, module, names in imports_of(path):
            if module.split(".")[0] in PACKAGES:
                found += [f"{path.relative_to(REPO)}:{line} imports {module}.{n}" for n in names
                          if n.startswith("_") and not n.startswith("__")]
    assert not found, "\n".join(found)


def test_benchmarks_and_job_list_builders_import_no_script():
    found = [f"{path.relative_to(REPO)}:{line} imports {module}"
             for path in project_files(*SCRIPT_FOLDERS) for line, module, names in imports_of(path)
             if module in SCRIPTS or any(f"{module}.{n}" in SCRIPTS for n in names)]
    assert not found, "\n".join(found)


def _patches_sys_path(path: Path) -> bool:
    """Whether ``path`` calls ``sys.path.insert`` / ``append`` / ``extend`` anywhere."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("insert", "append", "extend") and ast.unparse(node.func.value) == "sys.path":
            return True
    return False


def test_nothing_patches_sys_path():
    found = [str(path.relative_to(REPO)) for path in project_files(*PACKAGES, *SCRIPT_FOLDERS, "tests")
             if _patches_sys_path(path)]
    assert not found, found


def test_package_metadata_matches_the_pinned_requirements():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    pinned = {line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert declared == pinned
    scripts = project["scripts"]
    assert {"nasflat-data", "nasflat-train", "nasflat-predict", "nasflat-jobs"} <= set(scripts)
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function)), target
