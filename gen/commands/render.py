"""`gen dashboards`, `gen build` (and later `gen alerts`): render definitions into out/."""

from __future__ import annotations

from pathlib import Path

import typer

from gen.commands.common import (
    DEFAULT_SETTINGS,
    CheckOption,
    EnvOption,
    OutOption,
    SettingsOption,
    user_errors,
)


def run(targets: list[str], settings_path: Path, out: Path | None, env: str | None, check: bool, command: str) -> None:
    from gen.render.generate import generate
    from gen.settings import load_settings

    settings = load_settings(settings_path)
    out_dir = (out or settings.root / "out").resolve()
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
    typer.echo(
        f"{len(plan.write)} written, {len(plan.delete)} removed, {len(plan.unchanged)} unchanged in {shown}"
    )


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
) -> None:
    """Render PrometheusRules and ServiceMonitors per environment."""
    if ctx.invoked_subcommand:  # `gen alerts backtest ...`: the subcommand does the work
        return
    run(["rules", "monitors"], settings, out, env, check, "alerts")


@user_errors
def build(
    env: EnvOption = None,
    check: CheckOption = False,
    settings: SettingsOption = DEFAULT_SETTINGS,
    out: OutOption = None,
) -> None:
    """Render everything (dashboards, rules, Argo CD) into out/."""
    from gen.render.targets import TARGETS

    run(list(TARGETS), settings, out, env, check, "build")
