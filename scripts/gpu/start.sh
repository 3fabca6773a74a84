#!/usr/bin/env bash
# Build the dataset if needed and start a training run in the background (it outlives this command while
# the machine stays warm). Usage: bash scripts/gpu/start.sh TASK CONFIG [hrm train options...]
set -euo pipefail
task=$1 config=$2; shift 2
source scripts/gpu/env.sh
src=.carry/data/$([ "$task" = maze ] && echo maze-hard || echo "$task")
[ -d "data/$task/train" ] || python3 -m cli.main data build "$task" --source "$src" --out "data/$task"
mkdir -p runs
name=$(basename "$config" .toml)
setsid nohup python3 -m cli.main train "$config" "$@" > "runs/$name.log" 2>&1 < /dev/null &
echo "started $name (pid $!)"
