"""Write (or check) the dashboards' JSON: ``python -m grafana.generate [--check]``.

Every dashboard exists once per language, from the same code: the JSON under
``grafana/dashboards/<language>/`` is committed so that Grafana's file
provisioning can load it as is (one provider, and so one Grafana folder, per
language); ``--check`` (and a test) fails when it differs from what this code
generates.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from certamen.results.i18n import LANGUAGES
from grafana import contest, system

OUTPUT = Path(__file__).resolve().parent / "dashboards"
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    f"{language}/{name}.json": partial(build, language)
    for language in LANGUAGES
    for name, build in (("contest", contest.dashboard), ("system", system.dashboard))
}


def render(build: Callable[[], Dashboard]) -> str:
    """A dashboard's JSON text: panels numbered in order, sorted keys, two-space indent."""
    model = build().build()
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number  # stable ids: links and alerts can point at a panel
    return json.dumps(model, cls=JSONEncoder, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def stale(output: Path = OUTPUT) -> list[str]:
    """The dashboard files that are missing or differ from the generated JSON."""
    return [
        name
        for name, build in DASHBOARDS.items()
        if not (output / name).is_file()
        or (output / name).read_text(encoding="utf-8") != render(build)
    ]


def write(output: Path = OUTPUT) -> list[str]:
    """Write every dashboard under ``output``; the names written."""
    for name, build in DASHBOARDS.items():
        (output / name).parent.mkdir(parents=True, exist_ok=True)
        (output / name).write_text(render(build), encoding="utf-8")
    return list(DASHBOARDS)


def main(argv: list[str] | None = None) -> int:
    """Write every dashboard, or with ``--check`` only report stale ones."""
    parser = argparse.ArgumentParser(prog="python -m grafana.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a committed file differs")
    args = parser.parse_args(argv)
    if args.check:
        names = stale()
        for name in names:
            print(f"grafana/dashboards/{name} is stale: run python -m grafana.generate")
        return 1 if names else 0
    for name in write():
        print(f"wrote grafana/dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
