"""Findings as a table for people or JSON for CI."""

from __future__ import annotations

import json
import shutil
from collections import Counter

from gen.findings import ERROR, SEVERITY_ORDER, Finding

COLUMNS = ("severity", "object", "query", "message", "hint")
HEADERS = ("SEVERITY", "OBJECT", "QUERY", "FINDING", "HINT")


def ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.object, f.message))


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def table(findings: list[Finding], width: int | None = None) -> str:
    if not findings:
        return ""
    width = width or shutil.get_terminal_size((160, 20)).columns
    limits = {"severity": 8, "object": 48, "query": 48, "message": 80, "hint": 60}
    if width < 200:
        limits.update(query=32, message=64, hint=40)
    rows = [HEADERS] + [tuple(_short(str(getattr(f, c)), limits[c]) for c in COLUMNS) for f in ordered(findings)]
    sizes = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(sizes[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def summary(findings: list[Finding], queries: int | None = None) -> str:
    counts = Counter(f.severity for f in findings)
    parts = [f"{counts.get(s, 0)} {s}{'s' if counts.get(s, 0) != 1 else ''}" for s in ("error", "warning", "info")]
    checked = f" ({queries} queries run)" if queries is not None else ""
    return ", ".join(parts) + checked


def as_json(findings: list[Finding], **extra) -> str:
    counts = Counter(f.severity for f in findings)
    document = {
        "ok": counts.get(ERROR, 0) == 0,
        "counts": {s: counts.get(s, 0) for s in ("error", "warning", "info")},
        **extra,
        "findings": [f.as_dict() for f in ordered(findings)],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
