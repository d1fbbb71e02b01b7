#!/usr/bin/env bash
# gpu/pack.sh — build here what gpu/run.sh needs on the GPU machine (which has no Go and no network) into
# gpu/out/ (git-ignored, at most 64 MiB, the device tool's carry): the cuda-tagged engine and bench, the
# cuda-tagged test binaries of backend/cuda/..., and the small models. Run by `make gpu-check`, which
# builds the fatbin first and exports the cgo flags of the cuda build (cuda.h, the libcuda stub).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=gpu/out
models=${MODELS:-../shared/models}
[ -f backend/cuda/fatbin/engine_kernels.fatbin ] || { echo "gpu/pack.sh: no fatbin: run make gpu-check" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/bin" "$out/models"
# Stripped and gzipped below: the binaries must fit the carry with the models.
flags=(-tags cuda -trimpath -ldflags "-s -w")
$GO build "${flags[@]}" -o "$out/bin/engine" ./cmd/engine
$GO build "${flags[@]}" -o "$out/bin/bench" ./cmd/bench
for pkg in $($GO list -e -tags cuda -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./backend/cuda/...); do
	name=${pkg#github.com/tscale/engine/}
	$GO test -c "${flags[@]}" -o "$out/bin/${name//\//_}.test" "$pkg"
done
for m in stories260K.gguf stories260K-moe4x.gguf; do
	[ -f "$models/$m" ] || { echo "gpu/pack.sh: $models/$m not found (../shared must sit beside the repository)" >&2; exit 1; }
	cp "$models/$m" "$out/models/"
done
# gzip: the fatbin is in each binary, and the carry is 64 MiB (gpu/run.sh unpacks them).
gzip -9 "$out"/bin/*
git rev-parse --short HEAD >"$out/commit" 2>/dev/null || true
size=$(du -sb "$out" | cut -f1)
ls -l "$out/bin" "$out/models" >&2
[ "$size" -le $((64 << 20)) ] || { echo "gpu/pack.sh: $out is $((size >> 20)) MiB, over the 64 MiB carry" >&2; exit 1; }
echo "gpu/pack.sh: $out is $((size >> 20)) MiB; on the GPU machine run gpu/run.sh (docs/gpu.md)" >&2
