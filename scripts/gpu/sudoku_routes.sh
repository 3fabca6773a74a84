#!/usr/bin/env bash
# Sudoku on the GPU machine: the solver's routes on the first N hard-test puzzles (scripts/route_curve.py, PNG and
# JSON to $OUT), then `hrm solve sudoku` with its default route (repair on, on all cores) over the whole file, timed.
# Usage: bash scripts/gpu/sudoku_routes.sh [N]   (default 1000, 0 = no route curve; needs data/sudoku-bench/hard-test.txt)
set -uo pipefail
source scripts/gpu/env.sh
n=${1:-1000}
data=data/sudoku-bench/hard-test.txt
if [ "$n" -gt 0 ]; then  # 0: only the timed default route
  python3 -m scripts.route_curve --data "$data" --limit "$n" --backend pytorch --device cuda --batch-size 1024 \
    --png "$OUT/route-curve.png" > "$OUT/route-curve.out" 2> "$OUT/route-curve.err"
  tail -n 8 "$OUT/route-curve.out" | cut -c1-200
fi
start=$(date +%s.%N)
python3 -m hrm_sdk.cli.main solve sudoku "$data" --backend pytorch --device cuda --batch-size 1024 --format jsonl \
  > /tmp/solve.jsonl 2> /tmp/solve.err
rc=$?
end=$(date +%s.%N)
python3 - "$start" "$end" "$rc" <<'PY' | tee "$OUT/solve-default.json"
import json, sys
rows = [json.loads(l) for l in open("/tmp/solve.jsonl") if l.strip()]
rows = [r for r in rows if "solved" in r]
sec = float(sys.argv[2]) - float(sys.argv[1])
routes = {}
for r in rows:
    routes[r.get("route")] = routes.get(r.get("route"), 0) + 1
print(json.dumps({"puzzles": len(rows), "solved": sum(r["solved"] for r in rows), "routes": routes,
                  "seconds_wall_incl_start": round(sec, 1), "puzzles_per_s": round(len(rows) / sec, 1),
                  "exit": int(sys.argv[3])}))
PY
tail -n 3 /tmp/solve.err
