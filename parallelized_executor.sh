#!/usr/bin/env bash
# Run a job list on SLURM (--slurm) or on this machine (--local N), resumably; see --help.
# Uses the project's .venv unless PYTHON names another interpreter.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m jobs.executor "$@"
