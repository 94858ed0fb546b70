"""load/setting_ab.py's pure parts: how a variant is read, and the tables of one route."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType

import pytest

LOAD = Path(__file__).resolve().parents[2] / "load"


@pytest.fixture
def scripts(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType]:
    """The scripts as ``python load/setting_ab.py`` imports them: load/ first on the path."""
    monkeypatch.syspath_prepend(str(LOAD))
    return importlib.import_module("setting_ab"), importlib.import_module("bench_cost_per_vote")


def test_a_variant_is_one_or_more_assignments_and_may_set_a_variable_empty(
    scripts: tuple[ModuleType, ModuleType],
) -> None:
    setting_ab, _ = scripts
    assert setting_ab.variant("GRPC_EXPERIMENTS=") == {"GRPC_EXPERIMENTS": ""}
    both = setting_ab.variant("CERTAMEN_INGRESS_CPUS=1 GRPC_EXPERIMENTS=-event_engine_listener")
    assert both == {"CERTAMEN_INGRESS_CPUS": "1", "GRPC_EXPERIMENTS": "-event_engine_listener"}
    assert setting_ab.label(both) == (
        "CERTAMEN_INGRESS_CPUS=1 GRPC_EXPERIMENTS=-event_engine_listener"
    )


@pytest.mark.parametrize("text", ["GRPC_EXPERIMENTS", "=1", "", "A=1 B"])
def test_a_word_that_is_not_an_assignment_is_a_clear_error(
    scripts: tuple[ModuleType, ModuleType], text: str
) -> None:
    setting_ab, _ = scripts
    with pytest.raises(argparse.ArgumentTypeError, match="a variant is NAME=VALUE"):
        setting_ab.variant(text)


def test_the_table_by_part_has_a_column_for_each_route_measured_only(
    scripts: tuple[ModuleType, ModuleType],
) -> None:
    _, cost = scripts
    runs = [
        cost.Run({"kafka": k, "producer-grpc": p}, 0.2, 8000, 900.0, 10.0, 30.0, True)
        for k, p in [(0.2, 0.6), (0.3, 0.7), (0.25, 0.65)]
    ]
    table = cost.by_part_table({"grpc": runs}, {"kafka": 33.0})
    assert "| part | gRPC Cast | idle, ms CPU a second |" in table
    assert "HTTP" not in table
    assert "| kafka | 0.250 (0.200-0.300) | 33.0 |" in table
    assert "| **pipeline without the load generator** | 0.900 (0.800-1.000) | |" in table


def test_the_switches_table_sums_the_parts_of_each_run(
    scripts: tuple[ModuleType, ModuleType],
) -> None:
    _, cost = scripts
    runs = [
        cost.Run({}, 0.2, 8000, 900.0, 10.0, 30.0, True, {"kafka": k, "producer-grpc": p})
        for k, p in [(1.0, 10.0), (2.0, 6.0), (1.5, 8.0)]
    ]
    table = cost.switches_table({"grpc": runs})
    assert "| part | gRPC Cast |" in table
    assert "| kafka | 1.50 (1.00-2.00) |" in table
    assert "| producer-grpc | 8.00 (6.00-10.00) |" in table
    assert "| **pipeline without the load generator** | 9.50 (8.00-11.00) |" in table
