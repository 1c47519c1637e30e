"""Render targets into out/: the core behind `gen dashboards`, `gen alerts` and `gen build`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gen import outdir
from gen.outdir import Artifact, Plan
from gen.settings import Settings
from gen.targets import TARGETS


@dataclass
class Result:
    plan: Plan
    artifacts: list[Artifact]
    out_dir: Path


def generate(settings: Settings, target_names: list[str], env: str | None, out_dir: Path, check: bool) -> Result:
    """Render, then (unless check) write. Nothing is written before everything has rendered."""
    envs = settings.select(env)
    env_names = None if env in (None, "all") else {e.name for e in envs}
    targets = [TARGETS[name] for name in target_names]

    artifacts: list[Artifact] = []
    for target in targets:
        artifacts.extend(target.render_fn()(settings, envs))
    owners = [target.owns_fn() for target in targets]

    def owns(relpath: str) -> bool:
        return any(owner(relpath, env_names) for owner in owners)

    result = outdir.plan(out_dir, artifacts, owns)
    if not check:
        outdir.apply(out_dir, result, artifacts)
    return Result(result, artifacts, out_dir)
