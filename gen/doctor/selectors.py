"""Kubernetes label selectors, as prometheus-operator applies them to the objects it selects.

An object selector (serviceMonitorSelector, ruleSelector) that is absent selects nothing; an
empty one selects everything. A namespace selector that is absent means the Prometheus's own
namespace only; an empty one means every namespace.
"""

from __future__ import annotations

from typing import Any, Mapping


def describe(selector: Mapping[str, Any] | None) -> str:
    if selector is None:
        return "(none)"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        values = ",".join(expr.get("values") or [])
        parts.append(f"{expr.get('key')} {expr.get('operator')}" + (f" ({values})" if values else ""))
    return ", ".join(parts) or "{} (everything)"


def mismatches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """Why `labels` do not satisfy `selector`, one phrase per unmet requirement; [] when they do."""
    wrong = []
    for key, value in sorted((selector.get("matchLabels") or {}).items()):
        if key not in labels:
            wrong.append(f"label {key}={value} is missing")
        elif labels[key] != value:
            wrong.append(f"label {key} is '{labels[key]}', the selector wants '{value}'")
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), list(expr.get("values") or [])
        have = labels.get(key)
        if op == "In" and have not in values:
            wrong.append(f"label {key} is {repr(have) if have is not None else 'missing'}, the selector wants one of {values}")
        elif op == "NotIn" and have in values:
            wrong.append(f"label {key}={have} is excluded by the selector (NotIn {values})")
        elif op == "Exists" and have is None:
            wrong.append(f"label {key} is missing (the selector requires it)")
        elif op == "DoesNotExist" and have is not None:
            wrong.append(f"label {key} must not be set")
    return wrong
