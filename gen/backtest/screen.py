"""The condition an alert is screened with: a cheaper one that holds wherever the alert's does.

`A and on(...) B` holds only for series of A, with A's labels: A alone is a necessary condition, so
the screening pass can skip B and its vector matching (the costly part on Prometheus, about 1 µs
per series per step). Windows around where the cheaper condition held are then replayed with the
whole expression, so the answer is unchanged: more windows at worst, never fewer.

Only the top of the expression is relaxed: `or` without on/ignoring (its result holds each side's
label sets, so a superset on each side is a superset of the union), parentheses around the whole,
and the `and` chains under them. Anything else (arithmetic over a set operation, `or on(...)`,
`unless`, whose left side usually always holds) is kept as it is.
"""

from __future__ import annotations

import re

from gen.promql import string_end

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SET_OPERATORS = ("and", "or", "unless")


def _code(expr: str):
    """(index, character) of each character of expr outside string literals and comments."""
    i = 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'`":
            i = string_end(expr, i, strict=False)
            continue
        if c == "#":
            newline = expr.find("\n", i)
            i = len(expr) if newline < 0 else newline
            continue
        yield i, c
        i += 1


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c in "_:"


def _top_level(expr: str) -> list[tuple[int, int, str]]:
    """(start, end, word) of each set operator outside brackets and strings, in order."""
    found = []
    depth = 0
    for i, c in _code(expr):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and (c.isalpha() or c == "_") and (i == 0 or not _is_word_char(expr[i - 1])):
            match = _WORD.match(expr, i)
            word, end = match.group(0), match.end()
            if word in _SET_OPERATORS and (end == len(expr) or not _is_word_char(expr[end])):
                found.append((i, end, word))
    return found


def _unwrapped(expr: str) -> str | None:
    """The inside of parentheses that enclose the whole expression, else None."""
    text = expr.strip()
    if not (text.startswith("(") and text.endswith(")")):
        return None
    depth = 0
    for i, c in _code(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:  # the first parenthesis closes here: around everything only if at the end
                return text[1:-1] if i == len(text) - 1 else None
    return None


def _modifier_follows(expr: str, end: int) -> bool:
    rest = expr[end:].lstrip()
    return bool(re.match(r"(on|ignoring)\s*\(", rest))


def relaxed(expr: str) -> str:
    """A necessary condition of `expr` (see the module's doc); `expr` itself when nothing is relaxed."""
    inner = _unwrapped(expr)
    if inner is not None:
        relaxed_inner = relaxed(inner)
        return expr if relaxed_inner == inner else f"({relaxed_inner})"
    operators = _top_level(expr)
    if not operators:
        return expr
    # `or` binds loosest: relax each of its sides, unless it matches on some labels only.
    ors = [op for op in operators if op[2] == "or"]
    if ors:
        if any(_modifier_follows(expr, end) for _, end, _ in ors):
            return expr
        parts, last = [], 0
        for start, end, _ in ors:
            parts.append(expr[last:start])
            last = end
        parts.append(expr[last:])
        return " or ".join(relaxed(part.strip()) for part in parts)
    # An `and`/`unless` chain, left to right: keep what precedes the first `and`, unless an
    # `unless` comes first (its left side usually holds: nothing gained, keep everything).
    start, _end, word = operators[0]
    if word != "and":
        return expr
    return relaxed(expr[:start].strip())


def screening_expr(expr: str) -> str:
    """The relaxed condition when it parses as PromQL and is cheaper, else the expression itself."""
    cheaper = relaxed(expr)
    if cheaper == expr:
        return expr
    from gen.promql import parse

    try:
        parse(cheaper)
    except ValueError:
        return expr
    return cheaper
