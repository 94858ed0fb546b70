"""What the Locust users of one process share: the vote file, the cursor, the ledger.

Built on first use (a Locust worker has the master's options only from its first
spawn). ``send`` is the one place a vote's retries and final outcome are decided;
the users only turn a transport's answer into an :data:`Outcome`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from gevent import GreenletExit
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, Runner, WorkerRunner

from certamen.operations.loadgen.cursor import ReplayCursor, SampleCursor
from certamen.operations.loadgen.keys import check_run_id, replay_key, sample_key
from certamen.operations.loadgen.ledger import Ledger
from certamen.operations.loadgen.options import options_of
from certamen.operations.loadgen.retry import Backoff
from certamen.operations.votefiles import Record, VoteFile, read_votes

log = logging.getLogger("certamen.load")


@dataclass(frozen=True, slots=True)
class Accepted:
    """The producer acknowledged the vote."""

    pass


@dataclass(frozen=True, slots=True)
class Rejected:
    """The producer refused the vote for breaking a rule."""

    rule: str  # "field/rule"


@dataclass(frozen=True, slots=True)
class Retry:
    """No answer, or 503 / UNAVAILABLE: send the same vote again."""

    reason: str


Outcome = Accepted | Rejected | Retry


@dataclass(slots=True)
class Item:
    """One vote to send: its record, its key and (replays) its index in the file."""

    record: Record
    key: str
    index: int | None


@dataclass(slots=True)
class Contest:
    """What the users of one Locust process share: the file, the cursor and the ledger."""

    environment: Environment
    votes: VoteFile
    run_id: str
    backoff: Backoff
    ledger: Ledger
    ledger_dir: Path | None
    replay: ReplayCursor | None
    sample: SampleCursor | None
    quitting: bool = False
    _writer: Any = field(default=None)

    def next_item(self) -> Item | None:
        """The next vote for a user, or ``None`` when the replay has none left."""
        if self.sample is not None:
            sequence, index = self.sample.take()
            key = sample_key(self.run_id, self.ledger.worker, sequence)
            return Item(self.votes.records[index], key, None)
        assert self.replay is not None
        position = self.replay.take()
        if position is None:
            return None
        key = replay_key(self.run_id, self.votes.tag, position)
        return Item(self.votes.records[position], key, position)

    def done(self, item: Item) -> None:
        """The item got its final outcome; the replay may now be over."""
        if self.replay is not None and item.index is not None:
            self.replay.done()

    def exhausted(self) -> None:
        """A user found nothing left: stop it, or end the run if it was the last vote."""
        if self.replay is not None and self.replay.finished and not self.quitting:
            self.quitting = True
            self.write(final=True)
            runner = self.environment.runner
            if runner is not None:
                log.info("replay done: %s", _summary(self.ledger))
                gevent.spawn(_quit, runner)
        raise StopUser()

    def write(self, *, final: bool = False) -> None:
        """Write the ledger (when asked for with --ledger-dir)."""
        self.ledger.final = self.ledger.final or final
        if self.ledger_dir is not None:
            self.ledger.write(self.ledger_dir)

    def send(self, item: Item, route: str, attempt: Callable[[Item], Outcome]) -> None:
        """Send one vote with bounded retries and put its final outcome in the ledger.

        A user stopped in the middle of it (a burst dropping its users) hands the record
        back: another user sends it again with the same key, so it counts once.
        """
        handed_back = False
        try:
            for delay in [*self.backoff.delays(), None]:
                outcome = attempt(item)
                if isinstance(outcome, Accepted):
                    self.ledger.accept(route, item.index)
                    return
                if isinstance(outcome, Rejected):
                    self.ledger.reject(outcome.rule)
                    return
                if delay is None:
                    self.ledger.fail(route, item.index)
                    return
                self.ledger.retry(route)
                gevent.sleep(delay)
        except GreenletExit:
            if self.replay is not None and item.index is not None:
                self.replay.give_back(item.index)
                handed_back = True
            raise
        finally:
            if not handed_back:
                self.done(item)


_CONTEST: Contest | None = None


def shared_contest(environment: Environment) -> Contest:
    """The process's contest, built on first use: a worker has the master's options by then."""
    global _CONTEST
    if _CONTEST is None:
        _CONTEST = _build_contest(environment)
    return _CONTEST


def _build_contest(environment: Environment) -> Contest:
    options = options_of(environment)
    runner = environment.runner
    worker, workers = 0, 1
    if isinstance(runner, WorkerRunner):
        worker, workers = runner.worker_index, max(1, int(options.expect_workers))
    votes = read_votes(Path(options.votes_file))
    run_id = check_run_id(options.run_id)
    replay = ReplayCursor(len(votes), worker, workers) if options.mode == "replay" else None
    sample = (
        SampleCursor(len(votes), seed=options.seed * 1_000 + worker)
        if options.mode == "sample"
        else None
    )
    ledger = Ledger(
        worker=worker,
        workers=workers,
        run_id=run_id,
        tag=votes.tag,
        mode=options.mode,
        share=replay.share if replay is not None else 0,
    )
    contest = Contest(
        environment=environment,
        votes=votes,
        run_id=run_id,
        backoff=Backoff(attempts=options.attempts),
        ledger=ledger,
        ledger_dir=Path(options.ledger_dir) if options.ledger_dir else None,
        replay=replay,
        sample=sample,
    )
    log.info(
        "worker %d/%d: %s %s (%d records, tag %s), run %s",
        worker,
        workers,
        options.mode,
        votes.path,
        len(votes),
        votes.tag,
        run_id,
    )
    contest._writer = gevent.spawn(_write_every_second, contest)
    return contest


def _write_every_second(contest: Contest) -> None:
    while not contest.ledger.final:
        contest.write()
        gevent.sleep(1.0)


def _quit(runner: Runner) -> None:
    """End this process's run; a worker first hands its last statistics to the master."""
    if isinstance(runner, WorkerRunner):
        runner._send_stats()  # Locust does this only when the master says quit
    runner.quit()


def _summary(ledger: Ledger) -> str:
    return (
        f"accepted {sum(ledger.accepted.values())} {dict(ledger.accepted)}, "
        f"rejected {sum(ledger.rejected.values())}, failed {sum(ledger.failed.values())}, "
        f"retries {sum(ledger.retries.values())}"
    )


def write_final_ledger(environment: Environment, **_: Any) -> None:
    """At the end of a test: the final ledger, and the votes' outcome in the log."""
    if _CONTEST is not None and not isinstance(environment.runner, MasterRunner):
        _CONTEST.write(final=True)
        log.info("votes: %s", _summary(_CONTEST.ledger))
