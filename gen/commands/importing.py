"""`gen import FILE.json`: a dashboard made elsewhere becomes a definition in dashboards/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gen.commands.common import DEFAULT_SETTINGS, SettingsOption, user_errors


@user_errors
def import_(
    file: Annotated[Path, typer.Argument(help="A dashboard as Grafana exports it (JSON model, API answer, or export for sharing externally).", show_default=False)],
    name: Annotated[Optional[str], typer.Option("--name", help="The definition's module name: dashboards/NAME.py [default: from the title].")] = None,
    env_variables: Annotated[bool, typer.Option("--env-variables", help="Literal namespaces and release labels become the environment's settings, and datasources the datasource variable.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing dashboards/NAME.py.")] = False,
    settings: SettingsOption = DEFAULT_SETTINGS,
) -> None:
    """Turn dashboard JSON into a definition (dashboards/NAME.py), proven by a round trip."""
    from gen.importer.run import import_dashboard
    from gen.settings import load_settings

    loaded = load_settings(settings)
    result = import_dashboard(loaded, file, name, env_variables, force)
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for line in result.differences:
        typer.echo(f"warning: does not round-trip: {line}", err=True)
    shown = f"dashboards/{result.name}.py"
    state = "round-trips" if not result.differences else f"{len(result.differences)} difference(s) left, above"
    typer.echo(f"wrote {shown} ({state} for environment {result.environment}); next: gen build, then gen diff")
    if result.differences:  # written, for the person to finish: a finding, as everywhere
        raise typer.Exit(1)
