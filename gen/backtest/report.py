"""The backtest as a person reads it (a table) or a program does (JSON), and old against new."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from gen.backtest.coverage import selector
from gen.backtest.run import AlertResult, BacktestResult

INLINE_NOTE = ("recorded series inlined: backtested with each recording rule's expression, because history "
               "holds no series for a new or changed recording rule, or holds the old rule's")


def duration(seconds: float) -> str:
    """3 h 10 m, 25 m, 40 s, 2 d 4 h: two units at most."""
    seconds = int(round(seconds))
    if seconds <= 0:
        return "0 s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts[:2])


def timestamp(value: float | None) -> str:
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(value, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _labels(key: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(key.items())) + "}"


def summary_text(result: AlertResult | None) -> str:
    if result is None:
        return "absent"
    if result.error:
        return "error"
    firings = f"{result.count} firing" + ("" if result.count == 1 else "s")
    return firings if not result.count else f"{firings}, {duration(result.total_s)}"


def _severity(alert: AlertResult) -> str:
    return dict(alert.rule.labels).get("severity", "")


def shown_names(alerts: list[AlertResult]) -> dict[int, str]:
    """Each alert's name as shown: with its severity where two share a name (the availability
    SLO's page and ticket are both TritonModelErrorBudgetBurn)."""
    counts: dict[str, int] = {}
    for alert in alerts:
        counts[alert.name] = counts.get(alert.name, 0) + 1
    return {id(a): f"{a.name} ({_severity(a) or 'no severity'})" if counts[a.name] > 1 else a.name for a in alerts}


def table(result: BacktestResult, step_note: str = "") -> str:
    rows = [("ALERT", "FIRINGS", "TOTAL", "LONGEST", "FIRST", "LAST", "SERIES")]
    notes = []
    names = shown_names(result.alerts)
    for alert in result.alerts:
        name = names[id(alert)]
        if alert.error:
            rows.append((name, "error", "", "", "", "", ""))
            notes.append(f"{name}: {alert.error}")
            continue
        series = alert.series()
        shown = "; ".join(_labels(s) for s in series[:3]) + (f"; +{len(series) - 3} more" if len(series) > 3 else "")
        ongoing = " (still firing)" if any(f.ongoing for f in alert.firings) else ""
        rows.append((name, str(alert.count), duration(alert.total_s) if alert.count else "-",
                     duration(alert.longest_s) if alert.count else "-", timestamp(alert.first),
                     timestamp(alert.last) + ongoing if alert.count else "-", shown or "-"))
        if alert.inlined:
            notes.append(f"{name}: {INLINE_NOTE} ({', '.join(alert.inlined)})")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1] for r in rows]
    fired = [a for a in result.alerts if a.count]
    head = (f"{result.env}: {len(result.alerts)} alerts from {timestamp(result.start)} to {timestamp(result.end)}"
            f"{step_note}: {len(fired)} would have fired, {sum(a.count for a in fired)} firings; "
            f"{result.queries} range queries in {result.seconds:.2f} s")
    return "\n".join([head, *coverage_lines(result), *recorded_lines(result), *lines,
                      *(f"  note: {n}" for n in notes)])


def coverage_lines(result: BacktestResult) -> list[str]:
    """Said when the server's history starts after the range does: the replay starts there."""
    covered = result.coverage
    if covered is None or not covered.starts_late:
        return []
    if covered.first_sample is None:
        return [f"  history: no sample of the environment's series ({selector(covered.namespace)}) from "
                f"{timestamp(covered.requested_start)} to {timestamp(covered.end)}: nothing replayed"]
    return [f"  history: starts at {timestamp(covered.first_sample)}, after the range's start "
            f"{timestamp(covered.requested_start)}: replayed from there "
            f"({duration(covered.end - covered.first_sample)} of the {duration(covered.end - covered.requested_start)} asked for)"]


def recorded_lines(result: BacktestResult) -> list[str]:
    """Which recorded series were read from history and which were inlined, grouped by why."""
    decision = result.recorded
    if decision is None or not (decision.history or decision.reasons):
        return []
    lines = []
    if decision.history:
        lines.append(f"  read from history: {_names(decision.history)} (the server runs the same rules; their "
                     f"history checked at {decision.spot_checks} instants)")
    by_reason: dict[str, list[str]] = {}
    for name, reason in sorted(decision.reasons.items()):
        by_reason.setdefault(reason, []).append(name)
    for reason, names in by_reason.items():
        lines.append(f"  inlined: {_names(names)} ({reason})")
    return lines


def _names(names, shown: int = 3) -> str:
    """A few names and how many more (all of them are in --format json)."""
    names = sorted(names)
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{len(names)} recorded series ({', '.join(names[:shown])}, +{len(names) - shown} more)"


@dataclass
class Change:
    name: str
    before: AlertResult | None
    after: AlertResult | None

    def line(self) -> str:
        return f"{self.name}: {summary_text(self.before)} → {summary_text(self.after)}"


def changes(before: BacktestResult, after: BacktestResult) -> list[Change]:
    """Alerts added, removed, or whose expression as run, `for`, `keep_firing_for` or interval changed."""
    # By name and severity: a page and a ticket of one name are two alerts.
    old = {(a.name, _severity(a)): a for a in before.alerts}
    new = {(a.name, _severity(a)): a for a in after.alerts}
    shared = {name for name, _ in old} | {name for name, _ in new}
    twice = {name for name in shared if len({s for n, s in [*old, *new] if n == name}) > 1}
    found = []
    for key in sorted(set(old) | set(new)):
        o, n = old.get(key), new.get(key)
        if o is None or n is None or o.fingerprint != n.fingerprint:
            name = f"{key[0]} ({key[1] or 'no severity'})" if key[0] in twice else key[0]
            found.append(Change(name, o, n))
    return found


def compare_table(ref: str, found: list[Change], total: int) -> str:
    if not found:
        return f"against {ref}: no alert changed ({total} alerts)"
    return "\n".join([f"against {ref}: {len(found)} alerts changed (before → after)",
                      *(f"  {c.line()}" for c in found)])


def _alert_json(alert: AlertResult) -> dict:
    rule = alert.rule
    return {
        "name": alert.name, "group": rule.group, "file": f"out/{rule.path}", "expr": rule.expr,
        "run_expr": alert.run_expr, "inlined_records": alert.inlined, "history_records": alert.from_history, "for_seconds": rule.for_s,
        "keep_firing_for_seconds": rule.keep_firing_for_s, "interval_seconds": rule.interval_s,
        "error": alert.error, "firings": alert.count, "total_seconds": alert.total_s,
        "longest_seconds": alert.longest_s, "first": timestamp(alert.first) if alert.first else None,
        "last": timestamp(alert.last) if alert.last else None, "series": alert.series(),
        "intervals": [{"labels": dict(f.labels), "start": timestamp(f.start), "end": timestamp(f.end),
                       "seconds": f.seconds, "ongoing": f.ongoing} for f in alert.firings],
        "queries": alert.queries,
    }


def as_dict(result: BacktestResult) -> dict:
    covered = result.coverage
    return {"env": result.env, "start": timestamp(result.start), "end": timestamp(result.end),
            "requested_start": timestamp(covered.requested_start if covered else result.start),
            "history_start": timestamp(covered.first_sample) if covered and covered.first_sample else None,
            "queries": result.queries, "seconds": round(result.seconds, 3),
            "recorded_series": _recorded_json(result),
            "alerts": [_alert_json(a) for a in result.alerts]}


def _recorded_json(result: BacktestResult) -> dict:
    decision = result.recorded
    if decision is None:
        return {"from_history": [], "inlined": {}, "spot_queries": 0}
    return {"from_history": sorted(decision.history), "inlined": dict(sorted(decision.reasons.items())),
            "spot_queries": decision.spot_queries}


def changes_dict(ref: str, found: list[Change]) -> dict:
    def side(a: AlertResult | None):
        if a is None:
            return None
        return {"firings": a.count, "total_seconds": a.total_s, "longest_seconds": a.longest_s, "error": a.error}

    return {"ref": ref, "changed": [{"name": c.name, "before": side(c.before), "after": side(c.after),
                                     "text": c.line()} for c in found]}


def as_json(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)
