"""Knative's own admission code on rendered manifests, through our Go program.

``knative_validate/`` is a small Go program built against ``knative.dev/serving``
and ``knative.dev/eventing`` v0.50.0 (Knative 1.23) from the Go module proxy. For
every ``serving.knative.dev/v1`` Service it runs Serving's ``SetDefaults`` and
``Validate`` with the configuration the webhook builds (Knative's defaults, or the
ConfigMaps passed in); for a KafkaSource, Eventing's ``DeliverySpec`` defaulting and
validation on ``spec.delivery`` and ``knative.dev/pkg``'s ``SourceSpec`` validation
on its sink. It decodes strictly (unknown or misspelt fields are errors) and reports
Knative's own messages.

``scripts/setup`` builds it into the cache (``<cache>/bin/certamen-knative-validate``,
stamped with its sources); :func:`validator` builds it again only when a source
changed since, so a stale binary is never used.

``python -m tests.deploy.knative_webhook`` builds it (or finds it current) and prints
its path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from certamen import settings as certamen_settings
from certamen.operations.stack import tools
from certamen.operations.stack.builds import GoProgram
from certamen.operations.stack.console import make_console
from tests.deploy.render import Manifest

VALIDATOR = GoProgram(
    source=Path(__file__).parent / "knative_validate",
    binary="certamen-knative-validate",
    what="building Knative's validation code for tests/deploy (go build)",
)


class ValidatorError(RuntimeError):
    """The validator could not read its input or a ConfigMap (exit status 2)."""


@dataclass(frozen=True)
class Verdict:
    """What Knative's code said about one object: errors refuse it, warnings do not."""

    kind: str
    name: str
    checked: str
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    defaulted: Manifest


def validator() -> Path:
    """The validator binary, built first if the cache has none of these sources."""
    settings = certamen_settings.load()
    if VALIDATOR.is_current(settings):
        return VALIDATOR.path(settings)
    out = make_console(stderr=True)
    go = tools.ensure(["go"], out)["go"]
    return VALIDATOR.build(settings, go, out)


def validate(
    binary: Path, objects: Iterable[Manifest], configs: Sequence[Path] = ()
) -> list[Verdict]:
    """Run Knative's code on the objects it knows (Services, KafkaSources), in order."""
    command = [str(binary), "-json"]
    for config in configs:
        command += ["-config", str(config)]
    done = subprocess.run(
        command,
        input=yaml.safe_dump_all(list(objects)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise ValidatorError(f"{binary.name} exited {done.returncode}: {done.stderr.strip()}")
    return [
        Verdict(
            kind=o["kind"],
            name=o["name"],
            checked=o["checked"],
            errors=tuple(o["errors"]),
            warnings=tuple(o["warnings"]),
            defaulted=o.get("defaulted") or {},
        )
        for o in json.loads(done.stdout)["objects"]
    ]


if __name__ == "__main__":
    print(validator())
    sys.exit(0)
