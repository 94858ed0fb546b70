"""The fuzzer's link to the vector table: seed a corpus from it, keep crash inputs in it.

    python fuzz_corpus.py seed DIR        write every vector body into DIR (libFuzzer corpus)
    python fuzz_corpus.py keep FILE...    add crash inputs to tests/vectors/ballots-regressions.json

A kept input's expected outcome is what the Python contract says about it, so
the vector tests hold the kernel to the reference from then on.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[5]
sys.path.insert(0, str(ROOT))

from certamen.contract import InvalidVote, parse_ballot  # noqa: E402
from tests.support.vectors import ballot_vectors  # noqa: E402

REGRESSIONS = ROOT / "tests" / "vectors" / "ballots-regressions.json"


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
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
