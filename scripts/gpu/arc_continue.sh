#!/usr/bin/env bash
# Continue the bundled ARC model on the GPU machine: build data/arc (seed 0: the bundle's version table),
# evaluate the bundle on all 400 evaluation tasks (known route, compiled; the learning curve's starting
# point), then train configs/arc-small.toml from it until stopped (finish_arc.sh stops, bundles, evaluates).
# Usage: setsid nohup bash scripts/gpu/arc_continue.sh [hrm train options] > runs/arc-continue.log 2>&1 &
# Outputs: runs/eval-start.json (+ .log), runs/arc-small.log, runs/arc-small/ (checkpoints, metrics).
set -euo pipefail
source scripts/gpu/env.sh
mkdir -p runs
[ -d data/arc/test ] || python3 -m hrm_sdk.cli.main data build arc --out data/arc --num-aug 32
python3 -m hrm_sdk.cli.main eval arc --data data/arc/test --model solvers/models/arc --backend pytorch --device cuda \
  --batch-size 512 --compile --format json > runs/eval-start.json 2> runs/eval-start.log || true
exec python3 -m hrm_sdk.cli.main train configs/arc-small.toml --set run.init_from=solvers/models/arc "$@" > runs/arc-small.log 2>&1
