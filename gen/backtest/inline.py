"""Alerts that read recorded series, rewritten to compute them from raw series.

History holds no series for a new recording rule, and the old rule's values for a changed one, so
a backtest that read them would replay the past of rules that are not the ones under review.
Each reference `record{matchers}` becomes the recording rule's own expression, filtered by the
same matchers, with the rule's static labels attached; `record{...}[5m]` becomes a subquery at the
recording group's interval, which is what the recorded series would have held.

Matchers are applied without re-parsing the rule's expression:
- `l="v"`   -> `(E) and on(l) label_replace(vector(1), "l", "v", "", "")`
- `l!="v"`  -> `(E) unless on(l) label_replace(vector(1), "l", "v", "", "")`
- `l=~"re"` -> `(E) unless on(l) label_replace(group by (l) (E), "l", "<mark>$1", "l", "(re)")`: the
  values that match are renamed, so only the ones that do not match remain to remove;
- `l!~"re"` -> the same with `and`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from gen.promql import string_end

_MARK = "backtest-matched:"
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
MAX_DEPTH = 16


class InlineError(ValueError):
    pass


@dataclass(frozen=True)
class Recording:
    name: str
    expr: str
    labels: tuple[tuple[str, str], ...] = ()
    interval_s: float = 60.0


@dataclass
class Inlined:
    expr: str
    records: list[str] = field(default_factory=list)  # recorded series that were inlined, in order
    kept: list[str] = field(default_factory=list)  # recorded series read from history, in order


def _quote(value: str) -> str:
    return json.dumps(value)


def _skip_string(text: str, i: int) -> int:
    try:
        return string_end(text, i)
    except ValueError as exc:
        raise InlineError(str(exc)) from None


def _matching(text: str, i: int, open_: str, close: str) -> int:
    """Index after the bracket that closes text[i] == open_, strings skipped."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c in "\"'`":
            i = _skip_string(text, i)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise InlineError(f"unbalanced {open_}")


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _matchers(selector_text: str) -> list[tuple[str, str, str]]:
    """(label, op, value) of a selector, through the PromQL parser."""
    import promql_parser as pp

    try:
        node = pp.parse(selector_text)
    except Exception as exc:  # noqa: BLE001 - the parser's one error type varies by version
        raise InlineError(f"cannot parse {selector_text}: {exc}") from None
    ops = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}  # MatchOp is not hashable
    return [(m.name, ops[str(m.op).rsplit(".", 1)[-1]], m.value) for m in node.matchers.matchers
            if m.name != "__name__"]


def _filtered(expr: str, matchers: list[tuple[str, str, str]]) -> str:
    for label, op, value in matchers:
        if op in ("=", "!="):
            setop = "and" if op == "=" else "unless"
            expr = f'({expr}) {setop} on({label}) label_replace(vector(1), {_quote(label)}, {_quote(value)}, "", "")'
        else:
            setop = "unless" if op == "=~" else "and"
            marked = (f'label_replace(group by ({label}) ({expr}), {_quote(label)}, {_quote(_MARK + "$1")}, '
                      f'{_quote(label)}, {_quote("(" + value + ")")})')
            expr = f"({expr}) {setop} on({label}) {marked}"
    return expr


def _with_labels(expr: str, labels: tuple[tuple[str, str], ...]) -> str:
    for key, value in labels:
        expr = f'label_replace({expr}, {_quote(key)}, {_quote(value)}, "", "")'
    return expr


class Inliner:
    """Inlines every recorded series but those in `keep`, which are read from history as they are
    (gen.backtest.history decides which)."""

    def __init__(self, recordings: list[Recording], keep: set[str] | frozenset[str] = frozenset()):
        self.by_name: dict[str, list[Recording]] = {}
        self.keep = set(keep)
        for rec in recordings:
            if rec.name not in self.keep:
                self.by_name.setdefault(rec.name, []).append(rec)

    def inline(self, expr: str) -> Inlined:
        used: list[str] = []
        kept: list[str] = []
        return Inlined(self._inline(expr, used, 0, kept), used, kept)

    def _definition(self, name: str, used: list[str], depth: int, kept: list[str]) -> tuple[str, float]:
        parts = []
        for rec in self.by_name[name]:
            body = self._inline(rec.expr, used, depth + 1, kept)
            parts.append(_with_labels(f"({body})", rec.labels) if rec.labels else body)
        interval = min(rec.interval_s for rec in self.by_name[name])
        return (parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)), interval

    def _inline(self, expr: str, used: list[str], depth: int, kept: list[str]) -> str:
        if depth > MAX_DEPTH:
            raise InlineError("recording rules refer to each other in a loop")
        out: list[str] = []
        i = 0
        while i < len(expr):
            c = expr[i]
            if c in "\"'`":
                end = _skip_string(expr, i)
                out.append(expr[i:end])
                i = end
                continue
            if c == "#":
                end = expr.find("\n", i)
                end = len(expr) if end < 0 else end
                i = end
                continue
            match = _IDENT.match(expr, i)
            if not match or (i > 0 and (expr[i - 1].isalnum() or expr[i - 1] in "_:.")):
                out.append(c)
                i += 1
                continue
            name = match.group(0)
            j = _skip_space(expr, match.end())
            if name in _LABEL_LIST_KEYWORDS and j < len(expr) and expr[j] == "(":
                end = _matching(expr, j, "(", ")")
                out.append(expr[i:end])
                i = end
                continue
            called = j < len(expr) and expr[j] == "("  # a function, not a series
            if name not in self.by_name or called:
                if name in self.keep and name not in kept and not called:
                    kept.append(name)
                out.append(name)
                i = match.end()
                continue
            selector_end = match.end()
            if j < len(expr) and expr[j] == "{":
                selector_end = _matching(expr, j, "{", "}")
            matchers = _matchers(expr[i:selector_end])
            k = _skip_space(expr, selector_end)
            window = None
            if k < len(expr) and expr[k] == "[":
                end = _matching(expr, k, "[", "]")
                window = expr[k + 1:end - 1].strip()
                selector_end = end
                k = _skip_space(expr, end)
            rest = expr[k:k + 7]
            if re.match(r"offset\b", rest) or rest.startswith("@"):
                raise InlineError(f"{name}: a recorded series read with offset or @ is not inlined")
            body, interval = self._definition(name, used, depth, kept)
            if name not in used:
                used.append(name)
            inlined = f"({_filtered(body, matchers)})" if matchers else f"({body})"
            if window is not None:
                inlined = f"{inlined}[{window}:{int(interval)}s]"
            out.append(inlined)
            i = selector_end
        return "".join(out)
