"""Backtest the alerting rules of one environment: range queries at each group's evaluation
interval, split into chunks run concurrently, then Prometheus' state machine replayed per series.

Chunks share one grid of evaluation times (multiples of the interval), so a chunk boundary moves no
evaluation and splitting changes nothing in the answer: only how many points each query returns.
"""

from __future__ import annotations

import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from gen.backtest.evaluate import Firing, LabelKey, label_key, replay_all
from gen.backtest.inline import InlineError, Inliner
from gen.backtest.rules import AlertRule, RuleSet, fingerprint

# Prometheus refuses a range query over 11,000 points per series; stay under it.
MAX_POINTS = 11_000
# Answers that mean "ask for less at once": split the chunk and retry (a timeout too: half the
# range is about half the work).
# Prometheus answers a query that ran out of time with a 503 whose body says "query timed out".
_TOO_BIG = re.compile(r"too many samples|maximum resolution|exceeded maximum|max_samples|too many points|timed out|"
                      r"deadline exceeded|\b503\b", re.I)

# (expr, start, end, step) -> the "result" list of a Prometheus range query (a matrix).
RangeQuery = Callable[[str, float, float, float], list[dict]]


class QueryFailed(Exception):
    pass


@dataclass
class AlertResult:
    rule: AlertRule
    run_expr: str
    inlined: list[str] = field(default_factory=list)
    from_history: list[str] = field(default_factory=list)  # recorded series read as recorded
    firings: list[Firing] = field(default_factory=list)
    error: str | None = None
    queries: int = 0
    fingerprint: str = ""

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def count(self) -> int:
        return len(self.firings)

    @property
    def total_s(self) -> float:
        return sum(f.seconds for f in self.firings)

    @property
    def longest_s(self) -> float:
        return max((f.seconds for f in self.firings), default=0.0)

    @property
    def first(self) -> float | None:
        return min((f.start for f in self.firings), default=None)

    @property
    def last(self) -> float | None:
        return max((f.start for f in self.firings), default=None)

    def series(self) -> list[dict[str, str]]:
        return [dict(key) for key in sorted({f.labels for f in self.firings})]


@dataclass
class BacktestResult:
    env: str
    start: float
    end: float
    alerts: list[AlertResult]
    queries: int = 0
    seconds: float = 0.0
    recorded: object = None  # gen.backtest.history.Decision: which recorded series were read, which inlined
    coverage: object = None  # gen.backtest.coverage.Coverage: where the server's history starts


def grid(start: float, end: float, step: float) -> tuple[float, int]:
    """The evaluation times in [start, end]: multiples of step, as (first, count)."""
    first = math.ceil(start / step) * step
    last = math.floor(end / step) * step
    return first, max(0, int(round((last - first) / step)) + 1)


def chunks(count: int, max_points: int) -> list[tuple[int, int]]:
    """Inclusive step-index ranges of at most max_points steps covering 0..count-1."""
    size = max(1, int(max_points))
    return [(a, min(a + size, count) - 1) for a in range(0, count, size)]


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


def _fetch(query: RangeQuery, expr: str, first: float, step: float, a: int, b: int, counter: _Counter,
           ) -> list[tuple[LabelKey, list[int]]]:
    counter.add()
    try:
        matrix = query(expr, first + a * step, first + b * step, step)
    except QueryFailed as exc:
        if b > a and _TOO_BIG.search(str(exc)):
            mid = (a + b) // 2
            return (_fetch(query, expr, first, step, a, mid, counter)
                    + _fetch(query, expr, first, step, mid + 1, b, counter))
        raise
    found = []
    for series in matrix:
        indices = [int(round((float(ts) - first) / step)) for ts, _value in series.get("values") or []]
        found.append((label_key(series.get("metric") or {}), [i for i in indices if a <= i <= b]))
    return found


def screening_stride(alert: AlertRule) -> int:
    """Evaluations between two screening points: an alert fires only after its condition held at
    every evaluation for `for`, so a run that fires spans at least for/interval steps and holds a
    point of a grid that many steps apart. 0 (no screening) with keep_firing_for, where a short
    run after a firing one keeps it firing."""
    if alert.keep_firing_for_s > 0 or alert.interval_s <= 0:
        return 0
    return max(1, int(alert.for_s // alert.interval_s + 1e-9))


def windows(hits: set[int], stride: int, count: int) -> list[tuple[int, int]]:
    """The evaluations to replay one by one: around each screening point where the condition held,
    from the screening point before it to the one after (where a run through it starts and ends,
    unless those held too, and then their own windows join on). Inclusive, merged, in order."""
    spans: list[tuple[int, int]] = []
    for i in sorted(hits):
        a, b = max(0, i - stride), min(count - 1, i + stride)
        if spans and a <= spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        else:
            spans.append((a, b))
    return spans


def backtest(rules: RuleSet, query: RangeQuery, start: float, end: float, max_points: int = MAX_POINTS,
             concurrency: int = 8, progress: Callable[[int, int], None] | None = None,
             history: set[str] | frozenset[str] = frozenset(), screen: bool = True) -> BacktestResult:
    """`history`: the recorded series to read as recorded rather than inline (gen.backtest.history).

    Two passes. First each alert is screened on a coarse grid of its own evaluations, `for` apart
    (screening_stride), which every run long enough to fire crosses, with a cheaper condition that
    holds wherever its own does (gen.backtest.screen); then only the windows around the points where
    that held are evaluated at every evaluation, with the whole expression. An alert that never came
    close costs one cheap query at a tenth of the points, and the answer is the one evaluating
    everything gives (tests compare the two). `screen=False` evaluates everything."""
    from gen.backtest.screen import screening_expr

    started = time.monotonic()
    inliner = Inliner(rules.recordings, keep=history)
    results: list[AlertResult] = []
    for alert in rules.alerts:
        try:
            inlined = inliner.inline(alert.expr)
            result = AlertResult(alert, inlined.expr, inlined.records, inlined.kept)
        except InlineError as exc:
            result = AlertResult(alert, alert.expr, error=f"cannot inline recorded series: {exc}")
        result.fingerprint = fingerprint(alert, result.run_expr)
        results.append(result)

    counter = _Counter()
    present: dict[int, dict[LabelKey, list[int]]] = {i: {} for i in range(len(results))}
    done, total = 0, 0

    def run(tasks: list[tuple[int, float, float, int, int, int]]) -> dict[int, set[int]]:
        """Range queries (alert index, first, step, a, b, scale); the evaluations (in the alert's
        own grid: index * scale) where each alert's condition held, for any series."""
        nonlocal done, total
        total += len(tasks)
        held: dict[int, set[int]] = {}

        def one(task):
            index, first, step, a, b, scale = task
            expr = screens[index] if scale else results[index].run_expr
            mine = _Counter()
            try:
                return task, _fetch(query, expr, first, step, a, b, mine), None, mine.value
            except QueryFailed as exc:
                return task, [], str(exc), mine.value

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            for (index, _first, _step, _a, _b, scale), found, error, queries in pool.map(one, tasks):
                result = results[index]
                result.queries += queries
                for _ in range(queries):
                    counter.add()
                if error and not result.error:
                    result.error = f"query failed: {error}"
                for key, indices in found:
                    if scale:
                        held.setdefault(index, set()).update(i * scale for i in indices)
                    else:
                        present[index].setdefault(key, []).extend(indices)
                done += 1
                if progress:
                    progress(done, total)
        return held

    # A task: (alert index, first, step, a, b, scale); scale 0 evaluates the alert's expression at
    # every evaluation, scale k its screening condition every k evaluations.
    screened: dict[int, int] = {}
    screens: dict[int, str] = {}
    first_pass: list[tuple[int, float, float, int, int, int]] = []
    for index, result in enumerate(results):
        if result.error:
            continue
        alert = result.rule
        first, count = grid(start, end, alert.interval_s)
        stride = screening_stride(alert) if screen else 0
        if stride:
            screens[index] = screening_expr(result.run_expr)
        if stride > 1 or (stride == 1 and screens[index] != result.run_expr):
            screened[index] = stride
            coarse = (count - 1) // stride + 1
            first_pass += [(index, first, alert.interval_s * stride, a, b, stride) for a, b in chunks(coarse, max_points)]
        else:
            first_pass += [(index, first, alert.interval_s, a, b, 0) for a, b in chunks(count, max_points)]
    held = run(first_pass)

    # The cheaper condition also holds where the alert's does not (the long window of a multi-window
    # burn rate stays high for days after the short one dropped), and each point costs a window at
    # every evaluation. Where its windows would cover more than the coarse grid itself, screen again
    # with the alert's own expression: it costs 1/stride of evaluating everything, and finds only
    # the windows that matter.
    again = []
    for index, stride in screened.items():
        if screens[index] == results[index].run_expr:
            continue
        first, count = grid(start, end, results[index].rule.interval_s)
        covered = sum(b - a + 1 for a, b in windows(held.get(index, set()), stride, count))
        if covered * stride > count:
            screens[index] = results[index].run_expr
            held.pop(index, None)
            again += [task for task in first_pass if task[0] == index]
    if again:
        held.update(run(again))

    second_pass = []
    for index, stride in screened.items():
        alert = results[index].rule
        first, count = grid(start, end, alert.interval_s)
        for a, b in windows(held.get(index, set()), stride, count):
            second_pass += [(index, first, alert.interval_s, a + x, a + y, 0) for x, y in chunks(b - a + 1, max_points)]
    if second_pass:
        run(second_pass)

    for index, result in enumerate(results):
        if result.error:
            continue
        rule = result.rule
        first, count = grid(start, end, rule.interval_s)
        result.firings = replay_all(present[index], first, rule.interval_s, count, rule.for_s,
                                    rule.keep_firing_for_s)
    return BacktestResult(rules.env, start, end, results, counter.value, time.monotonic() - started)


def client_query(client) -> RangeQuery:
    """A RangeQuery over gen.validate.client.PrometheusClient (auth, TLS, retries, one-line errors)."""
    from gen.validate.client import QueryError

    def query(expr: str, start: float, end: float, step: float) -> list[dict]:
        try:
            return client.query_range_between(expr, start, end, step)
        except QueryError as exc:
            raise QueryFailed(str(exc)) from None

    return query
