"""``certamen dead-letters list|replay``: the dead letters, and putting them right, from a shell.

A thin edge over ``certamen.dead_letters.DeadLetters`` (the app's dead-letters
page calls the same object): it reads the options (declared in ``cli.py``), opens
the clients once, prints a table or JSON. Who replays is ``--by``, else the user
the command runs as.

Exit status: ``list`` 0; ``replay`` 0 when every selected letter is put right
(or it was a preview), 1 when some stay dead letters (still broken, not found,
being replayed by someone else), 2 when it could not run (a bad option, a bad
catalog, a store away).
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from certamen.adapters.errors import StoreUnavailable
from certamen.adapters.mongo_store import make_mongo, vote_database
from certamen.adapters.redis_store import make_redis
from certamen.contract import CatalogError
from certamen.dead_letters import (
    DeadLetter,
    DeadLetters,
    ReplayReport,
    Selection,
    SelectionError,
)
from certamen.settings import Settings

_AGE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_PREVIEW = 60


def run(settings: Settings, args: argparse.Namespace) -> int:
    """List or replay; see the module's docstring for the exit status."""
    try:
        selection = Selection(
            ids=tuple(getattr(args, "id", ())),
            rule=args.reason,
            since=None if args.since is None else parse_since(args.since, datetime.now(UTC)),
            include_replayed=getattr(args, "all", False),
        )
        by = _who(args) if args.action == "replay" else ""
        if args.action == "list" and args.limit < 1:
            raise SelectionError("limit", "must be at least 1")
    except SelectionError as e:
        return _fail(str(e))
    redis_client, mongo = make_redis(settings), make_mongo(settings)
    try:
        desk = DeadLetters.from_settings(
            settings, db=vote_database(mongo, settings), redis=redis_client
        )
        if args.action == "list":
            _print_letters(desk.list(selection, limit=args.limit), args.json)
            return 0
        desk.ping()
        report = desk.replay(selection, by=by, dry_run=args.dry_run)
    except (StoreUnavailable, CatalogError, SelectionError) as e:
        return _fail(str(e))
    finally:
        redis_client.close()
        mongo.close()
    _print_report(report, args.json)
    if report.stopped is not None:
        return 2
    return 0 if report.dry_run or report.all_put_right else 1


def parse_since(text: str, now: datetime) -> datetime:
    """An ISO 8601 date or time (UTC unless it says otherwise), or an age back from ``now``."""
    age = _AGE.fullmatch(text.strip())
    if age is not None:
        return now - timedelta(**{_UNITS[age[2]]: int(age[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SelectionError(
            "since", f"{text!r} is no ISO 8601 date or time (2026-11-26T17:00Z) nor an age (2h)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _who(args: argparse.Namespace) -> str:
    """``--by``, else the user the command runs as."""
    if args.by is not None:
        return str(args.by)
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment nor in the password database
        raise SelectionError("by", "cannot tell who you are: give --by NAME") from None


def _fail(message: str) -> int:
    print(f"certamen dead-letters: {message}", file=sys.stderr)
    return 2


def _print_letters(letters: list[DeadLetter], as_json: bool) -> None:
    if as_json:
        print(json.dumps([_letter_dict(letter) for letter in letters], indent=2, default=str,
                         ensure_ascii=False))  # fmt: skip
        return
    table = Table(title=f"Dead letters ({len(letters)})")
    for column in ("id", "failed at (UTC)", "field/rule", "status", "replays", "data"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        data = letter.data if len(letter.data) <= _PREVIEW else letter.data[:_PREVIEW] + "…"
        table.add_row(
            letter.letter_id,
            "" if letter.failed_at is None else letter.failed_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{letter.reason.get('field')}/{letter.reason.get('rule')}",
            letter.status,
            str(letter.attempts),
            data,
        )
    Console().print(table)


def _letter_dict(letter: DeadLetter) -> dict[str, Any]:
    return {
        "letter_id": letter.letter_id,
        "reason": letter.reason,
        "failed_at": None if letter.failed_at is None else letter.failed_at.isoformat(),
        "status": letter.status,
        "attempts": letter.attempts,
        "event": {
            "type": letter.event_type,
            "source": letter.event_source,
            "id": letter.event_id,
            "subject": letter.subject,
            "data": letter.data,
        },
        "topic": letter.topic,
        "partition": letter.partition,
        "offset": letter.offset,
        "replayed": None
        if letter.replayed is None
        else {
            "by": letter.replayed.by,
            "at": letter.replayed.at.isoformat(),
            "outcome": letter.replayed.outcome,
            "vote_id": letter.replayed.vote_id,
        },
    }


def _print_report(report: ReplayReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    out = Console()
    title = "Replay preview (nothing written)" if report.dry_run else f"Replayed by {report.by}"
    table = Table(title=title)
    for column in ("id", "outcome", "vote id", "detail"):
        table.add_column(column, overflow="fold")
    for o in report.outcomes:
        table.add_row(o.letter_id, o.outcome.value, o.vote_id or "", o.detail)
    out.print(table)
    counts = report.to_dict()["counts"]
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items()) or "nothing selected"
    out.print(summary + ("" if report.stopped is None else f"; stopped: {report.stopped}"))
    if report.not_attempted:
        out.print(f"{report.not_attempted} letter(s) not attempted")
