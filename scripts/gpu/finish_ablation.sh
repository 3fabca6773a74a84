#!/usr/bin/env bash
# End an ARC ablation run on the GPU machine: stop it (it checkpoints on SIGTERM), bundle its checkpoint at STEP (the
# point compared at equal training minutes) and its newest one, and evaluate both at once on all 400 evaluation tasks
# (known route, 32 votes, compiled). What comes back ($OUT): ablation.tgz (evaluations, metrics, cards, version
# tables) and the newest bundle's weights (model.safetensors, fp16).
# Usage: bash scripts/gpu/finish_ablation.sh RUN_DIR STEP [DATA]   (DATA default data/arc-task/test)
set -uo pipefail
source scripts/gpu/env.sh
run=$1 step=$2 data=${3:-data/arc-task/test}
stop_training
mkdir -p /tmp/abl
latest=$(latest_checkpoint "$run")
python3 -m scripts.bundle_model "$run/checkpoints/step_$(printf %06d "$step")" /tmp/b-step 2>&1 | tail -n 1
python3 -m scripts.bundle_model "$latest" /tmp/b-last 2>&1 | tail -n 1
echo "newest: $latest"
for b in step last; do
  python3 -m hrm_sdk.cli.main eval arc --data "$data" --model /tmp/b-$b --backend pytorch --device cuda --batch-size 512 \
    --compile --votes 32 --format json > /tmp/abl/eval-$b.json 2> /tmp/abl/eval-$b.log &
done
wait
cp "$run/metrics.jsonl" /tmp/abl/; cp /tmp/b-last/model.json /tmp/b-last/*.npz /tmp/abl/ 2>/dev/null
echo "$latest" > /tmp/abl/newest.txt
tail -c 600 /tmp/abl/eval-step.json; echo; tail -c 600 /tmp/abl/eval-last.json; echo; tail -n 2 /tmp/abl/*.log
cp /tmp/b-last/model.safetensors "$OUT/model.safetensors"
tar czf "$OUT/ablation.tgz" -C /tmp/abl .
