"""Prometheus' alert state machine, replayed over the answers of a range query.

A range query at the rule group's evaluation interval answers, for each step, the series for which
the alert's expression is true: exactly what the rule manager sees at each evaluation. What the
manager then does (rules/alerting.go, Prometheus 2.42) is replayed here per series:

- a series that appears becomes pending at that evaluation (ActiveAt);
- a pending alert fires at the first evaluation where `ts - ActiveAt >= for` (at once for for: 0);
- a pending alert whose series is missing from one evaluation goes back to inactive;
- a firing alert whose series is missing resolves at that evaluation, unless `keep_firing_for` is
  set: the first missing evaluation starts KeepFiringSince, and the alert keeps firing while
  `ts - KeepFiringSince < keep_firing_for`; a reappearing series resets KeepFiringSince.

Series are independent, so the replay walks runs of consecutive steps, not single steps: a week at
one-minute steps for hundreds of series stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

LabelKey = tuple[tuple[str, str], ...]


def label_key(metric: dict[str, str]) -> LabelKey:
    """A series' labels as a key; without the metric name, which the rule manager drops from an
    alert's labels and a recorded series renames."""
    return tuple(sorted((k, v) for k, v in metric.items() if k != "__name__"))


@dataclass(frozen=True)
class Firing:
    labels: LabelKey
    start: float  # the evaluation at which the alert went to firing
    end: float  # the evaluation at which it resolved, or the last evaluation when still firing
    ongoing: bool = False

    @property
    def seconds(self) -> float:
        return self.end - self.start


def runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted step indices as inclusive runs of consecutive steps."""
    found: list[tuple[int, int]] = []
    for i in indices:
        if found and i == found[-1][1] + 1:
            found[-1] = (found[-1][0], i)
        elif not found or i > found[-1][1]:
            found.append((i, i))
    return found


def _ceil_steps(seconds: float, step: float) -> int:
    whole = int(seconds // step)
    return whole if whole * step >= seconds else whole + 1


def replay(labels: LabelKey, indices: list[int], start: float, step: float, count: int, hold: float,
           keep: float) -> list[Firing]:
    """The firings of one series, present at `indices` of `count` evaluations start + k*step."""
    firings: list[Firing] = []
    hold_steps = _ceil_steps(hold, step)  # pending at i0 fires at i0 + hold_steps
    keep_steps = _ceil_steps(keep, step) if keep > 0 else 0  # missing from g: resolves at g + keep_steps
    series_runs = runs(indices)
    fired_at: int | None = None  # step index of the current firing, None when not firing
    for n, (first, last) in enumerate(series_runs):
        if fired_at is None:
            fire = first + hold_steps
            if fire <= last:
                fired_at = fire
        # else: still firing thanks to keep_firing_for; presence resets KeepFiringSince
        if fired_at is None:
            continue  # pending went back to inactive at last + 1 (or the range ended)
        gap = last + 1
        next_first = series_runs[n + 1][0] if n + 1 < len(series_runs) else count
        if gap >= count:
            break  # still firing at the end of the range
        resolve = gap + keep_steps
        if resolve < next_first and resolve < count:
            firings.append(Firing(labels, start + fired_at * step, start + resolve * step))
            fired_at = None
        elif next_first >= count:
            break  # kept firing up to the end of the range
    if fired_at is not None:
        firings.append(Firing(labels, start + fired_at * step, start + (count - 1) * step, ongoing=True))
    return firings


def replay_all(present: dict[LabelKey, list[int]], start: float, step: float, count: int, hold: float,
               keep: float) -> list[Firing]:
    firings: list[Firing] = []
    for labels in sorted(present):
        firings.extend(replay(labels, sorted(set(present[labels])), start, step, count, hold, keep))
    return sorted(firings, key=lambda f: (f.start, f.labels))
