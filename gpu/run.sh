#!/usr/bin/env bash
# gpu/run.sh — the GPU check, on a machine with an NVIDIA GPU and driver, no Go and no network, from the
# repository root with gpu/out/ built here by `make gpu-check` (docs/gpu.md). One call, under 8 minutes:
#   1. the devices (nvidia-smi, engine info --devices);
#   2. the cuda test binaries: the real driver's own tests and every backend op against its CPU twin on
#      fresh random inputs (ENGINE_GPU_SEED, printed), outputs poisoned with NaN first;
#   3. end to end: engine run --greedy on --device cuda equals --device cpu (the same binary), on
#      stories260K and stories260K-moe4x;
#   4. compute-sanitizer memcheck over one end-to-end run (found by path: CUDA toolkit installs);
#   5. bench speed on the GPU (launches and bytes per forward; informative);
#   6. bench parallel, 16 samples of one prompt, cascade attention on and off (informative);
# then a short table, last. Exit status 1 when any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=gpu/out
logs=$(mktemp -d)
[ -f "$out/bin/engine.gz" ] || { echo "gpu/run.sh: $out/bin/engine.gz not found: run make gpu-check here, carry gpu/out" >&2; exit 2; }
# The binaries travel gzipped (gpu/pack.sh).
bin=$logs/bin
mkdir -p "$bin"
for f in "$out"/bin/*.gz; do
	gzip -dc "$f" >"$bin/$(basename "$f" .gz)" && chmod +x "$bin/$(basename "$f" .gz)" || { echo "gpu/run.sh: cannot unpack $f" >&2; exit 2; }
done
engine=$bin/engine
prompt="Once upon a time"
export ENGINE_GPU_SEED=${ENGINE_GPU_SEED:-$(date +%s)}

rows=()
failed=0
# Every step's time limit is cut to what is left of 450 s, so the whole call stays under 8 minutes.
deadline=$((SECONDS + 450))
# step NAME TIMEOUT_S CMD...: runs CMD, its stdout in NAME.log and stderr in NAME.err (both shown),
# and sets last_s and last_rc.
step() {
	local name=$1 limit=$2 t0 rc
	shift 2
	limit=$((limit < deadline - SECONDS ? limit : deadline - SECONDS))
	if [ "$limit" -lt 5 ]; then
		echo "=== $name: no time left" | tee "$logs/$name.log" >"$logs/$name.err"
		last_s=0 last_rc=124
		return
	fi
	echo "=== $name (limit ${limit}s): $*"
	t0=$(date +%s.%N)
	timeout -k 10 "$limit" "$@" >"$logs/$name.log" 2>"$logs/$name.err"
	rc=$?
	cat "$logs/$name.log" "$logs/$name.err"
	last_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	last_rc=$rc
}
row() { # NAME RESULT DETAIL
	rows+=("$(printf '%-26s %-5s %7ss  %s' "$1" "$2" "$last_s" "$3")")
	[ "$2" = FAIL ] && failed=1
	return 0
}
verdict() { [ "$last_rc" -eq 0 ] && echo PASS || echo FAIL; }

# 1. Devices.
step devices 30 bash -c "nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; '$engine' info --devices"
row devices "$(verdict)" "$(cat "$logs"/devices.* | grep -m1 -E '^NVIDIA driver|^engine: ' | cut -c1-100)"

# 2. The test binaries (run in their package's directory, as go test does).
for tb in "$bin"/*.test; do
	[ -e "$tb" ] || continue
	name=$(basename "$tb" .test)
	dir=${name//_//}
	step "$name" 200 bash -c "cd '$dir' && '$tb' -test.v -test.count=1 -test.timeout=190s"
	pass=$(grep -c -- '^--- PASS' "$logs/$name.log")
	fail=$(grep -- '--- FAIL' "$logs/$name.log" | sed 's/.*--- FAIL: \([^ ]*\).*/\1/' | head -5 | tr '\n' ' ')
	skip=$(grep -c -- '^--- SKIP' "$logs/$name.log")
	row "$name" "$(verdict)" "$pass passed, $skip skipped${fail:+, failed: $fail} (seed $ENGINE_GPU_SEED)"
done

# 3. End to end: greedy tokens on the GPU equal the CPU's.
for m in stories260K stories260K-moe4x; do
	f=$out/models/$m.gguf
	[ -f "$f" ] || { last_s=0; row "greedy $m" SKIP "no $f"; continue; }
	step "cpu-$m" 60 "$engine" run -m "$f" -p "$prompt" -n 48 --greedy --device cpu
	cpu_rc=$last_rc
	step "cuda-$m" 60 "$engine" run -m "$f" -p "$prompt" -n 48 --greedy --device cuda
	if [ "$cpu_rc" -ne 0 ] || [ "$last_rc" -ne 0 ]; then
		row "greedy $m" FAIL "exit status cpu $cpu_rc, cuda $last_rc"
	elif cmp -s "$logs/cpu-$m.log" "$logs/cuda-$m.log"; then
		row "greedy $m" PASS "48 tokens, same text as --device cpu"
	else
		row "greedy $m" FAIL "differs from --device cpu: $(diff "$logs/cpu-$m.log" "$logs/cuda-$m.log" | head -3 | tr '\n' ' ' | cut -c1-120)"
	fi
done

# 4. compute-sanitizer memcheck over one end-to-end run.
san=$(command -v compute-sanitizer || ls -1d /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda-*/bin/compute-sanitizer \
	/usr/local/cuda*/compute-sanitizer/compute-sanitizer /opt/nvidia/*/compute-sanitizer /opt/cuda/bin/compute-sanitizer 2>/dev/null | sort -V | tail -1)
if [ -n "$san" ] && [ -x "$san" ]; then
	step memcheck 150 "$san" --tool memcheck --error-exitcode 86 --print-limit 20 \
		"$engine" run -m "$out/models/stories260K.gguf" -p "$prompt" -n 16 --greedy --device cuda
	summary=$(cat "$logs"/memcheck.* | grep -m1 'ERROR SUMMARY' || echo "no summary (exit $last_rc)")
	row memcheck "$(verdict)" "$summary ($san)"
else
	last_s=0
	row memcheck SKIP "compute-sanitizer not found (looked in PATH, /usr/local/cuda*/, /opt)"
fi

# 5. Speed and launches per forward (informative: a failure to run is a failure, the numbers are not judged).
step bench 60 "$bin/bench" speed -m "$out/models/stories260K.gguf" --device cuda --prompt 64 --gen 32 --reps 2
row "bench speed" "$(verdict)" "$(cat "$logs"/bench.* | grep -m1 -iE 'launch' | cut -c1-100)"

# 6. 16 samples of one prompt, cascade attention on (the default) and off: tok/s and KV bytes beside 16
#    separate requests (informative, as 5).
for c in on off; do
	v=1
	[ "$c" = off ] && v=0
	step "cascade-$c" 60 env ENGINE_CUDA_CASCADE=$v "$bin/bench" parallel -m "$out/models/stories260K.gguf" --device cuda \
		--prompt 200 --gen 32 --n 16
	row "n=16 cascade $c" "$(verdict)" "$(cat "$logs/cascade-$c.log" | grep -m1 '^| 16 |' | cut -c1-100)"
done

echo
echo "GPU check of $(cat "$out/commit" 2>/dev/null || echo '?') on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
printf '%-26s %-5s %8s  %s\n' check result time detail
printf '%s\n' "${rows[@]}"
rm -rf "$logs"
exit "$failed"
