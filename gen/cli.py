"""The `gen` command: a thin layer over the core in gen/. Each command lives in gen/commands/."""

from __future__ import annotations

import typer

from gen.commands import doctor, push, render, validate

app = typer.Typer(
    name="gen",
    help="triton-obs: Grafana dashboards and Prometheus rules for Triton, as code.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

app.command("dashboards")(render.dashboards)
app.command("alerts")(render.alerts)
app.command("build")(render.build)
app.command("validate")(validate.validate)
app.command("push")(push.push)
app.command("doctor")(doctor.doctor)


def main() -> None:
    app()
