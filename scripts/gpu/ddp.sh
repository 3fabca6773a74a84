#!/usr/bin/env bash
# Data-parallel check on a machine with 2 GPUs (nvidia-h200-x2): the Sudoku config from scratch on 1 GPU, with
# a second seed on the other GPU at the same time (the size of run-to-run noise); then on 2 GPUs through
# torchrun with the same global batch; then the 2-GPU run's last checkpoint resumed on 1 GPU. It goes to the
# background at once; follow runs/ddp.log (bash scripts/gpu/ddp.sh --watch 540), and when it has finished
# runs/ddp-results.tgz holds the metrics, the logs and runs/ddp-compare.{md,json} (scripts/compare_runs.py).
#   bash scripts/gpu/ddp.sh [STEPS [DDP_STEPS]]      # default 3000 steps, the 2-GPU run stopping at 2500
set -euo pipefail
if [ "${1:-}" = "--watch" ]; then  # follow for up to $2 seconds, leaving early once it has finished
  end=$(( $(date +%s) + ${2:-540} ))
  while [ "$(date +%s)" -lt "$end" ] && ! grep -q "^DDP CHECK DONE" runs/ddp.log; do sleep 10; done
  tail -n 30 runs/ddp.log
  for f in runs/ddp-*.log; do echo "== $f"; grep -v '^\s*$' "$f" | tail -n 3; done
  exit 0
fi
if [ -z "${DDP_BACKGROUND:-}" ]; then
  mkdir -p runs
  DDP_BACKGROUND=1 setsid nohup bash "$0" "$@" > runs/ddp.log 2>&1 < /dev/null &
  echo "started the data-parallel check (pid $!); follow runs/ddp.log"
  exit 0
fi
steps=${1:-3000} ddp_steps=${2:-2500}
source scripts/gpu/env.sh
trap 'echo "DDP CHECK DONE: FAILED at line $LINENO"' ERR
set -x
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader
nvidia-smi topo -m || true
python3 -c 'import torch; print("torch", torch.__version__, "nccl", torch.cuda.nccl.version(), "gpus", torch.cuda.device_count())'
env | grep -E '^(NCCL_NVLS_ENABLE|TORCH_SYMM_MEM_DISABLE_MULTICAST|NVSHMEM_DISABLE_NVLS)='
bash scripts/gpu/data.sh sudoku

# The puzzle-embedding update sums the gradients of duplicate ids: check that it is bit-reproducible on CUDA.
python3 - <<'PY'
import torch
from hrm_sdk.training.distributed import fingerprint
g = torch.Generator(device="cuda").manual_seed(0)
ids = torch.randint(0, 8, (768,), device="cuda", generator=g)
grads = torch.randn(768, 16 * 512, device="cuda", generator=g)
for name in ("index_put_ accumulate (used)", "index_add_ (atomics)"):
    prints = set()
    for _ in range(50):
        s = torch.zeros(8, 16 * 512, device="cuda")
        s.index_put_((ids,), grads, accumulate=True) if name.startswith("index_put_") else s.index_add_(0, ids, grads)
        prints.add(int(fingerprint(s)))
    print(f"{name}: {len(prints)} distinct result(s) in 50 repeats")
PY

common=(--set train.eval_interval=1000 --set train.checkpoint_interval=500)
CUDA_VISIBLE_DEVICES=0 python3 -m hrm_sdk.cli.main train configs/sudoku.toml "${common[@]}" --set train.steps="$steps" \
  --set run.out_dir=runs/ddp-1gpu > runs/ddp-1gpu.log 2>&1 &
one=$!
CUDA_VISIBLE_DEVICES=1 python3 -m hrm_sdk.cli.main train configs/sudoku.toml "${common[@]}" --set train.steps="$steps" \
  --set run.out_dir=runs/ddp-1gpu-seed1 --set run.seed=1 > runs/ddp-1gpu-seed1.log 2>&1 &
seed1=$!
wait "$one"
wait "$seed1"
python3 -m torch.distributed.run --standalone --nproc_per_node=2 -m hrm_sdk.cli.main train configs/sudoku.toml \
  "${common[@]}" --set train.steps="$ddp_steps" --set run.out_dir=runs/ddp-2gpu > runs/ddp-2gpu.log 2>&1
ls runs/ddp-2gpu/checkpoints
CUDA_VISIBLE_DEVICES=0 python3 -m hrm_sdk.cli.main train configs/sudoku.toml "${common[@]}" --set train.steps="$steps" \
  --set run.out_dir=runs/ddp-2gpu --resume > runs/ddp-resume.log 2>&1
ls runs/ddp-2gpu/checkpoints
runs=(1gpu=runs/ddp-1gpu/metrics.jsonl 2gpu-then-1=runs/ddp-2gpu/metrics.jsonl 1gpu-seed1=runs/ddp-1gpu-seed1/metrics.jsonl)
python3 scripts/compare_runs.py "${runs[@]}" > runs/ddp-compare.md
python3 scripts/compare_runs.py "${runs[@]}" --format json > runs/ddp-compare.json
cat runs/ddp-compare.md
for r in ddp-1gpu ddp-1gpu-seed1 ddp-2gpu; do cp "runs/$r/metrics.jsonl" "runs/$r.metrics.jsonl"; done
tar czf runs/ddp-results.tgz runs/ddp*.log runs/ddp-*.metrics.jsonl runs/ddp-compare.*
echo "DDP CHECK DONE"
