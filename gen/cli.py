"""The `gen` command: a thin layer over the core in gen/. Each command lives in gen/commands/."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated, Optional

import typer

from gen import __version__
from gen.commands import epilogs

_SETTINGS = dict(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                 context_settings={"help_option_names": ["-h", "--help"]})


def version_line() -> str:
    """What --version says: ours, then what a bug report needs of the environment, as pip does
    ("pip 24.0 from ... (python 3.11)"): where gen runs from, grafanalib, typer and Python."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    where = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return (f"gen (triton-obs) {__version__} from {where} (grafanalib {installed('grafanalib')}, "
            f"typer {installed('typer')}, Python {platform.python_version()})")


def _version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


def _main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an internal error (exit 3).")] = False,
) -> None:
    """triton-obs: Grafana dashboards and Prometheus rules for Triton, as code."""
    if debug:
        os.environ["TRITON_OBS_DEBUG"] = "1"


def _function(module: str, name: str):
    # `import` is a keyword: its function is `import_`, PEP 8's way.
    loaded = importlib.import_module(f"gen.commands.{module}")
    return getattr(loaded, name, None) or getattr(loaded, f"{name}_")


# Every command, in --help's order: the module under gen/commands/ that holds it (as a function of
# the same name) and the end of its help. `alerts` is a group: `gen alerts` renders, as before;
# `gen alerts backtest` replays the rules over history. Each module is imported only when added.
COMMANDS = {
    "dashboards": ("render", epilogs.render("dashboards")),
    "alerts": ("render", epilogs.render("alerts")),
    "build": ("render", epilogs.render("build")),
    "validate": ("validate", epilogs.VALIDATE),
    "push": ("push", epilogs.PUSH),
    "diff": ("diff", epilogs.DIFF),
    "doctor": ("doctor", epilogs.DOCTOR),
    "preview": ("preview", epilogs.PREVIEW),
    "import": ("importing", epilogs.IMPORT),
    "pull": ("pull", epilogs.PULL),
    "review": ("review", epilogs.REVIEW),
}


def _add(app: typer.Typer, name: str) -> None:
    module, epilog = COMMANDS[name]
    if name != "alerts":
        app.command(name, epilog=epilog)(_function(module, name))
        return
    alerts_app = typer.Typer(**_SETTINGS)
    alerts_app.callback(invoke_without_command=True, epilog=epilog)(_function(module, name))
    alerts_app.command("backtest", epilog=epilogs.BACKTEST)(_function("backtest", "backtest"))
    app.add_typer(alerts_app, name="alerts")


def make_app(commands=COMMANDS) -> typer.Typer:
    """The `gen` app with the given commands (all of them unless told)."""
    app = typer.Typer(
        name="gen",
        help="triton-obs: Grafana dashboards and Prometheus rules for Triton, as code.",
        no_args_is_help=True,
        # `gen --install-completion` / `--show-completion`: the shell completes commands, flags,
        # and --env with the environments of the settings file found from where it runs.
        **{**_SETTINGS, "add_completion": True},
    )
    app.callback()(_main)
    for name in commands:
        _add(app, name)
    return app


def _invoked(args: list[str]) -> str | None:
    """The command `args` run, when it is one of ours and nothing before it needs the others
    (--help and --version list or name the app; an unknown name gets click's suggestions)."""
    for arg in args:
        if arg == "--debug":
            continue
        return arg if arg in COMMANDS else None
    return None


def hoist_debug(args: list[str]) -> list[str]:
    """`gen push --debug ...` as `gen --debug push ...`: --debug is the app's option, and people
    add it where the command failed, at the end. Not after `--`, where arguments are literal."""
    cut = args.index("--") if "--" in args else len(args)
    if "--debug" not in args[1:cut]:
        return args
    return ["--debug", *[a for i, a in enumerate(args) if not (a == "--debug" and i < cut)]]


def __getattr__(name: str):
    # `gen.cli.app`, for tests and embedding: every command.
    if name == "app":
        return make_app()
    raise AttributeError(name)


def main() -> None:
    import signal

    from gen.errors import on_termination

    # SIGTERM and SIGHUP clean up like Ctrl-C: staged files are removed, out/ stays whole.
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), on_termination)
    sys.argv[1:] = hoist_debug(sys.argv[1:])
    # Only the command that runs is imported and built: typer builds every parameter of every
    # command it holds, and the other commands' modules are not needed.
    command = _invoked(sys.argv[1:])
    try:
        make_app([command] if command else COMMANDS)()
    except SystemExit as done:
        if command in _RENDER_ONLY and "backtest" not in sys.argv[1:]:
            _exit_now(done.code)
        raise


# Commands that only render into out/: everything they open is closed, every thread joined and
# every temporary file removed before they return, so nothing is left for the interpreter's
# teardown to do but free a fleet's files and models one object at a time (50 ms for 200
# environments). They leave as soon as their output is flushed.
_RENDER_ONLY = {"dashboards", "alerts", "build"}


def _exit_now(code) -> None:
    import os

    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (gen ... | head): nothing more to say
            if code == 0:
                code = 1
    os._exit(code)
