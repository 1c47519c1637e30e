"""The `gen` command: a thin layer over the core in gen/. Each command lives in gen/commands/."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from gen import __version__
from gen.commands import doctor, epilogs, push, render, validate

app = typer.Typer(
    name="gen",
    help="triton-obs: Grafana dashboards and Prometheus rules for Triton, as code.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gen (triton-obs) {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an internal error (exit 3).")] = False,
) -> None:
    """triton-obs: Grafana dashboards and Prometheus rules for Triton, as code."""
    if debug:
        os.environ["TRITON_OBS_DEBUG"] = "1"


app.command("dashboards", epilog=epilogs.render("dashboards"))(render.dashboards)
app.command("alerts", epilog=epilogs.render("alerts"))(render.alerts)
app.command("build", epilog=epilogs.render("build"))(render.build)
app.command("validate", epilog=epilogs.VALIDATE)(validate.validate)
app.command("push", epilog=epilogs.PUSH)(push.push)
app.command("doctor", epilog=epilogs.DOCTOR)(doctor.doctor)


def main() -> None:
    import signal

    from gen.errors import on_termination

    # SIGTERM and SIGHUP clean up like Ctrl-C: staged files are removed, out/ stays whole.
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), on_termination)
    app()
