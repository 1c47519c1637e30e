"""The doctor's report as a table for people or JSON for machines; the same content in both."""

from __future__ import annotations

import json

from gen.doctor.runner import Report, counts

MARK = {"pass": "pass", "warn": "WARN", "fail": "FAIL", "skipped": "skip"}


def table(report: Report) -> str:
    lines = []
    for step in report.steps:
        lines.append(f"{step.name} [{step.status}] {step.seconds:.2f}s")
        for check in step.checks:
            for result in check.results:
                lines.append(f"  {MARK[result.status]:4}  {result.object}: {result.reason}")
                if result.hint and result.status != "pass":
                    lines.append(f"        hint: {result.hint}")
    first = report.first_failure()
    if first:
        step, result = first
        lines.append("")
        lines.append(f"first failure: {step} / {result.object}: {result.reason}")
        if result.hint:
            lines.append(f"what to do: {result.hint}")
    c = counts(report)
    state = "ok" if report.ok else ("failed" if report.checked else "nothing checked")
    lines.append(f"{state}: {c['pass']} passed, {c['warn']} warnings, {c['fail']} failed, "
                 f"{c['skipped']} skipped in {report.seconds:.2f}s (environment {report.env})")
    return "\n".join(lines)


def as_json(report: Report, **extra) -> str:
    first = report.first_failure()
    document = {
        "ok": report.ok,
        "exit_code": report.exit_code,
        "env": report.env,
        "seconds": round(report.seconds, 3),
        "counts": counts(report),
        **extra,
        "first_failure": {"step": first[0], **first[1].as_dict()} if first else None,
        "steps": [{
            "step": step.name,
            "status": step.status,
            "seconds": round(step.seconds, 3),
            "checks": [{
                "check": check.id,
                "status": check.status,
                "seconds": round(check.seconds, 3),
                "results": [{k: v for k, v in r.as_dict().items() if k != "check"} for r in check.results],
            } for check in step.checks],
        } for step in report.steps],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
