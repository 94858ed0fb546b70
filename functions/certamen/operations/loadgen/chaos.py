"""The chaos run's plan: which parts are killed when, as a pure function of a seed.

``load/bench_chaos.py`` drives the running stack while it kills parts of it. The
moments are random but reproducible: the same seed, parts and duration give the
same plan, which the run prints before it starts. Every part is killed the number
of times asked for; now and then two parts go down together.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

PAIR_SHARE = 0.3  # of the events, roughly, kill two parts at once


@dataclass(frozen=True, slots=True)
class Kill:
    """At ``at_s`` seconds into the load, SIGKILL ``parts``; bring them back ``down_s`` later."""

    at_s: float
    parts: tuple[str, ...]
    down_s: float

    def describe(self) -> str:
        """One line for the printed plan."""
        return f"t={self.at_s:6.1f} s  kill {' + '.join(self.parts):<30} down {self.down_s:.1f} s"


def kill_plan(
    parts: tuple[str, ...],
    *,
    kills_per_part: int,
    load_s: float,
    seed: int,
    lead_in_s: float,
    tail_s: float,
    down_s: tuple[float, float] = (1.0, 5.0),
) -> list[Kill]:
    """The kills of one run, in time order, spread over ``[lead_in_s, load_s - tail_s]``.

    Each part is a victim ``kills_per_part`` times; victims are shuffled and some
    neighbours (two different parts) are joined into one event, at least one pair
    whenever there are four victims or more. Events get one slot each of the window,
    at a random moment in the first half of their slot, so a part's restart has
    time before the next event.
    """
    if kills_per_part < 1:
        raise ValueError(f"kills_per_part must be at least 1, not {kills_per_part}")
    window = load_s - tail_s - lead_in_s
    if window <= 0:
        raise ValueError(f"no time to kill anything: {load_s} s of load, {lead_in_s} + {tail_s}")
    rng = random.Random(seed)
    victims = [part for part in parts for _ in range(kills_per_part)]
    rng.shuffle(victims)
    events = _group(victims, rng)
    slot = window / len(events)
    low, high = down_s
    return [
        Kill(
            at_s=round(lead_in_s + i * slot + rng.uniform(0.0, slot / 2), 1),
            parts=event,
            down_s=round(rng.uniform(low, high), 1),
        )
        for i, event in enumerate(events)
    ]


def kills_per_part(plan: list[Kill]) -> Counter[str]:
    """How often each part is killed in ``plan``."""
    return Counter(part for kill in plan for part in kill.parts)


def _group(victims: list[str], rng: random.Random) -> list[tuple[str, ...]]:
    """Consecutive victims, some of them joined in pairs of two different parts."""
    events: list[tuple[str, ...]] = []
    index = 0
    while index < len(victims):
        first = victims[index]
        following = victims[index + 1] if index + 1 < len(victims) else None
        if following is not None and following != first and rng.random() < PAIR_SHARE:
            events.append((first, following))
            index += 2
        else:
            events.append((first,))
            index += 1
    if len(victims) >= 4 and all(len(event) == 1 for event in events):
        for i in range(len(events) - 1):  # no pair drawn: join the first two that differ
            if events[i][0] != events[i + 1][0]:
                events[i : i + 2] = [(events[i][0], events[i + 1][0])]
                break
    return events
