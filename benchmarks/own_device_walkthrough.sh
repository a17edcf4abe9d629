#!/usr/bin/env bash
# The own-device walkthrough (README, docs/own_device.md), end to end on this machine, timed:
# NB201 (20 chosen + 300 random architectures, task ND) and FBNet (20 chosen + 100 random, task FD).
#   bash benchmarks/own_device_walkthrough.sh [DEVICE_NAME]      (default: this_cpu)
# Measurements go to measurements/, results to results/<DEVICE_NAME>_nb201 and _fbnet.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
NAME=${1:-this_cpu}
START=$SECONDS
step() { local t=$SECONDS; echo "+ $*"; "$@"; echo "  ($((SECONDS - t)) s)"; }

step $PY correlation_trainer/main.py --space nb201 --task_index ND --choose_samples 20 \
    --write_indices measurements/nb201_chosen.csv
step $PY -m nas_embedding_suite measure --space nb201 --device-name "$NAME" --sampler flops --k 20 \
    --out "measurements/nb201_$NAME.csv"
step $PY -m nas_embedding_suite measure --space nb201 --device-name "$NAME" --sampler random --k 300 \
    --seed 1 --out "measurements/nb201_$NAME.csv"
step $PY correlation_trainer/main.py --space nb201 --task_index ND \
    --target_device_file "measurements/nb201_$NAME.csv" --name_desc "${NAME}_nb201"
step $PY correlation_trainer/predict.py --checkpoint "results/${NAME}_nb201/predictor" \
    --archs "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|" 42

step $PY -m nas_embedding_suite measure --space fbnet --device-name "$NAME" --sampler flops --k 20 \
    --out "measurements/fbnet_$NAME.csv"
step $PY -m nas_embedding_suite measure --space fbnet --device-name "$NAME" --sampler random --k 100 \
    --seed 1 --out "measurements/fbnet_$NAME.csv"
step $PY correlation_trainer/main.py --space fbnet --task_index FD --representation adj_gin_zcp \
    --sampling_metric flops --epochs 30 --num_trials 1 --threads 1 \
    --target_device_file "measurements/fbnet_$NAME.csv" --name_desc "${NAME}_fbnet"
# the cost-feature predictor on the same measurements: no pretraining, a fit on the 20 samples
step $PY correlation_trainer/main.py --space fbnet --task_index FD --predictor roofline \
    --sampling_metric flops --num_trials 1 \
    --target_device_file "measurements/fbnet_$NAME.csv" --name_desc "${NAME}_fbnet_roofline"
step $PY correlation_trainer/main.py --space nb201 --task_index ND --predictor roofline --num_trials 1 \
    --target_device_file "measurements/nb201_$NAME.csv" --name_desc "${NAME}_nb201_roofline"

echo "walkthrough: $((SECONDS - START)) s"
