"""The package's imports follow docs/architecture.md: its table of parts is the rule.

Pure: the modules are read as syntax trees, never imported. A module belongs to
the row with the longest matching name; it may import its own part and the parts
its row lists.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
TREES = {"certamen": ROOT / "functions" / "certamen", "streamlit_app": ROOT / "streamlit_app"}
PACKAGE = "certamen"
BASE = ("certamen.settings", "certamen.logs", "certamen.serving")
EVERYTHING = "everything"
_ROW = re.compile(r"^\| `([\w.]+)` \|[^|]*\|([^|]*)\|$")
_NAME = re.compile(r"`([\w.]+)`")


@dataclass(frozen=True, slots=True)
class Part:
    """One row of the table: a part of the tree and the parts it may import."""

    name: str
    allowed: frozenset[str]
    anything: bool


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement: which module imports which, and where."""

    importer: str
    target: str
    line: int


def read_parts(text: str) -> dict[str, Part]:
    """The rows of the doc's table, by part name."""
    parts: dict[str, Part] = {}
    for line in text.splitlines():
        found = _ROW.match(line.strip())
        if not found:
            continue
        name, cell = found[1], found[2]
        allowed = set(_NAME.findall(cell))
        if re.search(r"\bbase\b", cell):
            allowed.update(BASE)
        parts[name] = Part(name, frozenset(allowed), EVERYTHING in cell)
    return parts


def module_names(trees: dict[str, Path]) -> dict[str, Path]:
    """Every module of the trees by its dotted name (a package by its own name)."""
    modules: dict[str, Path] = {}
    for top, folder in trees.items():
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(folder).with_suffix("")
            pieces = [top, *relative.parts]
            if pieces[-1] == "__init__":
                pieces.pop()
            modules[".".join(pieces)] = path
    return modules


def imports_of(module: str, path: Path, source: str) -> list[Import]:
    """The modules of our trees that a module imports (absolute and relative)."""
    found: list[Import] = []
    tree = ast.parse(source, filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base if a.name == "*" else f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in TREES:
                found.append(Import(module, target, node.lineno))
    return found


def part_of(module: str, parts: dict[str, Part]) -> Part | None:
    """The row with the longest name that is the module or one of its packages."""
    matches = [p for name, p in parts.items() if module == name or module.startswith(name + ".")]
    return max(matches, key=lambda p: len(p.name), default=None)


def target_part(target: str, modules: dict[str, Path], parts: dict[str, Part]) -> Part | None:
    """The part an import reaches: ``from a.b import c`` reaches a.b.c when that is a module."""
    name = target if target in modules else target.rpartition(".")[0]
    return part_of(name or target, parts)


def violations(parts: dict[str, Part], modules: dict[str, Path], root: Path = ROOT) -> list[str]:
    """Every way the tree breaks the table: stray modules, stray rows, imports not allowed."""
    problems: list[str] = []
    for name in parts:
        if name not in modules and not any(m.startswith(name + ".") for m in modules):
            problems.append(f"{name}: a row of docs/architecture.md names no module in the tree")
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(root)
        if module == PACKAGE:
            problems += [
                f"{where}:{i.line}: the package root imports {i.target}"
                for i in imports_of(module, path, source)
            ]
            continue
        own = part_of(module, parts)
        if own is None:
            problems.append(f"{where}: {module} belongs to no part of docs/architecture.md")
            continue
        for found in imports_of(module, path, source):
            reached = target_part(found.target, modules, parts)
            if own.anything or (reached is not None and reached.name == own.name):
                continue
            if reached is None:
                problems.append(f"{where}:{found.line}: imports {found.target}, in no part")
            elif reached.name not in own.allowed:
                problems.append(
                    f"{where}:{found.line}: {own.name} may not import {found.target} "
                    f"({reached.name})"
                )
    return problems


@pytest.fixture(scope="module")
def parts() -> dict[str, Part]:
    return read_parts(DOC.read_text(encoding="utf-8"))


def test_the_table_has_the_running_system_and_the_operators_side(parts: dict[str, Part]) -> None:
    assert {
        "certamen.contract",
        "certamen.producers",
        "certamen.source",
        "certamen.consumer",
        "certamen.adapters",
        "certamen.results",
        "certamen.operations",
    } <= parts.keys()
    assert parts["certamen.operations"].anything
    assert not parts["certamen.contract"].allowed
    assert "certamen.settings" in parts["certamen.consumer"].allowed  # "base" is read


def test_every_import_in_the_tree_is_allowed_by_the_table(parts: dict[str, Part]) -> None:
    modules = module_names(TREES)
    assert "certamen.consumer.main" in modules and "streamlit_app.app" in modules
    assert violations(parts, modules) == []


def test_an_import_into_the_operators_side_is_found(parts: dict[str, Part], tmp_path: Path) -> None:
    """The rule can fail: a consumer module importing the stack is reported with its line."""
    folder = tmp_path / "certamen"
    (folder / "consumer").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "consumer" / "__init__.py").write_text("from certamen.contract import Vote\n")
    (folder / "consumer" / "main.py").write_text(
        "import json\n\nfrom certamen.operations.stack import runner\n"
    )
    (folder / "contract.py").write_text("from . import consumer\n")
    problems = violations(parts, module_names({"certamen": folder}), root=tmp_path)
    assert [p for p in problems if "names no module" not in p] == [
        "certamen/consumer/main.py:3: certamen.consumer may not import "
        "certamen.operations.stack.runner (certamen.operations)",
        "certamen/contract.py:1: certamen.contract may not import certamen.consumer "
        "(certamen.consumer)",
    ]
