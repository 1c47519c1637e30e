"""Options and error handling shared by every command."""

from __future__ import annotations

import functools
import sys
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

DEFAULT_SETTINGS = Path("environments.yaml")


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(fn: Callable) -> Callable:
    """Errors a user can cause become one line on stderr and exit code 2; anything else is a bug
    and keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from gen.errors import UserError

        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            fail(exc.message, exc.exit_code)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def is_terminal(stream=None) -> bool:
    stream = stream or sys.stderr
    return hasattr(stream, "isatty") and stream.isatty()
