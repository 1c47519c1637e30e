"""The review as one Markdown comment: a summary line, then a section per part that has something
to say, the long parts folded in <details>. It must fit a pull request comment (GitHub's limit is
65,536 characters): what does not fit is cut from the end of the folded parts, and said."""

from __future__ import annotations

from gen.backtest.report import duration
from gen.diff.semantic import format_changes
from gen.review.collect import Review

LIMIT = 65_000
FINDINGS_SHOWN = 60


def _fence(text: str) -> str:
    return "```\n" + text.replace("```", "`\u200b``") + "\n```"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(review: Review) -> str:
    severities: dict[str, int] = {}
    for finding, new in review.findings:
        severities[finding.severity] = severities.get(finding.severity, 0) + 1
    shown = ", ".join(f"{n} {s}{'' if n == 1 else 's'}" for s, n in sorted(severities.items(),
                      key=lambda kv: ("error", "warning", "info").index(kv[0]) if kv[0] in ("error", "warning", "info")
                      else 9)) or "none"
    fired = [f for f in review.firings if f.more != 0 or f.before != f.after]
    parts = [_count(len(review.dashboards), "dashboard") + " changed", _count(len(review.rules), "rule") + " changed",
             f"findings: {shown}"]
    parts.append(_count(len(fired), "alert") + " would have fired differently" if review.prometheus
                 else "alerts not backtested (no --prometheus-url)")
    return "**" + "; ".join(parts) + ".**"


def _firing(value) -> str:
    if value is None:
        return "—"
    count, total, longest = value
    return f"{count} ({duration(total) if count else '0 s'}, longest {duration(longest) if count else '—'})"


def render(review: Review, blocking: list[str]) -> str:
    out = [f"## gen review against `{review.ref}`", "", summary_line(review), ""]
    if blocking:
        out += ["**Blocks the merge:**", ""] + [f"- {reason}" for reason in blocking] + [""]
    if review.dashboards:
        out += ["### Dashboards", ""]
        for diff in review.dashboards:
            out.append(f"- **{diff.title or diff.uid}** (`{diff.env}/{diff.uid}`): {diff.status}"
                       + (f", {_count(len(diff.changes), 'change')}" if diff.changes else ""))
            lines = format_changes(diff.changes, indent="") if diff.changes else []
            if lines:
                out.append("")
                out.append(_details(f"{diff.uid}: what changed", _fence("\n".join(lines))))
            images = [i for i in review.images if i.env == diff.env and i.uid == diff.uid]
            for image in images:
                cells = [f'<img src="{p}" alt="{image.title} ({side})" width="420">' if p else f"({side}: none)"
                         for side, p in (("before", image.before), ("after", image.after))]
                out += ["", f"*{image.title}*: before → after", "", " ".join(cells)]
            out.append("")
    if review.rules:
        out += ["### Rules", ""]
        out.append("| env | rule | severity | change |")
        out.append("|---|---|---|---|")
        for rule in review.rules:
            out.append(f"| {rule.env} | `{rule.name}` ({rule.kind}) | {rule.severity or '—'} | {rule.status}"
                       + (f": {rule.detail}" if rule.detail else "") + " |")
        changed = [r for r in review.rules if r.status == "changed" and r.old_expr != r.new_expr]
        if changed:
            body = "\n\n".join(f"`{r.name}` ({r.env})\n\n" + _fence(f"- {r.old_expr}\n+ {r.new_expr}".replace("\n", "\n  ")
                                                                     if "\n" not in r.old_expr + r.new_expr
                                                                     else f"before:\n{r.old_expr}\n\nafter:\n{r.new_expr}")
                               for r in changed)
            out += ["", _details("expressions before and after", body)]
        if review.firings:
            out += ["", f"Backtest over {duration(review.range_s)} (firings, total and longest firing time):", "",
                    "| env | alert | severity | before | after | more |", "|---|---|---|---|---|---|"]
            for f in review.firings:
                out.append(f"| {f.env} | `{f.name}` | {f.severity or '—'} | {_firing(f.before)} | {_firing(f.after)} "
                           f"| {f.more:+d} |")
        out.append("")
    if review.findings:
        new = [(f, n) for f, n in review.findings if n]
        old = [(f, n) for f, n in review.findings if not n]
        out += ["### Findings", "", f"{len(new)} new in this change, {len(old)} already there."]
        rows = [f"- **{f.severity}** {'(new) ' if n else ''}{f.object}: {f.message}" + (f" — {f.hint}" if f.hint else "")
                for f, n in review.findings[:FINDINGS_SHOWN]]
        if len(review.findings) > FINDINGS_SHOWN:
            rows.append(f"- … and {len(review.findings) - FINDINGS_SHOWN} more (review.json has them all)")
        out += ["", _details(f"{len(review.findings)} finding(s), new first", "\n".join(rows)), ""]
    if review.manifests or review.size_warnings:
        out += ["### Manifests", ""]
        out += [f"- {m.status}: {m.kind} `{m.name}` ({m.env})" for m in review.manifests]
        out += [f"- **size**: {f.object}: {f.message}" for f in review.size_warnings]
        out.append("")
    if review.not_checked:
        out += ["### Not checked", ""] + [f"- {line}" for line in review.not_checked] + [""]
    timing = ", ".join(f"{part} {seconds:.1f} s" for part, seconds in review.seconds.items())
    out.append(f"<sub>gen review: {timing}</sub>")
    return fit("\n".join(out) + "\n")


def fit(text: str) -> str:
    """Under LIMIT characters: the folded sections are cut from the end first."""
    if len(text) <= LIMIT:
        return text
    note = "\n\n… (cut to fit a pull request comment: review.json holds everything)\n"
    cut = text[: LIMIT - len(note)]
    # Close an open <details> and code fence, so what is left still renders.
    if cut.count("```") % 2:
        cut += "\n```"
    if cut.count("<details>") > cut.count("</details>"):
        cut += "\n\n</details>"
    return cut + note
