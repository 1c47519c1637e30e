"""Options and error handling shared by every command."""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

SettingsOption = Annotated[
    Path,
    typer.Option("--settings", help="The environments file.", envvar="TRITON_OBS_SETTINGS"),
]
OutOption = Annotated[
    Optional[Path],
    typer.Option("--out", help="Output directory [default: out/ beside the settings file]."),
]
EnvOption = Annotated[
    Optional[str],
    typer.Option("--env", help="One environment by name, or 'all' [default: all]."),
]
CheckOption = Annotated[
    bool,
    typer.Option("--check", help="Write nothing; exit 1 listing the files that differ from out/."),
]

CaCertOption = Annotated[
    Optional[Path], typer.Option("--ca-cert", help="CA bundle to verify the server's TLS certificate.")
]
InsecureOption = Annotated[bool, typer.Option("--insecure", help="Do not verify TLS certificates.")]
TimeoutOption = Annotated[float, typer.Option("--timeout", help="Seconds per request.", min=0.1)]


class Format(str, Enum):
    table = "table"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="table or json.")]

DEFAULT_SETTINGS = Path("environments.yaml")


def read_secret(path: Path | None, env_var: str, what: str) -> str | None:
    """A secret from a file (first) or an environment variable; see gen.secrets."""
    from gen.secrets import read_secret as read

    return read(path, env_var, what)


def check_ca_cert(path: Path | None) -> str | None:
    from gen.errors import UserError

    if path is not None and not path.is_file():
        raise UserError(f"{path}: --ca-cert file not found")
    return str(path) if path else None


EXIT_CODES = """\b
Exit codes:
  0  success
  1  findings: something to fix was found (a check failed, a conflict)
  2  bad usage or input (settings, definitions, flags), or a server we cannot use
  3  internal error: a bug in gen (rerun with `gen --debug ...` and report it)
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP)"""


def fail(message: str, code: int = 2) -> None:
    from gen.secrets import scrub

    typer.echo(f"error: {scrub(message)}", err=True)
    raise typer.Exit(code)


def debug_enabled() -> bool:
    return os.environ.get("TRITON_OBS_DEBUG", "") not in ("", "0")


def user_errors(fn: Callable) -> Callable:
    """The command boundary. Errors a user can cause become one line on stderr and exit code 2
    (or the code the error carries); Ctrl-C and SIGTERM exit 130 after the cleanup ran; anything
    else is a bug: one line with a hint to report it, exit 3, the traceback only with --debug.
    Every line that leaves here has our secrets scrubbed from it."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from gen.errors import Interrupted, UserError

        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            fail(exc.message, exc.exit_code)
        except (KeyboardInterrupt, Interrupted) as exc:
            typer.echo(f"interrupted{f' ({exc})' if str(exc) else ''}: nothing half-written was left", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, click_exceptions()):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place a bug is turned into an exit code
            if debug_enabled():
                import traceback

                from gen.secrets import scrub

                sys.stderr.write(scrub(traceback.format_exc()))
            fail(f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); this is a bug in gen: "
                 "rerun with `gen --debug ...` for the traceback and report it", 3)

    return wrapper


def click_exceptions():
    import click

    return click.exceptions.ClickException


def is_terminal(stream=None) -> bool:
    stream = stream or sys.stderr
    return hasattr(stream, "isatty") and stream.isatty()
