"""The one result type of every doctor check."""

from __future__ import annotations

from dataclasses import asdict, dataclass

PASS = "pass"
WARN = "warn"
FAIL = "fail"
SKIPPED = "skipped"
# The order a step's status is decided in: a step is as bad as its worst result.
SEVERITY = {FAIL: 0, WARN: 1, PASS: 2, SKIPPED: 3}


@dataclass(frozen=True)
class StepResult:
    status: str  # pass | warn | fail | skipped
    object: str  # what it is about: "Triton", "model mismatch_model", "panel 'Error ratio'"
    reason: str  # one line: what was found
    hint: str = ""  # one line: what to do about it
    check: str = ""  # the check's id, set by the runner

    def as_dict(self) -> dict:
        return asdict(self)


def passed(obj: str, reason: str, hint: str = "") -> StepResult:
    return StepResult(PASS, obj, reason, hint)


def warned(obj: str, reason: str, hint: str = "") -> StepResult:
    return StepResult(WARN, obj, reason, hint)


def failed(obj: str, reason: str, hint: str = "") -> StepResult:
    return StepResult(FAIL, obj, reason, hint)


def skipped(obj: str, reason: str, hint: str = "") -> StepResult:
    return StepResult(SKIPPED, obj, reason, hint)


def worst(statuses) -> str:
    statuses = list(statuses)
    if not statuses:
        return SKIPPED
    return min(statuses, key=lambda s: SEVERITY[s])


def one_line(text: str, limit: int = 300) -> str:
    """Server messages can span lines (tracebacks); a reason is one line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
