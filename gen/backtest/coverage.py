"""Where the server's history of an environment starts, inside the range asked for.

A replay over a range the server holds no data for invents firings: every alert on `absent()` or
on a target missing fires from the range's start until the first scrape. So the backtest asks
when the environment's targets (their `up` series) first have a sample, and replays from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

RangeQuery = Callable[[str, float, float, float], list]
COARSE_POINTS = 1000  # the first pass: the whole range at this many points
FINE_POINTS = 200  # the second: the one coarse step that holds the start


@dataclass(frozen=True)
class Coverage:
    namespace: str
    requested_start: float
    end: float
    first_sample: float | None  # None: no sample of the environment's series in the range
    resolution_s: float

    @property
    def starts_late(self) -> bool:
        """History begins after the range does (by more than the search's resolution)."""
        return self.first_sample is None or self.first_sample - self.requested_start > self.resolution_s

    @property
    def start(self) -> float:
        """Where the replay starts: the range's start, or the history's when that is later."""
        if self.first_sample is None:
            return self.end
        return self.first_sample if self.starts_late else self.requested_start


def selector(namespace: str) -> str:
    # `up` alone: one name (count_over_time drops it, and two names' series would collide), and
    # every scraped target has it, whatever else the history holds.
    return f'up{{namespace="{namespace}"}}'


def _first_point(query: RangeQuery, series: str, start: float, end: float, step: float) -> float | None:
    """The first evaluation time t in [start, end] with a sample in (t - step, t]: the first
    sample, rounded up to the step (each sample falls in exactly one such window)."""
    window = f"{max(int(math.ceil(step)), 1)}s"
    found = query(f"count(count_over_time({series}[{window}]))", start, end, step)
    times = [float(t) for s in found for t, _ in s.get("values", [])]
    return min(times) if times else None


def history_start(query: RangeQuery, namespace: str, start: float, end: float) -> Coverage:
    series = selector(namespace)
    coarse = max(math.ceil((end - start) / COARSE_POINTS), 60)
    first = _first_point(query, series, start, end, coarse)
    if first is None:
        return Coverage(namespace, start, end, None, coarse)
    fine = max(math.ceil(coarse / FINE_POINTS), 1)
    refined = _first_point(query, series, max(start, first - coarse), first, fine)
    # The first sample lies within one fine step before `found`: replaying from `found` never
    # evaluates a rule before it.
    found = refined if refined is not None else first
    return Coverage(namespace, start, end, found, fine)
