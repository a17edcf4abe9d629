#!/usr/bin/env bash
# Runs the 12-task reference table (docs/reproduction.md): NB201 tasks with 16 source archs and
# 5 trials, FBNet tasks with 800 source archs and the ZCP encoding. Extra arguments are passed to
# every FBNet run (e.g. --epochs 40 --num_trials 1 for a shorter run on a small CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT_DIR:-results}"
PY="${PYTHON:-.venv/bin/python}"
for task in 0 1 2 3 4 5; do
  "$PY" correlation_trainer/main.py --space nb201 --task_index "$task" --num_trials 5 \
    --transfer_sample_sizes 5 10 20 --name_desc table_nb201 --out_dir "$OUT" --no_progress
done
for task in 0 1 2 3 4 5; do
  "$PY" correlation_trainer/main.py --space fbnet --task_index "$task" --representation adj_gin_zcp \
    --transfer_sample_sizes 20 --name_desc table_fbnet --out_dir "$OUT" --no_progress "$@"
done
