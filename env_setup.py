#!/usr/bin/env python3
"""Set up the project on a fresh machine and run its main job or its tests.

    python3 env_setup.py            create .venv, install requirements.txt, verify the data
    python3 env_setup.py run [...]  set up, then run correlation_trainer/main.py (extra args pass through)
    python3 env_setup.py test [...] set up (and, as root on Debian, install slurm-wlm and munge for
                                    the SLURM tests), then run pytest (extra args pass through)
    python3 env_setup.py download [--dest DIR]  set up, then fetch the data from its public origins

Idempotent: the virtual environment is reused and packages are reinstalled only when
requirements.txt changes. The data directory is taken from --data_dir / NASFLAT_DATA_DIR, else
./data, else ../shared/data (see README).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
REQUIREMENTS = ROOT / "requirements.txt"
PYPROJECT = ROOT / "pyproject.toml"
STAMP = VENV / ".requirements.sha256"


def log(message: str) -> None:
    print(f"[env_setup] {message}", flush=True)


def ensure_venv() -> None:
    """Create .venv, install the pinned requirements and the project itself (editable, with its
    console scripts) unless that is already done for these requirements and pyproject.toml."""
    if not PYTHON.exists():
        log(f"creating virtual environment {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes() + PYPROJECT.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    log("installing requirements.txt (torch CPU build first) and the project (pip install -e .)")
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    torch_pin = next(line for line in REQUIREMENTS.read_text().splitlines() if line.startswith("torch=="))
    subprocess.run(pip + [torch_pin], check=True)
    subprocess.run(pip + ["-r", str(REQUIREMENTS)], check=True)
    subprocess.run(pip + ["--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)


def run_python(args) -> int:
    return subprocess.run([str(PYTHON), *args], cwd=ROOT).returncode


def verify_data() -> int:
    log("verifying data files against SHA256SUMS")
    return run_python(["-m", "nas_embedding_suite", "verify", "--quiet"])


def ensure_slurm() -> None:
    """Install Debian's slurm-wlm and munge for the real-cluster tests when missing (root + apt only).

    Elsewhere nothing is installed and those tests skip themselves (they fail instead under CI).
    """
    daemons = ("slurmctld", "slurmd", "munged")
    if all(shutil.which(d) or Path("/usr/sbin", d).exists() for d in daemons):
        return
    if not shutil.which("apt-get") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        log("slurm-wlm/munge not installed and cannot be installed here: the SLURM tests will skip")
        return
    log("installing slurm-wlm and munge (apt-get) for the SLURM tests")
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    subprocess.run(["apt-get", "update", "-qq"], check=True, **quiet)
    subprocess.run(["apt-get", "install", "-y", "-qq", "slurm-wlm", "munge"], check=True, **quiet)


def main(argv) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("setup", [])
    if command in ("-h", "--help"):
        print(__doc__)
        return 0
    if command not in ("setup", "run", "test", "download"):
        print(f"error: unknown command '{command}'; valid: setup, run, test, download", file=sys.stderr)
        return 2
    try:
        ensure_venv()
    except subprocess.CalledProcessError as exc:
        print(f"error: installing requirements failed ({exc})", file=sys.stderr)
        return 1
    if command == "download":
        return run_python(["-m", "nas_embedding_suite", "download", *rest])
    status = verify_data()
    if status != 0:
        return status
    if command == "run":
        return run_python(["correlation_trainer/main.py", *rest])
    if command == "test":
        try:
            ensure_slurm()
        except subprocess.CalledProcessError as exc:
            print(f"error: installing slurm-wlm and munge failed ({exc})", file=sys.stderr)
            return 1
        return run_python(["-m", "pytest", *rest])
    log("ready: run `python3 env_setup.py run` or `python3 env_setup.py test`")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
