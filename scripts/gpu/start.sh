#!/usr/bin/env bash
# Build the dataset if needed and start a training run in the background (it outlives this command while
# the machine stays warm). Usage: bash scripts/gpu/start.sh TASK CONFIG [hrm data build options --] [hrm train options]
#   bash scripts/gpu/start.sh maze configs/maze.toml --generate 20000 -- --set train.steps=5000
#   NPROC=1 bash scripts/gpu/start.sh sudoku configs/sudoku.toml     # launched through torchrun (DDP path)
# Source collections travel xz-compressed in .carry/xz/<collection>/ and are unpacked to .carry/data/.
set -euo pipefail
task=$1 config=$2; shift 2
build_args=()
if [[ " $* " == *" -- "* ]]; then
  while [ "$1" != "--" ]; do build_args+=("$1"); shift; done; shift
fi
source scripts/gpu/env.sh
bash scripts/gpu/data.sh "$task" ${build_args[@]+"${build_args[@]}"}
mkdir -p runs
name=$(basename "$config" .toml)
launch=(python3)
[ -n "${NPROC:-}" ] && launch=(python3 -m torch.distributed.run --standalone --nproc_per_node="$NPROC")
setsid nohup "${launch[@]}" -m hrm_sdk.cli.main train "$config" "$@" > "runs/$name.log" 2>&1 < /dev/null &
echo "started $name (pid $!)"
