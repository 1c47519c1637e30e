"""Findings as text for people (a block per finding, nothing cut off) or JSON for CI."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections import Counter

from gen.findings import ERROR, SEVERITY_ORDER, Finding

INDENT = 9  # the width of the severity column
MIN_WIDTH = 60


def ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.object, f.message))


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    # Wrapped, never cut: a hint in a CI log or on a narrow terminal is read in full.
    return textwrap.wrap(" ".join(text.split()), width=width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]


def shown(findings: list[Finding], everything: bool = False) -> list[Finding]:
    """What the table prints: a finding explained by another is folded under it, unless asked
    for everything."""
    return list(findings) if everything else [f for f in findings if not f.cause]


def table(findings: list[Finding], width: int | None = None, everything: bool = False) -> str:
    """One block per finding: severity, object and message, then the query and the hint. A
    finding explained by another is not repeated (unless `everything`): its cause says how many
    it explains."""
    if not findings:
        return ""
    width = max(width or shutil.get_terminal_size((120, 20)).columns, MIN_WIDTH)
    pad = " " * INDENT
    explained = Counter(f.cause for f in findings if f.cause)
    kinds: dict[str, Counter] = {}
    for f in findings:
        if f.cause:
            kinds.setdefault(f.cause, Counter())[f.check.removeprefix("live-")] += 1
    lines: list[str] = []
    for f in ordered(shown(findings, everything)):
        lines += _wrap(f"{f.object}: {f.message}", width, f.severity.ljust(INDENT), pad)
        if f.query:
            lines += _wrap(f.query, width, pad + "query: ", pad + "  ")
        if f.hint:
            lines += _wrap(f.hint, width, pad + "hint: ", pad + "  ")
        if f.cause and everything:
            lines += _wrap(f.cause, width, pad + "follows from: ", pad + "  ")
        count = explained.get(f.object)
        if count and not everything:
            detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds[f.object].items()))
            lines += _wrap(f"and {count} more findings that follow from this ({detail}); fix this first, "
                           "or see them all with --all (or --format json)", width, pad + "explains: ", pad + "  ")
    return "\n".join(lines)


def summary(findings: list[Finding], queries: int | None = None, everything: bool = False) -> str:
    """The counts of what the table printed, and of what it folded away."""
    printed = shown(findings, everything)
    counts = Counter(f.severity for f in printed)
    parts = [f"{counts.get(s, 0)} {s}{'s' if counts.get(s, 0) != 1 else ''}" for s in ("error", "warning", "info")]
    folded = len(findings) - len(printed)
    if folded:
        parts[-1] += f" shown, {folded} more that follow from them folded (--all shows them)"
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
