"""PromQL as Grafana sends it: substitute Grafana's variables and macros, then parse offline.

Grafana interpolates `$__rate_interval`, `$__interval`, `$__range` and template variables
(`$var`, `${var}`, `${var:format}`, `[[var]]`) before the query reaches Prometheus, so a query is
only valid PromQL after that substitution.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

# What the macros become when a query is checked offline or run against a live Prometheus.
# `$__rate_interval` is at least four scrape intervals in Grafana; 1m fits a 15s scrape.
DEFAULT_MACROS = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__interval_ms": "30000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

# $name, ${name}, ${name:format}, [[name]], [[name:format]]
_VARIABLE = re.compile(
    r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}"
    r"|\[\[(?P<bracket>[A-Za-z_][A-Za-z0-9_]*)(?::[^\]]*)?\]\]"
    r"|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
)


def variable_names(expr: str) -> list[str]:
    """Every variable or macro an expression refers to, in order, without duplicates."""
    names: list[str] = []
    for match in _VARIABLE.finditer(expr):
        name = match.group("braced") or match.group("bracket") or match.group("plain")
        if name not in names:
            names.append(name)
    return names


def substitute(
    expr: str, variables: Mapping[str, str] | None = None, macros: Mapping[str, str] | None = None,
    default: str | None = ".+",
) -> str:
    """Replace macros and variables by values; an unknown variable becomes `default` (a regex that
    matches anything, since our queries use variables inside `=~` matchers), or raises KeyError
    when default is None."""
    values = {**DEFAULT_MACROS, **(macros or {}), **(variables or {})}

    def replace(match: re.Match) -> str:
        name = match.group("braced") or match.group("bracket") or match.group("plain")
        if name in values:
            return values[name]
        if default is None:
            raise KeyError(name)
        return default

    return _VARIABLE.sub(replace, expr)


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$", re.S)

def label_values(query: str) -> tuple[str, str]:
    """Grafana's label_values(selector, label) as (selector, label); a plain query as (query, "")."""
    match = _LABEL_VALUES.match(query)
    if not match:
        return query, ""
    return match.group("selector") or "", match.group("label")


def string_end(text: str, i: int, strict: bool = True) -> int:
    """The index just after the string literal that opens at text[i] (", ' or `, backslash escapes
    in the first two). Not closed: ValueError, or with strict=False the end of the text."""
    quote, i = text[i], i + 1
    while i < len(text):
        if text[i] == "\\" and quote != "`":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    if strict:
        raise ValueError("unterminated string")
    return len(text)


def parse(expr: str) -> Any:
    """The AST of a PromQL expression; ValueError with the parser's message when it is invalid."""
    import promql_parser

    try:
        return promql_parser.parse(expr)
    except ValueError:
        raise
    except Exception as exc:  # the parser raises ValueError today; keep one error type regardless
        raise ValueError(str(exc)) from None


def parse_grafana(expr: str, variables: Mapping[str, str] | None = None) -> Any:
    return parse(substitute(expr, variables))


def metric_names(ast: Any) -> list[str]:
    """The metric names selected anywhere in an expression, in order of appearance."""
    import promql_parser

    names: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name and node.name not in names:
            names.append(node.name)

    promql_parser.walk(ast, visit)
    return names
