#!/usr/bin/env bash
# Follow a background run for up to SECONDS, leaving early if it exits. Usage: bash scripts/gpu/watch.sh NAME SECONDS
name=$1 secs=$2
end=$(( $(date +%s) + secs ))
while [ "$(date +%s)" -lt "$end" ] && pgrep -f "cli.main train configs/$name" >/dev/null; do sleep 10; done
pgrep -f "cli.main train configs/$name" >/dev/null && echo "RUNNING" || echo "EXITED"
grep -v '^\s*$' "runs/$name.log" | tail -n 25
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
