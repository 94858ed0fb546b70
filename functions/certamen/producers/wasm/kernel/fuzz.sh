#!/usr/bin/env bash
# Fuzz the kernel's native build with libFuzzer (ASan + UBSan) for a bounded time, then judge
# every input the fuzzer kept with the kernel's wasm build and the Python contract.
#
#   fuzz.sh SECONDS [WORKDIR]
#
# Seeds the corpus with tests/vectors/ballots*.json. A crash, timeout or leak stops the
# run; so does a corpus input the kernel and the contract judge differently. Such inputs are
# added to tests/vectors/ballots-regressions.json (expected outcome from the Python
# contract) and the script exits 1. A run of an hour or more that finds nothing writes
# fuzz-record.json (the digest of the sources it fuzzed), which the unit tests require
# to match the sources: a kernel change is fuzzed for an hour before CI's short run sees it.
# Needs clang 14, lld and libclang-rt-14-dev (`apt-get install -y clang lld libclang-rt-14-dev`).
set -euo pipefail

seconds="${1:?usage: fuzz.sh SECONDS [WORKDIR]}"
here="$(cd "$(dirname "$0")" && pwd)"
work="${2:-$(mktemp -d -t certamen-fuzz.XXXXXX)}"
clang="${CLANG:-clang}"
python="${PYTHON:-python3}"
mkdir -p "$work/corpus" "$work/artifacts"
log="$work/fuzz.log"

"$clang" -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -Wno-unused-function \
    -o "$work/ballot-fuzzer" \
    "$here/json.c" "$here/nfc.c" "$here/ballot.c" "$here/fuzz.c"
CLANG="$clang" PYTHON="$python" "$here/build.sh" --out "$work/ballot.wasm"
"$python" "$here/fuzz_corpus.py" seed "$work/corpus"

status=0
"$work/ballot-fuzzer" "$work/corpus" \
    -dict="$here/fuzz.dict" -max_total_time="$seconds" -max_len=4200 -timeout=2 \
    -rss_limit_mb=1024 -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
    2>&1 | tee "$log" | grep -v '^#[0-9]' || status=${PIPESTATUS[0]}

shopt -s nullglob
found=("$work"/artifacts/*)
if ((${#found[@]})); then
    "$python" "$here/fuzz_corpus.py" keep "${found[@]}"
    echo "fuzz.sh: ${#found[@]} failing input(s), kept as regression vectors; see $work" >&2
    exit 1
fi
if ((status != 0)); then
    echo "fuzz.sh: the fuzzer failed (exit $status) without an artifact; see $log" >&2
    exit "$status"
fi
if ! "$python" "$here/fuzz_corpus.py" compare "$work/corpus" "$work/ballot.wasm" | tee -a "$log"; then
    echo "fuzz.sh: the kernel and the Python contract disagree; kept as regression vectors" >&2
    exit 1
fi
if ((seconds >= 3600)); then
    "$python" "$here/fuzz_corpus.py" record "$seconds" "$log"
fi
echo "fuzz.sh: no failure in ${seconds}s (work dir $work)"
