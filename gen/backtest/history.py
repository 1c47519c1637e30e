"""Which recorded series a backtest may read from history instead of inlining their rule.

Inlining is always right but costs the server the whole recording chain at every evaluation of
every alert: on Prometheus 2.42, each `sum by` over 200 series is about 4 s for 7 days at 30 s,
and an inlined alert holds a dozen of them. When the server already runs a recording rule exactly
as the environment defines it, its history *is* what the rule records, and reading it costs a
selector. A recorded series is read from history only when:
- the server runs a rule of that name with the same expression (compared as parsed PromQL, so
  layout and comments don't count) and the same labels, and no other definition of it;
- every recorded series it reads qualifies too: a rule over a changed rule recorded the old values;
- its history is there: at a few instants spread over the range, the recorded series hold the same
  label sets as the rule's expression evaluated there. A rule loaded three days ago has no
  history for the four days before; a mismatch anywhere means inlining, which is never wrong.
Everything else is inlined, and the report says which was which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from gen.backtest.evaluate import label_key
from gen.backtest.inline import InlineError, Inliner, Recording
from gen.promql import string_end

# (expr, time) -> the "result" list of an instant query (a vector).
InstantQuery = Callable[[str, float], list[dict]]

SPOT_CHECKS = 4
FIRST_CHECK_EVALUATIONS = 5


@dataclass
class Decision:
    """Per recorded series: read from history, or inlined and why."""

    history: set[str] = field(default_factory=set)
    reasons: dict[str, str] = field(default_factory=dict)  # inlined name -> why
    server_rules: int = 0
    spot_queries: int = 0
    spot_checks: int = SPOT_CHECKS


def canonical(expr: str) -> str:
    """An expression as parsed PromQL, so that layout, comments, spaces and the order of a
    selector's matchers don't count (Prometheus lists a rule's matchers sorted by name)."""
    from gen.promql import parse

    try:
        text = str(parse(expr))
    except ValueError:
        text = " ".join(expr.split())
    return _sorted_matchers(text)


def _sorted_matchers(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c in "\"'`":
            end = string_end(text, i, strict=False)
            out.append(text[i:end])
            i = end
        elif c == "{":
            items, current, j = [], [], i + 1
            while j < len(text) and text[j] != "}":
                if text[j] in "\"'`":
                    end = string_end(text, j, strict=False)
                    current.append(text[j:end])
                    j = end
                    continue
                if text[j] == ",":
                    items.append("".join(current).strip())
                    current = []
                else:
                    current.append(text[j])
                j += 1
            items.append("".join(current).strip())
            out.append("{" + ",".join(sorted(item for item in items if item)) + "}")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def server_recordings(groups: Iterable[dict]) -> dict[str, set[tuple[str, tuple[tuple[str, str], ...]]]]:
    """The recording rules a server runs (/api/v1/rules groups), by name: {(expr, labels)}."""
    found: dict[str, set] = {}
    for group in groups or []:
        for rule in group.get("rules") or []:
            if rule.get("type") != "recording" or not rule.get("name"):
                continue
            labels = tuple(sorted((str(k), str(v)) for k, v in (rule.get("labels") or {}).items()))
            found.setdefault(rule["name"], set()).add((canonical(str(rule.get("query", ""))), labels))
    return found


def _reads(recordings: list[Recording]) -> dict[str, set[str]]:
    """The recorded series each recording rule reads, directly or through others."""
    reads: dict[str, set[str]] = {}
    for rec in recordings:
        try:
            used = set(Inliner([r for r in recordings if r.name != rec.name]).inline(rec.expr).records)
        except InlineError:
            used = {r.name for r in recordings if r.name != rec.name}  # unreadable: assume the worst
        reads.setdefault(rec.name, set()).update(used)
    return reads


def _reads_inlined(name: str, reads: dict[str, set[str]], same: set[str]) -> str | None:
    """A rule over an inlined rule recorded values computed from another definition: why it is
    inlined too (None when everything it reads is read from history)."""
    inlined = sorted(dep for dep in reads.get(name, ()) if dep not in same)
    return f"reads {inlined[0]}, which is inlined" if inlined else None


def _drop_readers(same: set[str], reads: dict[str, set[str]], decision: Decision) -> None:
    for name in sorted(same):
        reason = _reads_inlined(name, reads, same)
        if reason:
            decision.reasons[name] = reason
    same.difference_update(decision.reasons)


def decide(recordings: list[Recording], server_groups: list[dict] | None, query: InstantQuery | None,
           start: float, end: float, concurrency: int = 4) -> Decision:
    """Which recorded series can be read from the server's history (see the module's doc)."""
    decision = Decision()
    if not recordings:
        return decision
    names = sorted({rec.name for rec in recordings})
    if server_groups is None:
        decision.reasons = {name: "the server lists no rules (/api/v1/rules)" for name in names}
        return decision
    served = server_recordings(server_groups)
    decision.server_rules = sum(len(v) for v in served.values())
    ours: dict[str, set] = {}
    for rec in recordings:
        ours.setdefault(rec.name, set()).add((canonical(rec.expr), rec.labels))
    for name in names:
        if name not in served:
            decision.reasons[name] = "new: the server does not run it"
        elif served[name] != ours[name]:
            decision.reasons[name] = (f"changed: the server runs {len(served[name])} other definition(s) of it"
                                      if not served[name] & ours[name] else
                                      f"the server runs {len(served[name])} definitions of it")
    same = set(names) - set(decision.reasons)
    reads = _reads(recordings)
    _drop_readers(same, reads, decision)
    if query is not None:
        _spot_check(recordings, same, reads, decision, query, start, end, concurrency)
    decision.history = same
    return decision


def _spot_check(recordings: list[Recording], same: set[str], reads: dict[str, set[str]], decision: Decision,
                query: InstantQuery, start: float, end: float, concurrency: int = 4) -> None:
    """Keep only the series whose history holds, at a few instants, the series the rule gives there.
    Each rule is checked with its own expression over the history of what it reads (cheap, where
    the inlined expression of a 30-day ratio would cost seconds); a rule over one that fails its
    check is inlined with it. The checks are independent and run `concurrency` at a time."""
    from concurrent.futures import ThreadPoolExecutor

    by_name: dict[str, list[Recording]] = {}
    for rec in recordings:
        by_name.setdefault(rec.name, []).append(rec)
    span = max(0.0, end - start)
    interval = max(rec.interval_s for rec in recordings)
    # The first instant is a few evaluations in: where history begins, a rule over recorded series
    # records an evaluation after them, one more per level (and promtool's backfill the same).
    instants = [min(end, start + FIRST_CHECK_EVALUATIONS * interval)] + [
        start + span * (i + 1) / SPOT_CHECKS for i in range(SPOT_CHECKS - 1)]

    def check(name: str) -> tuple[str | None, int]:
        """Why the history of `name` does not hold (None when it does), and the queries asked."""
        asked = 0
        # last_over_time: a bare selector sees a series recorded hourly only in the 5 minutes
        # after each evaluation (Prometheus' lookback).
        window = int(max(rec.interval_s for rec in by_name[name])) + 300
        for t in instants:
            try:
                asked += 1
                recorded = {label_key(s.get("metric") or {}) for s in query(f"last_over_time({name}[{window}s])", t)}
                expected: set[tuple] = set()
                for rec in by_name[name]:
                    asked += 1
                    for s in query(rec.expr, t):
                        expected.add(label_key({**(s.get("metric") or {}), **dict(rec.labels)}))
            except Exception as exc:  # noqa: BLE001 - whatever failed, inlining is never wrong
                return f"history could not be checked: {' '.join(str(exc).split())[:160]}", asked
            if recorded != expected:
                return (f"history does not hold it at {_when(t)}: {len(recorded)} recorded series where the "
                        f"rule gives {len(expected)}"), asked
        return None, asked

    names = sorted(same)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        outcomes = dict(zip(names, pool.map(check, names)))
    # What a rule reads is a strict subset of what its readers read: fewer first is readers last.
    for name in sorted(names, key=lambda n: (len(reads.get(n, ())), n)):
        reason, asked = outcomes[name]
        decision.spot_queries += asked
        reason = _reads_inlined(name, reads, same) or reason
        if reason:
            decision.reasons[name] = reason
            same.discard(name)


def _when(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
