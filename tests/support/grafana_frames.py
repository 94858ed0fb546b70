"""What Grafana would show for a dashboard's Redis panels, computed in Python for the tests.

``run_target`` answers a target the way the redis-datasource plugin does (its
frame shapes: GET -> one ``Value``; HGETALL -> one row, one column per hash
field; XRANGE -> ``$streamId``, ``$time`` and one column per entry field).
``transform`` applies the subset of Grafana transformations the dashboards use
with Grafana's semantics (names as Grafana labels them). No Grafana server is
needed; the commands run against the real Redis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import redis

Row = dict[str, Any]

_REDUCER_NAMES = {"first": "First", "last": "Last", "lastNotNull": "Last *"}


@dataclass
class Frame:
    """A data frame: a name and rows (Grafana's columns are the rows' keys, in order)."""

    name: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)


def run_target(client: redis.Redis, target: dict[str, Any], start_ms: int, end_ms: int) -> Frame:
    """Run one plugin target (command mode) against Redis."""
    command, key = target["command"], target["keyName"]
    if command == "get":
        raw = client.get(key)
        return Frame(key, ["Value"], [{"Value": None if raw is None else float(raw)}])
    if command == "hgetall":
        values = {k.decode(): float(v) for k, v in client.hgetall(key).items()}
        return Frame("hgetall", list(values), [values] if values else [])
    if command == "xrange":
        entries = client.xrange(key, f"{start_ms}-0", f"{end_ms}-0")
        rows: list[Row] = []
        for entry_id, fields in entries:
            row: Row = {"$streamId": entry_id.decode(), "$time": int(entry_id.split(b"-")[0])}
            row.update({k.decode(): float(v) for k, v in fields.items()})
            rows.append(row)
        columns = list(dict.fromkeys(c for r in rows for c in r)) or ["$streamId", "$time"]
        return Frame("xrange", columns, rows)
    raise ValueError(f"the dashboards do not use {command!r}")


def transform(frames: list[Frame], transformations: list[dict[str, Any]]) -> list[Frame]:
    """Apply a panel's transformations in order."""
    for step in transformations:
        options = step["options"]
        match step["id"]:
            case "merge":
                frames = [_merge(frames)]
            case "reduce":
                assert options["mode"] == "seriesToRows"
                frames = [_merge([_reduce(f, options["reducers"]) for f in frames])]
            case "organize":
                frames = [_organize(f, options) for f in frames]
            case "calculateField":
                frames = [_calculate(f, options) for f in frames]
            case "sortBy":
                frames = [_sort(f, options["sort"][0]) for f in frames]
            case other:
                raise ValueError(f"transformation {other!r} is not modelled here")
    return frames


def _merge(frames: list[Frame]) -> Frame:
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    rows: list[Row] = []
    for frame in frames:
        for row in frame.rows:
            full = {c: row.get(c) for c in columns}
            if full not in rows:  # Grafana merges rows whose values are all equal
                rows.append(full)
    return Frame(frames[0].name if frames else "", columns, rows)


def _reduce(frame: Frame, reducers: list[str]) -> Frame:
    names = [_REDUCER_NAMES[r] for r in reducers]
    rows = []
    for column in frame.columns:
        values = [row.get(column) for row in frame.rows]
        if not all(v is None or isinstance(v, float) for v in values):
            continue  # only number fields are reduced
        present = [v for v in values if v is not None]
        computed = {
            "First": values[0] if values else None,
            "Last": values[-1] if values else None,
            "Last *": present[-1] if present else None,
        }
        rows.append({"Field": column, **{name: computed[name] for name in names}})
    return Frame(frame.name, ["Field", *names], rows)


def _organize(frame: Frame, options: dict[str, Any]) -> Frame:
    rename: dict[str, str] = options.get("renameByName", {})
    excluded = {name for name, hidden in options.get("excludeByName", {}).items() if hidden}
    columns = [rename.get(c, c) for c in frame.columns if c not in excluded]
    rows = [
        {rename.get(c, c): v for c, v in row.items() if c not in excluded} for row in frame.rows
    ]
    return Frame(frame.name, columns, rows)


def _calculate(frame: Frame, options: dict[str, Any]) -> Frame:
    assert options["mode"] == "binary" and options["binary"]["operator"] == "/"
    left, right, alias = options["binary"]["left"], options["binary"]["right"], options["alias"]
    rows = [{**row, alias: _divide(row[left], row[right])} for row in frame.rows]
    return Frame(frame.name, [*frame.columns, alias], rows)


def _divide(left: float | None, right: float | None) -> float | None:
    if left is None or right is None:
        return None
    if right == 0:
        return math.nan if left == 0 else math.copysign(math.inf, left)
    return left / right


def _sort(frame: Frame, order: dict[str, Any]) -> Frame:
    def key(row: Row) -> float:
        value = row.get(order["field"])
        return -math.inf if value is None or math.isnan(value) else float(value)

    return Frame(frame.name, frame.columns, sorted(frame.rows, key=key, reverse=order["desc"]))
