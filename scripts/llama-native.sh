#!/usr/bin/env bash
# llama-native.sh — build llama.cpp's llama-bench and llama-batched-bench natively for this CPU and
# print the folder that holds them (the CPU reference of scripts/bench-compare.sh and docs/perf.md).
#
# The source is the llama.cpp that llama-cpp-python's PyPI sdist vendors (vendor/llama.cpp, with its
# git metadata, so the binaries report llama.cpp's commit); the sdist's sha256 is checked.
# Build: CMake Release, -DGGML_NATIVE=ON (-march=native: every ISA extension of this CPU, e.g.
# AVX-512 and VNNI), OpenMP threads (GGML_OPENMP, the default), llamafile's sgemm (GGML_LLAMAFILE,
# the default), weight repacking (GGML_CPU_REPACK, the default), static libraries, no HTTPS/curl,
# only the two targets. On x86-64, AMX is left out (LLAMA_CFLAGS, default -mno-amx-tile
# -mno-amx-int8 -mno-amx-bf16): with it this llama.cpp crashes (SIGSEGV in ggml_backend_amx_mul_mat)
# on the project's AMX-capable VM for every Q4_1 and Q4_K model, although the kernel grants AMX.
# Cache: ${ENGINE_CACHE:-$HOME/.cache/tscale}/llama.cpp/<version>-<key>/bin, where <key> hashes
# this CPU's model name and flags and LLAMA_CFLAGS (a native build is only good for its CPU).
# Idempotent: when both binaries are there nothing is downloaded or built.
# Env: JOBS (make's -j, default 2), LLAMA_CFLAGS (extra C/C++ flags). Only the path goes to stdout; progress goes to stderr.
# usage: scripts/llama-native.sh
set -euo pipefail

die() { echo "llama-native: $*" >&2; exit 1; }

version=0.3.36
sum=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
jobs=${JOBS:-2}
noamx=
[ "$(uname -m)" = x86_64 ] && noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
cflags=${LLAMA_CFLAGS-$noamx}

cpu=$({ grep -m2 -E '^(model name|flags)' /proc/cpuinfo; echo "$cflags"; } | sha256sum | cut -c1-8)
root=${ENGINE_CACHE:-$HOME/.cache/tscale}/llama.cpp
out=$root/llama-cpp-python-$version-$cpu
if [ -x "$out/bin/llama-bench" ] && [ -x "$out/bin/llama-batched-bench" ]; then
	echo "$out/bin"
	exit 0
fi

for c in cmake c++ python3; do command -v $c >/dev/null || die "$c is needed"; done
mkdir -p "$root"
tmp=$(mktemp -d "$root/.build-$version.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

sdist=llama_cpp_python-$version.tar.gz
echo "llama-native: pip download llama-cpp-python==$version (sdist)" >&2
python3 -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$tmp" >&2 ||
	die "pip download failed"
[ -f "$tmp/$sdist" ] || die "pip did not produce $sdist"
got=$(sha256sum "$tmp/$sdist" | cut -d' ' -f1)
[ "$got" = "$sum" ] || die "sha256 mismatch for $sdist: got $got, want $sum"
tar -xzf "$tmp/$sdist" -C "$tmp"
src=$tmp/llama_cpp_python-$version/vendor/llama.cpp
[ -f "$src/CMakeLists.txt" ] || die "no vendor/llama.cpp in $sdist"

# LLAMA_CURL is deprecated in this llama.cpp (HTTPS went to LLAMA_OPENSSL); both are off.
echo "llama-native: cmake $src (log: $tmp/build.log)" >&2
cmake -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$cflags" \
	-DCMAKE_CXX_FLAGS="$cflags" -DGGML_NATIVE=ON -DGGML_OPENMP=ON \
	-DGGML_LLAMAFILE=ON -DGGML_CCACHE=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
	-DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
	>"$tmp/build.log" 2>&1 || { tail -n 30 "$tmp/build.log" >&2; die "cmake failed"; }
echo "llama-native: building llama-bench and llama-batched-bench with -j$jobs (minutes)" >&2
cmake --build "$tmp/build" -j "$jobs" --target llama-bench llama-batched-bench >>"$tmp/build.log" 2>&1 ||
	{ tail -n 30 "$tmp/build.log" >&2; die "build failed"; }

rm -rf "$out"
mkdir -p "$out/bin"
cp "$tmp/build/bin/llama-bench" "$tmp/build/bin/llama-batched-bench" "$out/bin/"
{
	echo "llama-cpp-python $version sdist sha256 $sum"
	echo "llama.cpp commit $(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)"
	grep -m1 'model name' /proc/cpuinfo
	grep -E '^(CMAKE_BUILD_TYPE|CMAKE_CXX_FLAGS|CMAKE_CXX_COMPILER|GGML_(NATIVE|OPENMP|LLAMAFILE|CPU_REPACK|BLAS|LTO|STATIC)|BUILD_SHARED_LIBS):' "$tmp/build/CMakeCache.txt"
	grep -E 'Adding CPU backend variant|ggml version|ggml commit' "$tmp/build.log" || true
	echo "ISA macros: $(echo | c++ $cflags -march=native -dM -E - | grep -oE '__(AVX[A-Z0-9_]*|FMA|F16C|AMX_[A-Z0-9]+)__' | sort | tr '\n' ' ')"
} >"$out/BUILD-INFO"
cp "$tmp/build.log" "$out/build.log"
echo "llama-native: $out/bin (see $out/BUILD-INFO)" >&2
echo "$out/bin"
