#!/usr/bin/env bash
# make-golden-synth.sh — regenerate testdata/golden/synth/ from llama.cpp (prebuilt, via npm's
# node-llama-cpp) for the synthetic models of package model/synth.
#
# Builds every synth.Specs() and synth.MoESpecs() model into a temporary folder (go run ./model/synth/cmd/synth,
# vocabulary from ../shared/models/stories260K.gguf; synth.GPTOSSVocabSpec() with gpt-oss's own) and runs scripts/ref/golden-synth.mjs on
# them. The models are not kept: engine/synth_test.go rebuilds them and checks their sha256
# against the one recorded here. Needs go, node >= 20, npm.
# Env: THREADS (default 2), SHARED (default ../shared from the repo root).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
shared=${SHARED:-$root/../shared}
threads=${THREADS:-2}
vocab=$shared/models/stories260K.gguf
[ -f "$vocab" ] || { echo "make-golden-synth: $vocab is missing" >&2; exit 1; }

# Install scripts/ref's locked packages unless present (make-golden.sh always reinstalls):
# --omit=optional skips the GPU builds; --ignore-scripts stops node-llama-cpp's postinstall
# from downloading or building llama.cpp.
if [ ! -d scripts/ref/node_modules/@node-llama-cpp/linux-x64 ]; then
	(cd scripts/ref && npm ci --omit=optional --ignore-scripts --no-audit --no-fund >&2)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# gpt-oss's own vocabulary (npm, sha256-checked) for synth.GPTOSSVocabSpec.
oss=$(scripts/fetch-model.sh gpt-oss-vocab)
go run ./model/synth/cmd/synth -vocab "$vocab" -gpt-oss-tokenizer "$oss" -out "$tmp" >/dev/null

out=testdata/golden/synth
rm -f "$out"/synth-*.json "$out"/synth-*.f32
node scripts/ref/golden-synth.mjs --out "$out" --threads "$threads" "$tmp"/*.gguf
