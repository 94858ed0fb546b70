"""The Grafana transformations the contest panels use, named for what they do.

The Redis plugin answers ``HGETALL`` with one row whose columns are the hash's
fields. ``hash_as_rows`` turns that into one row per field (a name column and a
number column) so bars can be sorted; ``average_rank`` divides rank sums by votes.
Each step is a stock transformation; docs/dashboards.md explains the chain.
"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

# Column names Grafana gives the "reduce" transformation's output (series to rows).
REDUCE_NAME = "Field"
REDUCE_LAST = "Last *"  # reducer lastNotNull
REDUCE_FIRST = "First"  # reducer first
REDUCE_LATEST = "Last"  # reducer last


def hash_as_rows(name: str, value: str) -> list[DataTransformerConfig]:
    """One Redis hash as a two-column table ``name | value``, biggest value first."""
    return [
        _reduce(["lastNotNull"]),
        _organize(rename={REDUCE_NAME: name, REDUCE_LAST: value}),
        sort_by(value),
    ]


def average_rank(name: str, votes: str, rank_sum: str, average: str) -> list[DataTransformerConfig]:
    """Votes (query 1) and rank sums (query 2) per album into ``name | average``.

    ``merge`` stacks the two one-row answers (votes first, as the queries are
    ordered); ``reduce`` with *First* and *Last* turns each album column into a
    row holding both numbers; ``calculateField`` divides them.
    """
    return [
        DataTransformerConfig(id_val="merge", options={}),
        _reduce(["first", "last"]),
        _organize(rename={REDUCE_NAME: name, REDUCE_FIRST: votes, REDUCE_LATEST: rank_sum}),
        DataTransformerConfig(
            id_val="calculateField",
            options={
                "mode": "binary",
                "binary": {"left": rank_sum, "operator": "/", "right": votes},
                "alias": average,
                "replaceFields": False,
            },
        ),
        _organize(exclude=[votes, rank_sum]),
        sort_by(average),
    ]


def renamed(names: dict[str, str]) -> DataTransformerConfig:
    """Fields shown under other names (a hash's fields, as the dashboard's language says them)."""
    return _organize(rename=names)


def sort_by(field: str) -> DataTransformerConfig:
    """Rows sorted by ``field``, largest first."""
    return DataTransformerConfig(
        id_val="sortBy", options={"fields": {}, "sort": [{"field": field, "desc": True}]}
    )


def _reduce(reducers: list[str]) -> DataTransformerConfig:
    return DataTransformerConfig(
        id_val="reduce",
        options={
            "mode": "seriesToRows",
            "reducers": reducers,
            "includeTimeField": False,
            "labelsToFields": False,
        },
    )


def _organize(
    rename: dict[str, str] | None = None, exclude: list[str] | None = None
) -> DataTransformerConfig:
    return DataTransformerConfig(
        id_val="organize",
        options={
            "excludeByName": dict.fromkeys(exclude or [], True),
            "indexByName": {},
            "renameByName": rename or {},
        },
    )
