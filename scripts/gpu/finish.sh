#!/usr/bin/env bash
# End a GPU session: stop the background runs (each writes a checkpoint on SIGTERM), bundle the newest EMA
# weights of each run as a solver model (fp16 safetensors, scripts/bundle_model.py --no-onnx), evaluate
# the bundles on the full test sets on the GPU, and bring back the bundles, metrics, logs and evaluations.
# Usage: bash scripts/gpu/finish.sh SUDOKU_RUN_DIR [MAZE_RUN_DIR]    (then scripts/bench_backends.py, see DEVELOPERS.md)
# What comes back ($OUT): {sudoku,maze}.model.safetensors and meta.tgz (cards, metrics, logs, evals). The ONNX export
# and its self-check are CPU work (about 3 minutes of held GPU time for both): run them here afterwards,
#   hrm export onnx solvers/models/sudoku --weights fp16     (likewise maze; DEVELOPERS.md, "Shipping a chunk")
set -uo pipefail
source scripts/gpu/env.sh
sud=$1 maze=${2:-}
pat='[c]li\.main train'  # the bracket keeps pkill from matching a shell whose command line holds this script's text
pkill -TERM -f "$pat"; for _ in $(seq 60); do pgrep -f "$pat" >/dev/null || break; sleep 2; done
mkdir -p "$OUT" /tmp/meta /tmp/bundle
latest() { echo "$1/checkpoints/$(cat "$1/checkpoints/latest")"; }
for pair in "sudoku:$sud" ${maze:+"maze:$maze"}; do
  task=${pair%%:*} run=${pair#*:} ckpt=$(latest "${pair#*:}")
  echo "$task: $ckpt"
  python3 scripts/bundle_model.py --no-onnx "$ckpt" "/tmp/bundle/$task" 2>&1 | tail -n 3
  cp "/tmp/bundle/$task/model.safetensors" "$OUT/$task.model.safetensors"
  cp "/tmp/bundle/$task/model.json" "/tmp/meta/$task.model.json"
  cp "$run/metrics.jsonl" "/tmp/meta/$task.metrics.jsonl"
done
cp runs/*.log /tmp/meta/ 2>/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > /tmp/meta/gpu.txt
tar czf "$OUT/meta.tgz" -C /tmp/meta .
python3 -m cli.main eval sudoku --data data/sudoku/test --model /tmp/bundle/sudoku --backend pytorch --device cuda \
  --no-repair --format json > /tmp/meta/eval_sudoku_gpu.json && tail -c 700 /tmp/meta/eval_sudoku_gpu.json
[ -z "$maze" ] || python3 -m cli.main eval maze --data data/maze/test --model /tmp/bundle/maze --backend pytorch --device cuda \
  --format json > /tmp/meta/eval_maze_gpu.json && tail -c 700 /tmp/meta/eval_maze_gpu.json
tar czf "$OUT/meta.tgz" -C /tmp/meta .
