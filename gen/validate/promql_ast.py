"""Facts about a parsed PromQL expression that the checks need: which labels survive to the
result, which range windows it uses, and where raw counters are read outside rate()."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

import promql_parser as pp

# Functions whose result carries no labels of their argument.
_LABEL_FREE = {"vector", "scalar", "time", "pi", "minute", "hour", "day_of_month", "day_of_week",
               "day_of_year", "days_in_month", "month", "year"}
# Functions that turn a counter into something meaningful.
COUNTER_FUNCTIONS = {"rate", "irate", "increase", "resets"}


def children(node: Any) -> list[Any]:
    if isinstance(node, pp.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, pp.AggregateExpr):
        return [node.expr] + ([node.param] if node.param is not None else [])
    if isinstance(node, pp.Call):
        return list(node.args)
    if isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
        return [node.expr]
    if isinstance(node, pp.MatrixSelector):
        return [node.vector_selector] if hasattr(node, "vector_selector") else []
    return []


def walk(node: Any, parents: tuple = ()) -> Iterator[tuple[Any, tuple]]:
    """Every node with the chain of its ancestors (innermost last)."""
    yield node, parents
    for child in children(node):
        yield from walk(child, parents + (node,))


def selectors(node: Any) -> list[Any]:
    return [n for n, _ in walk(node) if isinstance(n, pp.VectorSelector)]


def matrix_ranges(node: Any) -> list[tuple[str, float]]:
    """(text, seconds) of every range window: m[5m] and subqueries [1h:1m]."""
    found = []
    for n, _ in walk(node):
        if isinstance(n, (pp.MatrixSelector, pp.SubqueryExpr)):
            seconds = n.range.total_seconds()
            found.append((pp.display_duration(n.range), seconds))
    return found


def counters_outside_rate(node: Any, is_counter: Callable[[str], bool]) -> list[str]:
    """Counter metrics read as a value: not inside rate(), increase(), irate() or resets()."""
    wrong = []
    for n, parents in walk(node):
        if not isinstance(n, pp.VectorSelector) or not n.name or not is_counter(n.name):
            continue
        inside = any(isinstance(p, pp.Call) and p.func.name in COUNTER_FUNCTIONS for p in parents)
        # absent(m) and count(m) only ask whether the series exist
        existence = any(isinstance(p, pp.Call) and p.func.name in ("absent", "absent_over_time") for p in parents) or (
            parents and isinstance(parents[-1], pp.AggregateExpr) and str(parents[-1].op) in ("count", "group")
        )
        if not inside and not existence and n.name not in wrong:
            wrong.append(n.name)
    return wrong


def output_labels(node: Any, records: Mapping[str, set[str] | None] | None = None) -> set[str] | None:
    """The labels a result series can carry; None when not restricted (a raw selector keeps every
    label). Used to find annotations that refer to a label the expression aggregated away."""
    records = records or {}
    if isinstance(node, pp.VectorSelector):
        return records.get(node.name) if node.name in records else None
    if isinstance(node, pp.MatrixSelector):
        return output_labels(node.vector_selector, records) if hasattr(node, "vector_selector") else None
    if isinstance(node, (pp.NumberLiteral, pp.StringLiteral)):
        return set()
    if isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
        return output_labels(node.expr, records)
    if isinstance(node, pp.AggregateExpr):
        inner = output_labels(node.expr, records)
        op = str(node.op)
        if op in ("topk", "bottomk", "limitk", "limit_ratio"):
            return inner
        modifier = node.modifier
        labels = set(modifier.labels) if modifier is not None else set()
        if modifier is not None and "Without" in str(modifier.type):
            result = None if inner is None else inner - labels
        else:
            result = labels
        if op == "count_values" and isinstance(node.param, pp.StringLiteral) and result is not None:
            result = result | {node.param.val}
        return result
    if isinstance(node, pp.Call):
        name = node.func.name
        if name in ("absent", "absent_over_time"):
            arg = node.args[0]
            selector = arg.vector_selector if isinstance(arg, pp.MatrixSelector) else arg
            if isinstance(selector, pp.VectorSelector):
                return {m.name for m in selector.matchers.matchers if str(m.op).endswith("Equal") and "Not" not in str(m.op)}
            return set()
        if name in _LABEL_FREE:
            return set()
        vectors = [a for a in node.args if not isinstance(a, (pp.StringLiteral, pp.NumberLiteral))]
        inner = output_labels(vectors[0], records) if vectors else set()
        if name in ("label_replace", "label_join") and inner is not None:
            return inner | {node.args[1].val}
        if name == "histogram_quantile" and inner is not None:
            return inner - {"le"}
        return inner
    if isinstance(node, pp.BinaryExpr):
        lhs, rhs = output_labels(node.lhs, records), output_labels(node.rhs, records)
        op = str(node.op)
        if op in ("and", "unless"):
            return lhs
        if op == "or":
            if lhs is None or rhs is None:
                return lhs if rhs is None else rhs
            return lhs & rhs
        if lhs == set():  # scalar on the left
            return rhs
        if rhs == set():
            return lhs
        modifier = node.modifier
        card = str(getattr(modifier, "card", "")) if modifier else ""
        matching = getattr(modifier, "matching", None) if modifier else None
        comparison_filter = op in ("==", "!=", ">", "<", ">=", "<=") and not getattr(modifier, "return_bool", False)
        if "ManyToOne" in card:
            extra = set(getattr(modifier, "group_labels", []) or [])
            return None if lhs is None else lhs | extra
        if "OneToMany" in card:
            extra = set(getattr(modifier, "group_labels", []) or [])
            return None if rhs is None else rhs | extra
        if comparison_filter:
            return lhs
        if matching is not None and "Include" in str(matching.type):
            return set(matching.labels)
        if matching is not None and lhs is not None:
            return lhs - set(matching.labels)
        return lhs
    return None
