#!/usr/bin/env bash
# Copy the newest checkpoint of a run to $OUT in parts under 16 MB: model.json, model.safetensors (EMA
# weights) and the raw weights (param.* of train_state), plus metrics.jsonl and the log.
# Reassemble here with: cat model.safetensors.part* > model.safetensors (likewise raw).
set -euo pipefail
source scripts/gpu/env.sh
run=$1 name=$2
ckpt=$(latest_checkpoint "$run")
mkdir -p "$OUT"
cp "$ckpt/model.json" "$run/metrics.jsonl" "$OUT/"
cp "runs/$name.log" "$OUT/train.log" 2>/dev/null || true
split -b 15m -d "$ckpt/model.safetensors" "$OUT/model.safetensors.part"
python3 - "$ckpt" <<'PY'
import sys
from safetensors.torch import load_file, save_file
s = load_file(f"{sys.argv[1]}/train_state.safetensors")
save_file({k: v for k, v in s.items() if k.startswith("param.")}, "/tmp/raw.safetensors")
PY
split -b 15m -d /tmp/raw.safetensors "$OUT/train_state.safetensors.part"
ls -la "$OUT"
