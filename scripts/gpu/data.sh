#!/usr/bin/env bash
# Unpack a source collection carried in .carry/xz/<collection>/ and build data/<task> once (GPU machine).
# Usage: bash scripts/gpu/data.sh TASK [hrm data build options]
set -euo pipefail
task=$1; shift
coll=$([ "$task" = maze ] && echo maze-hard || echo "$task")
mkdir -p ".carry/data/$coll"
for f in .carry/xz/"$coll"/*.xz; do
  [ -e "$f" ] || continue
  out=".carry/data/$coll/$(basename "$f" .xz)"
  [ -f "$out" ] || xz -dc "$f" > "$out"
done
[ -d "data/$task/train" ] || python3 -m hrm_sdk.cli.main data build "$task" --source ".carry/data/$coll" --out "data/$task" "$@"
