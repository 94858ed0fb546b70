#!/usr/bin/env bash
# Build ballot.wasm from the kernel's C sources, reproducibly.
#
#   build.sh           rebuild functions/certamen/producers/wasm/ballot.wasm
#   build.sh --check   rebuild into a temporary file and fail if it differs from the committed one
#   build.sh --out F   build into F instead (fuzz.sh: the module of the sources being fuzzed)
#
# The output depends only on the sources and the compiler: Debian's clang 14 and lld
# (`apt-get install -y clang lld`), no debug info, no names, no paths (-ffile-prefix-map),
# no timestamps (wasm has none). The Unicode tables are checked against this Python too.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
target="$here/../ballot.wasm"
clang="${CLANG:-clang}"
python="${PYTHON:-python3}"
expected_clang="Debian clang version 14.0.6"

if ! "$clang" --version | head -n1 | grep -qF "$expected_clang"; then
    echo "build.sh: needs $expected_clang (found: $("$clang" --version | head -n1))" >&2
    exit 2
fi
"$python" "$here/gen_unicode.py" --check

out="$target"
if [[ "${1:-}" == "--check" ]]; then
    out="$(mktemp --suffix=.wasm)"
    trap 'rm -f "$out"' EXIT
elif [[ "${1:-}" == "--out" ]]; then
    out="$(realpath "${2:?usage: build.sh --out FILE}")"
fi

# 4 pages of 64 KiB: static buffers, tables and a 32 KiB stack; the memory cannot grow.
memory=$((4 * 65536))
(
    cd "$here"
    "$clang" --target=wasm32 -std=c11 -O2 -ffreestanding -nostdlib \
        -Wall -Wextra -Werror -Wno-unused-function \
        -ffile-prefix-map="$here"=. -fdebug-prefix-map="$here"=. \
        -Wl,--no-entry -Wl,--strip-all -Wl,-z,stack-size=32768 \
        -Wl,--initial-memory=$memory -Wl,--max-memory=$memory \
        -o "$out" json.c nfc.c ballot.c
)

if [[ "${1:-}" == "--check" ]]; then
    if ! cmp -s "$out" "$target"; then
        echo "build.sh: the rebuilt ballot.wasm differs from the committed one; run build.sh" >&2
        exit 1
    fi
    echo "ballot.wasm is reproducible ($(wc -c <"$target") bytes)"
fi
