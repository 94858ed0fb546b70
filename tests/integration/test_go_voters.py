"""The Go voters (load/govoters.py) and the Python ones (load/newconn.py) judge the same
answers alike: the same votes to the same real producer, each route, fall in the same
classes; a vote to a port nothing listens on is ``failed`` for both (never sent)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from certamen.settings import Settings
from load import govoters, newconn
from tests.integration.burst_harness import BALLOTS, ROUTES, producer
from tests.support.pipeline import free_port

pytestmark = pytest.mark.integration

GENERATORS: dict[str, Callable[[newconn.Plan], newconn.Ledger]] = {
    "python": newconn.run,
    "go": govoters.run,
}
# a good vote, then one that breaks a rule (year), then again
MIXED = [BALLOTS[0], {**BALLOTS[1], "year": "last year"}]


def classes(ledger: newconn.Ledger) -> list[tuple[int, str]]:
    """(vote's number, its class), in order."""
    return sorted((int(v.key.rsplit(".", 1)[1]), v.outcome) for v in ledger.votes)


def plan(route: str, target: str, run_id: str) -> newconn.Plan:
    return newconn.Plan(route=route, target=target, seconds=60.0, ballots=MIXED,
                        run_id=run_id, votes=4, processes=1, in_flight=4)  # fmt: skip


@pytest.mark.parametrize("route", ROUTES)
def test_go_and_python_voters_put_the_same_answers_in_the_same_classes(
    route: str, pipeline: Settings, tmp_path: Path
) -> None:
    with producer(route, pipeline, tmp_path) as running:
        found = {
            name: classes(run(plan(route, running.target, f"agree-{route}-{name}")))
            for name, run in GENERATORS.items()
        }
    expected = [(0, "accepted"), (1, "rejected"), (2, "accepted"), (3, "rejected")]
    assert found == {"python": expected, "go": expected}


@pytest.mark.parametrize("route", ROUTES)
def test_a_vote_to_nobody_is_failed_for_go_and_python_voters(route: str) -> None:
    target = f"127.0.0.1:{free_port()}"
    found = {
        name: {v.outcome for v in run(plan(route, target, f"nobody-{route}-{name}")).votes}
        for name, run in GENERATORS.items()
    }
    assert found == {"python": {"failed"}, "go": {"failed"}}
