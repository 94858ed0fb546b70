"""What each burst of a run did: votes accepted, answers refused, how far the counting lagged.

Pure bookkeeping over the samples a replay reports (:class:`Sample`: seconds since the
load started, votes acknowledged, answers that were not an acknowledgement, votes
counted) and the run's :class:`~certamen.operations.loadgen.shape.BurstPlan`: the demo
feeds it while it waits, then prints :meth:`BurstLog.bursts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from certamen.operations.loadgen.shape import BurstPlan


@dataclass(frozen=True, slots=True)
class Sample:
    """The run at one moment."""

    elapsed_s: float
    acknowledged: int
    refused: int  # answers 503 / UNAVAILABLE or unknown, each retried with its key
    counted: int


@dataclass(frozen=True, slots=True)
class Burst:
    """One burst: what it sent and how the counting kept up with it."""

    number: int
    accepted: int
    refused: int
    lag_at_end: int  # acknowledged but not yet counted when the burst dropped
    max_lag: int  # the most acknowledged-but-uncounted votes while it ran and after
    caught_up_s: float | None  # from its drop until the counting had all it acknowledged


@dataclass
class BurstLog:
    """Samples of a run, cut into its bursts."""

    plan: BurstPlan
    samples: list[Sample] = field(default_factory=list)
    _origin: float = 0.0

    def add(self, sample: Sample) -> None:
        """Record the run as it is now (samples in time order)."""
        self.samples.append(sample)

    def bursts(self) -> list[Burst]:
        """Each burst that started, in order.

        The run's clock starts when Locust's does, a moment after the process started:
        its origin is taken from the first acknowledgement seen, which comes as the first
        burst starts. Seen late: Locust's users write what was acknowledged once a second,
        and the samples read it twice a second, so a burst's votes are those seen from
        half a gap before its planned start to half a gap after its drop.
        """
        first = next((s.elapsed_s for s in self.samples if s.acknowledged), None)
        self._origin = 0.0 if first is None else max(0.0, first - self.plan.idle_s)
        found = []
        for number in range(self.plan.bursts):
            opens, drop, closes = self._window(number)
            inside = [s for s in self.samples if opens <= s.elapsed_s < closes]
            if not inside:
                break
            before = self._last_before(opens)
            at_drop = self._last_before(drop, inclusive=True) or inside[-1]
            after = [s for s in self.samples if s.elapsed_s >= drop]
            caught = next((s for s in after if s.counted >= at_drop.acknowledged), None)
            found.append(
                Burst(
                    number=number + 1,
                    accepted=inside[-1].acknowledged - (before.acknowledged if before else 0),
                    refused=inside[-1].refused - (before.refused if before else 0),
                    lag_at_end=max(0, at_drop.acknowledged - at_drop.counted),
                    max_lag=max(max(0, s.acknowledged - s.counted) for s in inside),
                    caught_up_s=None if caught is None else max(0.0, caught.elapsed_s - drop),
                )
            )
        return found

    def _window(self, number: int) -> tuple[float, float, float]:
        """When burst ``number`` (from 0) is looked for, drops to zero users, and is over."""
        plan = self.plan
        start = self._origin + plan.idle_s + number * (plan.ramp_s + plan.hold_s + plan.gap_s)
        drop = start + plan.ramp_s + plan.hold_s
        margin = plan.gap_s / 2
        if number < plan.bursts - 1:
            return start - margin, drop, drop + margin
        # The last burst holds until the file is sent: it drops with the last acknowledgement.
        final = self.samples[-1].acknowledged if self.samples else 0
        sent = next((x.elapsed_s for x in self.samples if x.acknowledged >= final), drop)
        return start - margin, max(start, sent), float("inf")

    def _last_before(self, moment: float, *, inclusive: bool = False) -> Sample | None:
        earlier = [
            s for s in self.samples if s.elapsed_s < moment or (inclusive and s.elapsed_s == moment)
        ]
        return earlier[-1] if earlier else None
