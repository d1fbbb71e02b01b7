#!/usr/bin/env bash
# bench-compare.sh — prefill and decode tokens/s of the engine beside llama.cpp (npm node-llama-cpp
# prebuilt CPU build), same machine, same threads, same models, one after the other.
# Prints a markdown table for docs/perf.md. Env: THREADS (default 2), REPS (default 3).
# usage: scripts/bench-compare.sh [MODEL.gguf ...]   (default: stories260K and both registry models)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
threads=${THREADS:-2}
reps=${REPS:-3}

if [ $# -eq 0 ]; then
	set -- "$root/../shared/models/stories260K.gguf" \
		"$(scripts/fetch-model.sh smollm2-135m-instruct)" \
		"$(scripts/fetch-model.sh gemma3-270m)"
fi
[ -d scripts/ref/node_modules/node-llama-cpp ] ||
	(cd scripts/ref && npm ci --omit=optional --ignore-scripts --no-audit --no-fund >&2)
CGO_ENABLED=0 go build -o bin/bench ./cmd/bench

field() { python3 -c "import json,sys; print('%.1f' % json.loads(sys.stdin.readline())['$1'])" <<<"$2"; }

echo "| model | threads | prefill tok/s (engine) | prefill tok/s (llama.cpp) | ratio | decode tok/s (engine) | decode tok/s (llama.cpp) | ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for m in "$@"; do
	ours=$(bin/bench speed -m "$m" -t "$threads" --reps "$reps")
	theirs=$(node scripts/ref/bench.mjs "$m" --threads "$threads" --reps "$reps" | tail -n 1)
	op=$(field prefill_tps "$ours"); od=$(field decode_tps "$ours")
	tp=$(field prefill_tps "$theirs"); td=$(field decode_tps "$theirs")
	rp=$(python3 -c "print('%.2f' % ($op / $tp))"); rd=$(python3 -c "print('%.2f' % ($od / $td))")
	echo "| $(basename "$m") | $threads | $op | $tp | $rp | $od | $td | $rd |"
done
