"""Render targets into out/: the core behind `gen dashboards`, `gen alerts` and `gen build`."""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from gen import manifests_check, outdir
from gen.render import kustomize
from gen.errors import UserError
from gen.findings import ERROR, Finding
from gen.outdir import Artifact, Plan
from gen.settings import Settings
from gen.render.targets import TARGETS


@dataclass
class Result:
    plan: Plan
    artifacts: list[Artifact]
    out_dir: Path
    warnings: list[Finding] = field(default_factory=list)


def generate(settings: Settings, target_names: list[str], env: str | None, out_dir: Path, check: bool) -> Result:
    """Render, then (unless check) write. Nothing is written before everything has rendered.
    One run at a time per out/; a run first completes what a killed one left half-swapped, since
    rendering reads out/ (the kustomization lists the files of targets that do not run now)."""
    outdir.check_out_dir(out_dir, create_parent=not check)
    with outdir.locked(out_dir), _fewer_collections():
        if not check:
            outdir.recover(out_dir)
        return _generate(settings, target_names, env, out_dir, check)


# Allocations between two runs of the cyclic garbage collector's youngest generation (Python's
# default is 700).
ALLOCATIONS_PER_COLLECTION = 10_000


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Rendering allocates a million small objects for 200 environments (the dashboards as
    dicts), keeps them to the end and makes no reference cycles of note: with the default
    thresholds the collector ran every 700 allocations and kept scanning the growing heap, a
    fifth of the render's time. It still runs, fourteen times less often."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], ALLOCATIONS_PER_COLLECTION), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _generate(settings: Settings, target_names: list[str], env: str | None, out_dir: Path, check: bool) -> Result:
    envs = settings.select(env)
    env_names = None if env in (None, "all") else {e.name for e in envs}
    targets = [TARGETS[name] for name in target_names]

    artifacts: list[Artifact] = []
    for target in targets:
        artifacts.extend(target.render(settings, envs))
    owners = [target.owns for target in targets]
    every_owner = [target.owns for target in TARGETS.values()]

    def rendered_owns(relpath: str) -> bool:
        return any(owner(relpath, env_names) for owner in owners)

    def any_owns(relpath: str) -> bool:
        return any(owner(relpath, None) for owner in every_owner)

    # Every run keeps each environment's kustomization.yaml in step with what out/<env> holds.
    artifacts.extend(kustomize.render(out_dir, envs, artifacts, rendered_owns, any_owns))

    def owns(relpath: str) -> bool:
        return rendered_owns(relpath) or kustomize.owns(relpath, env_names)

    findings = manifests_check.size_findings((a.path, len(a.content)) for a in artifacts)
    errors = [f for f in findings if f.severity == ERROR]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UserError(f"{errors[0].object}: {errors[0].message}{more}")

    result = outdir.plan(out_dir, artifacts, owns)
    if not check:
        outdir.apply(out_dir, result, artifacts)
    return Result(result, artifacts, out_dir, [f for f in findings if f.severity != ERROR])
