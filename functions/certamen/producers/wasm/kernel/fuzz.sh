#!/usr/bin/env bash
# Fuzz the kernel's native build with libFuzzer (ASan + UBSan) for a bounded time.
#
#   fuzz.sh SECONDS [WORKDIR]
#
# Seeds the corpus with tests/vectors/ballots*.json. A crash, timeout or leak stops the
# run: the input is added to tests/vectors/ballots-regressions.json (expected outcome
# from the Python contract) and the script exits 1. Needs clang 14 and
# libclang-rt-14-dev (`apt-get install -y clang libclang-rt-14-dev`).
set -euo pipefail

seconds="${1:?usage: fuzz.sh SECONDS [WORKDIR]}"
here="$(cd "$(dirname "$0")" && pwd)"
work="${2:-$(mktemp -d -t certamen-fuzz.XXXXXX)}"
clang="${CLANG:-clang}"
python="${PYTHON:-python3}"
mkdir -p "$work/corpus" "$work/artifacts"

"$clang" -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -Wno-unused-function \
    -o "$work/ballot-fuzzer" \
    "$here/json.c" "$here/nfc.c" "$here/ballot.c" "$here/fuzz.c"
"$python" "$here/fuzz_corpus.py" seed "$work/corpus"

status=0
"$work/ballot-fuzzer" "$work/corpus" \
    -dict="$here/fuzz.dict" -max_total_time="$seconds" -max_len=4200 -timeout=2 \
    -rss_limit_mb=1024 -artifact_prefix="$work/artifacts/" -print_final_stats=1 || status=$?

shopt -s nullglob
found=("$work"/artifacts/*)
if ((${#found[@]})); then
    "$python" "$here/fuzz_corpus.py" keep "${found[@]}"
    echo "fuzz.sh: ${#found[@]} failing input(s), kept as regression vectors; see $work" >&2
    exit 1
fi
if ((status != 0)); then
    echo "fuzz.sh: the fuzzer failed (exit $status) without an artifact; see above" >&2
    exit "$status"
fi
echo "fuzz.sh: no failure in ${seconds}s (work dir $work)"
