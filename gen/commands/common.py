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
    """A secret from a file (first) or an environment variable; its value is never part of a message."""
    from gen.errors import UserError

    if path is not None:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(f"{path}: cannot read the {what} file: {exc.strerror}") from None
        if not value:
            raise UserError(f"{path}: the {what} file is empty")
        return value
    return (os.environ.get(env_var) or "").strip() or None


def check_ca_cert(path: Path | None) -> str | None:
    from gen.errors import UserError

    if path is not None and not path.is_file():
        raise UserError(f"{path}: --ca-cert file not found")
    return str(path) if path else None


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
