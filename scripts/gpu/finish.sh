#!/usr/bin/env bash
# End a GPU session: stop the background runs (each writes a checkpoint on SIGTERM), bundle the newest EMA
# weights of each run as a solver model (fp16 safetensors, scripts/bundle_model.py --no-onnx), evaluate
# the bundles on the full test sets on the GPU, and bring back the bundles, metrics, logs and evaluations.
# Usage: bash scripts/gpu/finish.sh RUN_DIR [RUN_DIR ...]   (a Sudoku and/or a Maze run; the task comes from the
#        checkpoint's model.json; then hrm bench, see DEVELOPERS.md)
# What comes back ($OUT): {sudoku,maze}.model.safetensors and meta.tgz (cards, metrics, logs, evals). The ONNX export
# and its self-check are CPU work (about 3 minutes of held GPU time for both): run them here afterwards,
#   hrm export onnx solvers/models/sudoku --weights fp16 -o solvers/models/sudoku/model.onnx  (likewise maze; DEVELOPERS.md, "Shipping a chunk")
set -uo pipefail
source scripts/gpu/env.sh
[ $# -ge 1 ] || { echo "usage: finish.sh RUN_DIR [RUN_DIR ...]" >&2; exit 2; }
stop_training
mkdir -p "$OUT" /tmp/meta /tmp/bundle
tasks=()
for run in "$@"; do
  ckpt=$(latest_checkpoint "$run")
  task=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["task"])' "$ckpt/model.json")
  tasks+=("$task")
  echo "$task: $ckpt"
  python3 -m scripts.bundle_model --no-onnx "$ckpt" "/tmp/bundle/$task" 2>&1 | tail -n 3
  cp "/tmp/bundle/$task/model.safetensors" "$OUT/$task.model.safetensors"
  cp "/tmp/bundle/$task/model.json" "/tmp/meta/$task.model.json"
  cp "$run/metrics.jsonl" "/tmp/meta/$task.metrics.jsonl"
done
cp runs/*.log /tmp/meta/ 2>/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > /tmp/meta/gpu.txt
tar czf "$OUT/meta.tgz" -C /tmp/meta .
for task in "${tasks[@]}"; do
  extra=(); [ "$task" = sudoku ] && extra=(--no-repair)  # the repair search is CPU work: measured on a CPU sample
  python3 -m hrm_sdk.cli.main eval "$task" --data "data/$task/test" --model "/tmp/bundle/$task" --backend pytorch --device cuda \
    ${extra[@]+"${extra[@]}"} --format json > "/tmp/meta/eval_${task}_gpu.json" && tail -c 700 "/tmp/meta/eval_${task}_gpu.json"
done
tar czf "$OUT/meta.tgz" -C /tmp/meta .
