"""What version of the code produced a result: the git commit and a fingerprint of the sources.

Every result row records both (``code_commit``, ``code_fingerprint``); the fingerprint also keys
the pretrained store, so that weights trained by other code are never reused.
"""
from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("correlation_trainer", "nas_embedding_suite")


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of every Python source file of the two packages (path and content)."""
    digest = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The checkout's commit (with ``+dirty`` when tracked files differ from it), or ``unknown``
    outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return "unknown"
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    dirty = "+dirty" if status.returncode == 0 and status.stdout.strip() else ""
    return commit.stdout.strip()[:12] + dirty
