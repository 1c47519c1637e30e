"""Run the steps in order, time each check, and find the first failure to explain."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from gen.doctor.context import Context
from gen.doctor.result import FAIL, SKIPPED, StepResult, skipped, worst
from gen.doctor.steps import STEPS, Step


@dataclass
class CheckRun:
    id: str
    seconds: float
    results: list[StepResult]

    @property
    def status(self) -> str:
        return worst(r.status for r in self.results)


@dataclass
class StepRun:
    name: str
    seconds: float = 0.0
    checks: list[CheckRun] = field(default_factory=list)

    @property
    def status(self) -> str:
        return worst(c.status for c in self.checks)

    @property
    def results(self) -> list[StepResult]:
        return [r for c in self.checks for r in c.results]


@dataclass
class Report:
    env: str
    steps: list[StepRun]
    seconds: float

    @property
    def checked(self) -> bool:
        """Something was looked at: a run whose every step was skipped is not "ok"."""
        return any(r.status != SKIPPED for s in self.steps for r in s.results)

    @property
    def ok(self) -> bool:
        return self.checked and all(s.status != FAIL for s in self.steps)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def first_failure(self) -> tuple[str, StepResult] | None:
        for step in self.steps:
            for result in step.results:
                if result.status == FAIL:
                    return step.name, result
        return None


def run_step(ctx: Context, step: Step) -> StepRun:
    started = time.monotonic()
    done = StepRun(step.name)
    why_not = step.unavailable(ctx)
    if why_not:
        done.seconds = time.monotonic() - started
        done.checks.append(CheckRun(step.name, done.seconds, [replace(skipped(step.name, why_not), check=step.name)]))
        return done
    gate_failed = ""
    for check in step.checks:
        if gate_failed:
            done.checks.append(CheckRun(check.id, 0.0, [replace(
                skipped(check.id, f"not checked: {gate_failed} failed"), check=check.id)]))
            continue
        t0 = time.monotonic()
        results = [replace(r, check=check.id) for r in check.run(ctx)]
        done.checks.append(CheckRun(check.id, time.monotonic() - t0, results))
        if check.gate and any(r.status == FAIL for r in results):
            gate_failed = check.id
    done.seconds = time.monotonic() - started
    return done


def run(ctx: Context, steps: tuple[Step, ...] = STEPS) -> Report:
    started = time.monotonic()
    runs = [run_step(ctx, step) for step in steps]
    return Report(ctx.env.name, runs, time.monotonic() - started)


def counts(report: Report) -> dict[str, int]:
    found = {"pass": 0, "warn": 0, "fail": 0, SKIPPED: 0}
    for step in report.steps:
        for result in step.results:
            found[result.status] += 1
    return found
