#!/usr/bin/env bash
# End a GPU session: stop the background runs (each writes a checkpoint on SIGTERM), bring back the newest EMA
# weights of each run, evaluate them on the full test sets on the GPU, then benchmark the backends on the
# Sudoku model. Usage: bash scripts/gpu/finish.sh SUDOKU_RUN_DIR MAZE_RUN_DIR
set -uo pipefail
source scripts/gpu/env.sh
sud=$1 maze=$2
pkill -TERM -f "cli.main train" ; for _ in $(seq 60); do pgrep -f "cli.main train" >/dev/null || break; sleep 2; done
mkdir -p "$OUT" /tmp/meta
latest() { echo "$1/checkpoints/$(cat "$1/checkpoints/latest")"; }
S=$(latest "$sud"); M=$(latest "$maze"); echo "sudoku: $S  maze: $M"
split -b 15m -d "$S/model.safetensors" "$OUT/sudoku.model.safetensors.part"
cp "$M/model.safetensors" "$OUT/maze.model.safetensors"
cp "$S/model.json" /tmp/meta/sudoku.model.json; cp "$M/model.json" /tmp/meta/maze.model.json
cp "$sud/metrics.jsonl" /tmp/meta/sudoku.metrics.jsonl; cp "$maze/metrics.jsonl" /tmp/meta/maze.metrics.jsonl
cp runs/*.log /tmp/meta/ 2>/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > /tmp/meta/gpu.txt
tar czf "$OUT/meta.tgz" -C /tmp/meta .
python3 -m cli.main eval sudoku --data data/sudoku/test --model "$S" --backend pytorch --device cuda --no-repair \
  --format json > /tmp/meta/eval_sudoku_gpu.json && tail -c 600 /tmp/meta/eval_sudoku_gpu.json
python3 -m cli.main eval maze --data data/maze/test --model "$M" --backend pytorch --device cuda \
  --format json > /tmp/meta/eval_maze_gpu.json && tail -c 600 /tmp/meta/eval_maze_gpu.json
tar czf "$OUT/meta.tgz" -C /tmp/meta .
python3 -m cli.main export onnx "$S" --out /tmp/sudoku.onnx --format json | tail -c 400
python3 scripts/bench_backends.py --model "$S" --onnx /tmp/sudoku.onnx --data data/sudoku/test --n 1000 \
  --n-cpu 32 --batch 256 --parity 64 --out "$OUT/bench.json" 2>&1 | grep -v Warning | tee "$OUT/bench.log" | tail -12
