"""Which servers get no secondary index: FerretDB before v2, by its buildInfo."""

from __future__ import annotations

import pytest

from certamen.adapters.mongo_store import is_ferretdb_v1


@pytest.mark.parametrize(
    ("build_info", "v1"),
    [
        ({"version": "7.0.14"}, False),  # MongoDB
        ({"version": "7.0.42", "ferretdbVersion": "unknown"}, True),  # the local wrapper
        ({"version": "7.0.42", "ferretdbVersion": "v1.24.2"}, True),
        ({"version": "7.0.77", "ferretdbVersion": "v2.1.0"}, False),
        ({"version": "7.0.77", "ferretdbVersion": "2.0.0"}, False),
    ],
)
def test_ferretdb_v1_is_told_by_its_version(build_info: dict[str, str], v1: bool) -> None:
    assert is_ferretdb_v1(build_info) is v1
