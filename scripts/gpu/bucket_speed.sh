#!/usr/bin/env bash
# Padded (30x30 canvas) against bucketed (10/15/20/25/30) training speed on the same tasks, one after the other on the
# same GPU: configs/arc-task.toml and configs/arc-task-bucket.toml for STEPS steps each (default 600), then the mean
# samples/s, steps/s and MFU of each run's log lines after the first 200 steps (compilation) and their ratio.
# Builds data/arc-task and data/arc-task-b when missing. Prints one JSON line; also writes runs/bucket-speed.json.
# Usage: bash scripts/gpu/bucket_speed.sh [STEPS]
set -euo pipefail
source scripts/gpu/env.sh
steps=${1:-600}
mkdir -p runs
for cfg in configs/arc-task.toml configs/arc-task-bucket.toml; do
  data=$(python3 -c "import tomllib,sys; print(tomllib.load(open(sys.argv[1],'rb'))['data']['path'])" "$cfg")
  extra=(); [ "$data" = data/arc-task-b ] && extra=(--buckets 10,15,20,25,30)
  [ -d "$data/test" ] || python3 -m hrm_sdk.cli.main data build arc --out "$data" --num-aug 100 --embedding task \
    --with-arc2 "${extra[@]}" > /dev/null
  name=$(basename "$cfg" .toml)
  rm -rf "runs/speed-$name"
  python3 -m hrm_sdk.cli.main train "$cfg" --set train.steps="$steps" --set train.eval_interval=0 \
    --set train.checkpoint_interval=100000 --set run.out_dir="runs/speed-$name" > "runs/speed-$name.log" 2>&1
done
python3 - "$steps" <<'PY' | tee runs/bucket-speed.json
import json, sys
import torch
out = {"steps": int(sys.argv[1]), "device": torch.cuda.get_device_name(0)}
for name in ("arc-task", "arc-task-bucket"):
    recs = [json.loads(l) for l in open(f"runs/speed-{name}/metrics.jsonl") if '"samples_per_s"' in l]
    recs = [r for r in recs if r["step"] > 200]
    out[name] = {k: sum(r[k] for r in recs) / len(recs) for k in ("samples_per_s", "steps_per_s", "mfu")}
out["speedup"] = out["arc-task-bucket"]["samples_per_s"] / out["arc-task"]["samples_per_s"]
print(json.dumps(out))
PY
