"""Read the Dockerfile's final stage: what a container of the image starts with.

Enough of the Dockerfile grammar for our own file (line continuations, stages,
ARG/ENV/COPY/USER/WORKDIR/ENTRYPOINT, exec-form JSON); it is not a general parser.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.render import REPO

DOCKERFILE = REPO / "Dockerfile"
# PATH of the official python images (Debian's default plus /usr/local/bin).
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Copy:
    """One COPY: sources in the build context (or another stage) to a destination."""

    sources: tuple[str, ...]
    destination: str
    from_stage: str | None


@dataclass
class Stage:
    """One FROM ... section."""

    base: str
    name: str | None
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)  # build arguments and their defaults
    copies: list[Copy] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    user: str | None = None
    workdir: str = "/"
    entrypoint: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuations joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    result = []
    for line in logical:
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    """Every stage of the Dockerfile, in order."""
    found: list[Stage] = []
    args: dict[str, str] = {}
    for word, rest in instructions(path.read_text(encoding="utf-8")):
        if word == "ARG" and not found:
            name, _, default = rest.partition("=")
            args[name] = default
        elif word == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            found.append(Stage(base=base, name=name, env={"PATH": BASE_PATH}))
        elif found:
            _apply(found[-1], word, rest)
    return found


def final_stage(path: Path = DOCKERFILE) -> Stage:
    """The stage the image is made of."""
    return stages(path)[-1]


def _apply(stage: Stage, word: str, rest: str) -> None:
    if word == "ARG":
        name, _, default = rest.partition("=")
        stage.args[name] = default
    elif word == "ENV":
        for pair in shlex.split(rest):
            key, _, value = pair.partition("=")
            stage.env[key] = re.sub(
                r"\$\{?(\w+)\}?", lambda m: stage.env.get(m.group(1), ""), value
            )
    elif word == "COPY":
        words = shlex.split(rest)
        options = [w for w in words if w.startswith("--")]
        paths = [w for w in words if not w.startswith("--")]
        source_stage = next((o.split("=", 1)[1] for o in options if o.startswith("--from=")), None)
        stage.copies.append(Copy(tuple(paths[:-1]), paths[-1], source_stage))
    elif word == "RUN":
        stage.runs.append(rest)
    elif word == "USER":
        stage.user = rest
    elif word == "WORKDIR":
        stage.workdir = rest
    elif word == "ENTRYPOINT":
        stage.entrypoint = json.loads(rest)


def docker_ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (last match wins).

    A pattern that matches a folder drops everything in it, as in Docker.
    """
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        regex = _pattern_regex(line.lstrip("!").strip("/"))
        if any(regex.fullmatch(p) for p in prefixes):
            ignored = not line.startswith("!")
    return ignored


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern: ``*`` within a path segment, ``**`` across segments."""
    pieces = []
    for segment in pattern.split("/"):
        if segment == "**":
            pieces.append("(?:[^/]+/)*")
        else:
            text = re.escape(segment).replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
            pieces.append(text + "/")
    return re.compile("".join(pieces).removesuffix("/"))
