#!/usr/bin/env bash
# bench-compare.sh — the engine beside native llama.cpp (scripts/llama-native.sh: built for this CPU),
# same machine, models and threads, the two runs interleaved (engine, llama.cpp, engine, llama.cpp …
# for every model and thread count), so both see the same machine load; ratios are per round.
#
# Single sequence, like with like:
#   prefill: engine `bench speed --prompt 128` (one 128-token batch at positions 0..127) against
#            llama-bench pp128 (`-p 128 -n 0`);
#   decode:  engine `bench speed --prompt 128 --gen 129` (128 greedy decode steps at positions
#            128..255) against llama-bench tg128 @ d128 (`-p 0 -n 128 -d 128`).
# Parallel sampling (PARALLEL_MODELS): engine `bench parallel`'s shared figure (one request of N
# samples: one prefill, forked KV, N·gen new tokens / wall time with the prefill) against
# llama-batched-bench `-pps` (prompt prefilled once, copied to N sequences), pl·tg/T.
# llama.cpp feeds random tokens and computes logits without sampling; the engine samples (greedy in
# speed, temperature 0.8 / top-k 40 / top-p 0.95 in parallel). Each figure is the best of REPS runs
# (both tools warm up first); a cell's figures are the medians over ROUNDS rounds and its ratio the
# median of the rounds' ratios, with their range.
#
# Env: THREADS (default "1 2"), REPS (3), ROUNDS (2), NPL (N values, default 1,4,16), PROMPT_PAR (256),
# GEN_PAR (128), PARALLEL_MODELS (model files for the parallel table; default: SmolLM2; "none" skips),
# TABLES ("speed parallel": which tables to measure), BENCH_BIN (a prebuilt cmd/bench to time instead of
# building the working tree's, e.g. one built from a clean `git archive` while the tree has others' edits).
# Prints markdown tables for docs/perf.md on stdout; every raw figure goes to stderr.
# usage: scripts/bench-compare.sh [MODEL.gguf ...]   (default: stories260K and both registry models)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
threads=${THREADS:-1 2}
reps=${REPS:-3}
rounds=${ROUNDS:-2}
npl=${NPL:-1,4,16}
ppar=${PROMPT_PAR:-256}
gpar=${GEN_PAR:-128}
tables=${TABLES:-speed parallel}

if [ $# -eq 0 ]; then
	set -- "$root/../shared/models/stories260K.gguf" \
		"$(scripts/fetch-model.sh smollm2-135m-instruct)" \
		"$(scripts/fetch-model.sh gemma3-270m)"
fi
par=${PARALLEL_MODELS:-$(scripts/fetch-model.sh smollm2-135m-instruct)}
[ "$par" = none ] && par=
llama=$(scripts/llama-native.sh)
bench=${BENCH_BIN:-bin/bench}
[ -n "${BENCH_BIN:-}" ] || CGO_ENABLED=0 go build -o bin/bench ./cmd/bench

log() { echo "bench-compare: $*" >&2; }
py() { python3 -c "$@"; }

# engine_speed MODEL THREADS -> "prefill decode" (best of REPS)
engine_speed() {
	local j
	j=$("$bench" speed -m "$1" -t "$2" --prompt 128 --gen 129 --reps "$reps")
	py 'import json,sys; d=json.loads(sys.argv[1]); print("%.1f %.1f" % (d["prefill_tps"], d["decode_tps"]))' "$j"
}

# llama_speed MODEL THREADS -> "pp128 tg128@d128" (best of REPS)
llama_speed() {
	local a b
	a=$("$llama/llama-bench" -m "$1" -t "$2" -r "$reps" -p 128 -n 0 -o json 2>/dev/null)
	b=$("$llama/llama-bench" -m "$1" -t "$2" -r "$reps" -p 0 -n 128 -d 128 -o json 2>/dev/null)
	py 'import json,sys; best=lambda s: max(json.loads(s)[0]["samples_ts"]); print("%.1f %.1f" % (best(sys.argv[1]), best(sys.argv[2])))' "$a" "$b"
}

# engine_par MODEL THREADS -> shared tok/s per N, space-separated (one run, JSON on stderr)
engine_par() {
	local j
	j=$("$bench" parallel -m "$1" -t "$2" --prompt "$ppar" --gen "$gpar" --n "$npl" 2>&1 >/dev/null | tail -n 1)
	py 'import json,sys; print(" ".join("%.1f" % p["shared_tps"] for p in json.loads(sys.argv[1])))' "$j"
}

# llama_par MODEL THREADS -> pl·tg/T per N (one run)
llama_par() {
	local n ctx j
	n=$(tr ',' '\n' <<<"$npl" | sort -n | tail -n 1)
	ctx=$((n * (ppar + gpar) + 16))
	j=$("$llama/llama-batched-bench" -m "$1" -t "$2" -tb "$2" -c "$ctx" -b 2048 -ub 512 -npp "$ppar" -ntg "$gpar" \
		-npl "$npl" -pps --output-format jsonl 2>/dev/null | grep '^{')
	py 'import json,sys; print(" ".join("%.1f" % (d["pl"]*d["tg"]/d["t"]) for d in map(json.loads, sys.argv[1].splitlines())))' "$j"
}

# cell ENGINE_FIGURES LLAMA_FIGURES -> "e | l | ratio (min–max) |" over the rounds
cell() {
	py 'import statistics as st, sys
e=[float(x) for x in sys.argv[1].split()]; l=[float(x) for x in sys.argv[2].split()]
r=[a/b for a,b in zip(e,l)]
rng="" if len(r)<2 else " (%.2f–%.2f)" % (min(r),max(r))
print("%.1f | %.1f | %.2f%s |" % (st.median(e), st.median(l), st.median(r), rng), end="")' "$1" "$2"
}

[[ " $tables " == *" speed "* ]] || set --
[ $# -eq 0 ] || echo "| model | threads | prefill tok/s (engine) | pp128 tok/s (llama.cpp) | ratio | decode tok/s (engine, pos 128–255) | tg128 @ d128 tok/s (llama.cpp) | ratio |"
[ $# -eq 0 ] || echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for m in "$@"; do
	for t in $threads; do
		ep= ed= lp= ld= x=
		for r in $(seq "$rounds"); do
			x=$(engine_speed "$m" "$t")
			read -r p d <<<"$x"
			log "$(basename "$m") t=$t round $r engine prefill $p decode $d"
			ep+=" $p" ed+=" $d"
			x=$(llama_speed "$m" "$t")
			read -r p d <<<"$x"
			log "$(basename "$m") t=$t round $r llama.cpp pp128 $p tg128@d128 $d"
			lp+=" $p" ld+=" $d"
		done
		echo "| $(basename "$m") | $t | $(cell "$ep" "$lp") $(cell "$ed" "$ld")"
	done
done

[[ " $tables " == *" parallel "* ]] || par=
[ -n "$par" ] || exit 0
echo
echo "| model | threads | N | shared tok/s (engine) | pl·tg/T (llama-batched-bench -pps) | ratio |"
echo "| --- | --- | --- | --- | --- | --- |"
for m in $par; do
	for t in $threads; do
		e=() l=()
		for r in $(seq "$rounds"); do
			e+=("$(engine_par "$m" "$t")")
			log "$(basename "$m") t=$t round $r engine shared N=$npl: ${e[-1]}"
			l+=("$(llama_par "$m" "$t")")
			log "$(basename "$m") t=$t round $r llama.cpp pl·tg/T N=$npl: ${l[-1]}"
		done
		i=0
		for n in ${npl//,/ }; do
			i=$((i + 1))
			ei= li=
			for r in $(seq 0 $((rounds - 1))); do
				ei+=" $(cut -d' ' -f$i <<<"${e[$r]}")" li+=" $(cut -d' ' -f$i <<<"${l[$r]}")"
			done
			echo "| $(basename "$m") | $t | $n | $(cell "$ei" "$li")"
		done
	done
done
