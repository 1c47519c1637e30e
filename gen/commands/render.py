"""`gen dashboards`, `gen build` (and later `gen alerts`): render definitions into out/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gen.commands.common import (
    DEFAULT_SETTINGS,
    CheckOption,
    EnvOption,
    OutOption,
    SettingsOption,
    out_directory,
    user_errors,
)

QueueCapsOption = Annotated[Optional[Path], typer.Option(
    "--queue-caps", help="A file of each model's max_queue_size ({env: {model: cap}}, as gen doctor "
    "--write-queue-caps writes it) instead of the settings' queue_caps_file.")]


def run(targets: list[str], settings_path: Path, out: Path | None, env: str | None, check: bool, command: str,
        queue_caps: Path | None = None) -> None:
    from gen.render.generate import generate
    from gen.settings import load_settings, with_queue_caps

    settings = load_settings(settings_path)
    if queue_caps is not None:
        settings = with_queue_caps(settings, queue_caps)
    out_dir = out_directory(settings, out)
    result = generate(settings, targets, env, out_dir, check)
    plan = result.plan
    shown = _shown(out_dir)
    for finding in result.warnings:
        typer.echo(f"warning: {finding.object}: {finding.message}", err=True)
    if check:
        if plan.clean:
            typer.echo(f"{shown} is up to date ({len(plan.unchanged)} files)")
            return
        for rel in plan.write:
            state = "missing" if rel in plan.missing else "differs"
            typer.echo(f"{state}: {shown}/{rel}")
        for rel in plan.delete:
            typer.echo(f"stale: {shown}/{rel}")
        typer.echo(
            f"{shown} is out of date: {len(plan.write)} to write, {len(plan.delete)} to remove; "
            f"run `gen {command}` and commit the result",
            err=True,
        )
        raise typer.Exit(1)
    for rel in plan.write:
        typer.echo(f"wrote {shown}/{rel}")
    for rel in plan.delete:
        typer.echo(f"removed {shown}/{rel}")
    if plan.clean:
        typer.echo(f"{shown} is up to date: {len(plan.unchanged)} files, nothing to write")
    else:
        typer.echo(f"{len(plan.write)} written, {len(plan.delete)} removed, {len(plan.unchanged)} unchanged in {shown}")
    for line in _where(result.artifacts, shown):
        typer.echo(line)


# Directories listed in full up to this many; a fleet's 200 get the first few and a count.
LISTED_DIRS = 5
LISTED_DIRS_OF_A_FLEET = 3


def _listed(dirs: list[str], shown: str) -> str:
    names = [f"{shown}/{d}/" for d in dirs]
    if len(names) <= LISTED_DIRS:
        return ", ".join(names)
    return f"{', '.join(names[:LISTED_DIRS_OF_A_FLEET])} and {len(names) - LISTED_DIRS_OF_A_FLEET} more"


def _where(artifacts, shown: str) -> list[str]:
    """Where the files are, for someone who just ran the command on a fresh clone (one line
    each, also for a fleet of 200 environments)."""
    dirs = sorted({a.path.rsplit("/", 1)[0] for a in artifacts if "/" in a.path})
    grafana = [d for d in dirs if d.startswith("grafana/")]
    manifests = [d for d in dirs if "/" not in d and d not in ("grafana", "argocd")]
    lines = []
    if grafana:
        lines.append("dashboard JSON (import by hand, or `gen push`): " + _listed(grafana, shown))
    if manifests:
        lines.append("manifests (`kubectl apply -k` or Argo CD): " + _listed(manifests, shown))
    if any(d.startswith("argocd") for d in dirs):
        lines.append(f"Argo CD Applications: {shown}/argocd/")
    return lines


def _shown(out_dir: Path) -> str:
    try:
        return out_dir.relative_to(Path.cwd()).as_posix() or "."
    except ValueError:
        return out_dir.as_posix()


@user_errors
def dashboards(
    env: EnvOption = None,
    check: CheckOption = False,
    settings: SettingsOption = DEFAULT_SETTINGS,
    out: OutOption = None,
) -> None:
    """Render Grafana dashboards (JSON, sidecar ConfigMaps)."""
    run(["dashboards"], settings, out, env, check, "dashboards")


@user_errors
def alerts(
    ctx: typer.Context,
    env: EnvOption = None,
    check: CheckOption = False,
    settings: SettingsOption = DEFAULT_SETTINGS,
    out: OutOption = None,
    queue_caps: QueueCapsOption = None,
) -> None:
    """Render PrometheusRules, ServiceMonitors and AlertmanagerConfigs per environment."""
    if ctx.invoked_subcommand:  # `gen alerts backtest ...`: the subcommand does the work
        return
    run(["rules", "monitors", "alertmanager"], settings, out, env, check, "alerts", queue_caps)


@user_errors
def build(
    env: EnvOption = None,
    check: CheckOption = False,
    settings: SettingsOption = DEFAULT_SETTINGS,
    out: OutOption = None,
    queue_caps: QueueCapsOption = None,
) -> None:
    """Render everything (dashboards, rules, Argo CD) into out/."""
    from gen.render.targets import TARGETS

    run(list(TARGETS), settings, out, env, check, "build", queue_caps)
