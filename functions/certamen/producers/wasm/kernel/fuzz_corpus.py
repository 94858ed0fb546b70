"""The fuzzer's link to the vector table and to the Python contract.

    python fuzz_corpus.py seed DIR            write every vector body into DIR (libFuzzer corpus)
    python fuzz_corpus.py keep FILE...        add inputs to tests/vectors/ballots-regressions.json
    python fuzz_corpus.py compare DIR WASM    judge every input of DIR with the module WASM and
                                              with the Python contract; keep the disagreements
    python fuzz_corpus.py record SECONDS LOG  after a long run without failure: write
                                              fuzz-record.json (the sources' digest, the figures)
    python fuzz_corpus.py check-record        is there a long run's record for these sources?

A kept input's expected outcome is what the Python contract says about it, so
the vector tests hold the kernel to the reference from then on. libFuzzer's own
checks (sanitizers, the invariants of fuzz.c) cannot tell a wrong answer that is
stable; ``compare`` can, for every input the fuzzer found interesting.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[5]
sys.path.insert(0, str(ROOT))

from certamen.contract import InvalidVote, parse_ballot  # noqa: E402
from tests.support.vectors import ballot_vectors  # noqa: E402

REGRESSIONS = ROOT / "tests" / "vectors" / "ballots-regressions.json"
HERE = Path(__file__).resolve().parent
RECORD = HERE / "fuzz-record.json"
# What a long run vouches for: the kernel's sources and the harness.
SOURCES = ("kernel.h", "json.c", "nfc.c", "ballot.c", "unicode_tables.h", "fuzz.c")
LONG_RUN_SECONDS = 3600


def seed(directory: Path) -> int:
    """Write each vector's body as one corpus file; return how many."""
    directory.mkdir(parents=True, exist_ok=True)
    _, cases = ballot_vectors()
    for case in cases:
        (directory / case.id).write_bytes(case.body[:4097])
    return len(cases)


def keep(paths: list[Path]) -> list[str]:
    """Append crash inputs as vectors (expected outcome from the Python contract)."""
    document = json.loads(REGRESSIONS.read_text(encoding="utf-8"))
    year_now = document["year_now"]
    known = {case["id"] for case in document["cases"]}
    added = []
    for path in paths:
        body = path.read_bytes()
        case_id = "fuzz-" + hashlib.sha1(body).hexdigest()[:12]
        if case_id in known:
            continue
        case: dict[str, object] = {"id": case_id, "body_hex": body.hex()}
        try:
            case["ballot"] = parse_ballot(body, year_now=year_now).to_json().decode()
        except InvalidVote as e:
            case["error"] = [e.field, e.rule]
        document["cases"].append(case)
        known.add(case_id)
        added.append(case_id)
    REGRESSIONS.write_text(_dump(document), encoding="utf-8")
    return added


def _outcome(judge: Callable[[bytes], bytes], body: bytes) -> bytes | tuple[str, str]:
    try:
        return judge(body)
    except InvalidVote as e:
        return (e.field, e.rule)


def compare(directory: Path, wasm: Path) -> tuple[int, list[Path]]:
    """Judge each input with the kernel and the contract; return those they disagree on."""
    from certamen.producers.wasm.kernel import BallotKernel

    year_now = json.loads(REGRESSIONS.read_text(encoding="utf-8"))["year_now"]
    kernel = BallotKernel(wasm)
    paths = sorted(p for p in directory.iterdir() if p.is_file())
    differ = []
    for path in paths:
        body = path.read_bytes()
        mine = _outcome(lambda b: kernel.canonical(b, year_now), body)
        theirs = _outcome(lambda b: parse_ballot(b, year_now=year_now).to_json(), body)
        if mine != theirs:
            differ.append(path)
    return len(paths), differ


def sources_digest() -> str:
    """SHA-256 over the kernel's sources and the harness, in a fixed order."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes() + b"\0")
    return digest.hexdigest()


def record(seconds: int, log: Path) -> dict[str, object]:
    """Write fuzz-record.json for a run of ``seconds`` that found nothing (figures from its log)."""
    text = log.read_text(encoding="utf-8", errors="replace")
    executions = re.findall(r"stat::number_of_executed_units: (\d+)", text)
    compared = re.findall(r"compared (\d+) inputs", text)
    entry: dict[str, object] = {
        "sources_sha256": sources_digest(),
        "seconds": seconds,
        "executions": int(executions[-1]) if executions else None,
        "compared_with_python": int(compared[-1]) if compared else None,
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    RECORD.write_text(json.dumps(entry, indent=2) + "\n", encoding="utf-8")
    return entry


def check_record() -> str | None:
    """None when a long run vouches for these sources, else why not."""
    if not RECORD.exists():
        return f"no {RECORD.name}: run fuzz.sh {LONG_RUN_SECONDS}"
    entry = json.loads(RECORD.read_text(encoding="utf-8"))
    if entry["sources_sha256"] != sources_digest():
        return (
            f"the kernel's sources changed since the last long fuzz run "
            f"({entry['finished_at']}): run fuzz.sh {LONG_RUN_SECONDS} and commit {RECORD.name}"
        )
    if entry["seconds"] < LONG_RUN_SECONDS:
        return f"the recorded run lasted {entry['seconds']} s, not {LONG_RUN_SECONDS}"
    return None


def _dump(document: dict[str, object]) -> str:
    """The file's layout: one case per line, as in ballots.json."""
    cases = document["cases"]
    assert isinstance(cases, list)
    head = {k: v for k, v in document.items() if k != "cases"}
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    rows = [f"    {json.dumps(c, ensure_ascii=False)}" for c in cases]
    return "{\n" + "\n".join(lines) + '\n  "cases": [\n' + ",\n".join(rows) + "\n  ]\n}\n"


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "seed":
        print(f"seeded {seed(Path(argv[1]))} inputs")
        return 0
    if len(argv) >= 2 and argv[0] == "keep":
        for case_id in keep([Path(p) for p in argv[1:]]):
            print(f"kept {case_id} in {REGRESSIONS.relative_to(ROOT)}")
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        count, differ = compare(Path(argv[1]), Path(argv[2]))
        print(f"compared {count} inputs with the Python contract: {len(differ)} disagreements")
        for case_id in keep(differ) if differ else []:
            print(f"kept {case_id} in {REGRESSIONS.relative_to(ROOT)}")
        return 1 if differ else 0
    if len(argv) == 3 and argv[0] == "record":
        print(f"wrote {RECORD.name}: {record(int(argv[1]), Path(argv[2]))}")
        return 0
    if argv == ["check-record"]:
        problem = check_record()
        print(problem or f"{RECORD.name} vouches for these sources")
        return 1 if problem else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
