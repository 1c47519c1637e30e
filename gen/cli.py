"""The `gen` command: a thin layer over the core in gen/. Each command lives in gen/commands/."""

from __future__ import annotations

import typer

from gen.commands import backtest, preview, push, render, validate

app = typer.Typer(
    name="gen",
    help="triton-obs: Grafana dashboards and Prometheus rules for Triton, as code.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

app.command("dashboards")(render.dashboards)
# `gen alerts` renders, as before; `gen alerts backtest` replays the rules over history.
alerts_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
alerts_app.callback(invoke_without_command=True)(render.alerts)
alerts_app.command("backtest")(backtest.backtest)
app.add_typer(alerts_app, name="alerts")
app.command("build")(render.build)
app.command("validate")(validate.validate)
app.command("push")(push.push)
app.command("preview")(preview.preview)


def main() -> None:
    app()
