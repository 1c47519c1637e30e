"""The `gen` command: a thin layer over the core in gen/. Each command lives in gen/commands/."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from gen import __version__
from gen.commands import push, render, validate
from gen.commands.common import EXIT_CODES

app = typer.Typer(
    name="gen",
    help="triton-obs: Grafana dashboards and Prometheus rules for Triton, as code.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

SETTINGS_ENV = "  TRITON_OBS_SETTINGS  the settings file (instead of --settings)"
RENDER_EPILOG = f"""{EXIT_CODES}

\b
Environment variables:
{SETTINGS_ENV}

\b
Example:
  gen {{name}} --env dev --check
"""
VALIDATE_EPILOG = f"""{EXIT_CODES}

\b
Environment variables:
  PROMETHEUS_URL       the server for the live checks (instead of --prometheus-url)
  PROMETHEUS_TOKEN     bearer token (--bearer-token-file wins)
  PROMETHEUS_PASSWORD  basic-auth password for --basic-auth-user (--basic-auth-password-file wins)
{SETTINGS_ENV}
Credentials written into the URL (https://user:pass@host) are used as basic auth when no token
is given; a token wins, with a warning. Secrets are never printed.

\b
Example:
  gen validate --prometheus-url http://localhost:9090 --env dev
"""
PUSH_EPILOG = f"""{EXIT_CODES}

\b
Environment variables:
  GRAFANA_URL          Grafana's base URL (instead of --grafana-url)
  GRAFANA_TOKEN        service-account token (--token-file wins)
  GRAFANA_USER, GRAFANA_PASSWORD  basic auth, when no token is given
{SETTINGS_ENV}
Credentials: --token-file, then GRAFANA_TOKEN, then user:password in the URL, then
GRAFANA_USER/GRAFANA_PASSWORD; when more than one is given the first wins, with a warning.
Secrets are never printed.

\b
Example:
  GRAFANA_TOKEN=glsa_... gen push --grafana-url https://grafana.example.com --env dev --dry-run
"""


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


app.command("dashboards", epilog=RENDER_EPILOG.format(name="dashboards"))(render.dashboards)
app.command("alerts", epilog=RENDER_EPILOG.format(name="alerts"))(render.alerts)
app.command("build", epilog=RENDER_EPILOG.format(name="build"))(render.build)
app.command("validate", epilog=VALIDATE_EPILOG)(validate.validate)
app.command("push", epilog=PUSH_EPILOG)(push.push)


def main() -> None:
    import signal

    from gen.errors import on_termination

    # SIGTERM and SIGHUP clean up like Ctrl-C: staged files are removed, out/ stays whole.
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), on_termination)
    app()
