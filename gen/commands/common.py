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


def complete_env(incomplete: str) -> list[str]:
    """--env's values for shell completion: the environments of the settings file found from the
    working directory, and 'all'. Read, not validated; nothing on any problem (a completion
    must never print an error into the command line)."""
    try:
        import yaml

        from gen.settings import DEFAULT_SETTINGS_FILE, discover

        path = discover(os.environ.get("TRITON_OBS_SETTINGS") or DEFAULT_SETTINGS_FILE)
        names = list((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("environments") or {})
    except Exception:  # noqa: BLE001 - completion says nothing rather than something wrong
        names = []
    return [name for name in [*map(str, names), "all"] if name.startswith(incomplete)]


EnvOption = Annotated[
    Optional[str],
    typer.Option("--env", help="One environment by name, or 'all' [default: all].", autocompletion=complete_env),
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


def grafana_credentials(token_file: Path | None, grafana_url: str):
    """(URL without credentials, Credentials). One rule, stated in --help: --token-file, then
    GRAFANA_TOKEN, then user:password in the URL, then GRAFANA_USER/GRAFANA_PASSWORD; the first
    given wins and a warning names the ones ignored."""
    from gen.errors import UserError
    from gen.push.client import Credentials
    from gen.secrets import check_url, register, register_basic, split_credentials

    url, in_url = split_credentials(check_url(grafana_url, "--grafana-url"))
    token = read_secret(token_file, "GRAFANA_TOKEN", "token")
    user, password = os.environ.get("GRAFANA_USER"), os.environ.get("GRAFANA_PASSWORD")
    register(password)
    offered = [name for name, given in (
        ("--token-file" if token_file else "GRAFANA_TOKEN", token),
        ("credentials in --grafana-url", in_url),
        ("GRAFANA_USER/GRAFANA_PASSWORD", user and password),
    ) if given]
    if len(offered) > 1:
        typer.echo(f"warning: using {offered[0]}; ignoring {', '.join(offered[1:])}", err=True)
    if token:
        return url, Credentials(token=token)
    if in_url:
        register_basic(*in_url)
        return url, Credentials(basic=in_url)
    if user and password:
        register_basic(user, password)
        return url, Credentials(basic=(user, password))
    raise UserError("no Grafana credentials: set GRAFANA_TOKEN (a service-account token), pass --token-file FILE, "
                    "or set GRAFANA_USER and GRAFANA_PASSWORD")


def prometheus_auth(prometheus_url: str, bearer_token_file: Path | None, basic_auth_user: str | None,
                    basic_auth_password_file: Path | None):
    """(URL without credentials, Auth) for a Prometheus-compatible API. A bearer token
    (--bearer-token-file, then PROMETHEUS_TOKEN) wins over basic auth (--basic-auth-user with
    PROMETHEUS_PASSWORD or --basic-auth-password-file), which wins over user:password in the URL;
    a warning names what was ignored."""
    from gen.errors import UserError
    from gen.secrets import check_url, register_basic, split_credentials
    from gen.validate.client import Auth

    url, in_url = split_credentials(check_url(prometheus_url, "--prometheus-url"))
    token = read_secret(bearer_token_file, "PROMETHEUS_TOKEN", "token")
    basic = None
    if basic_auth_user:
        password = read_secret(basic_auth_password_file, "PROMETHEUS_PASSWORD", "password")
        if password is None:
            raise UserError("--basic-auth-user needs PROMETHEUS_PASSWORD or --basic-auth-password-file")
        basic = (basic_auth_user, password)
    offered = [name for name, given in (("a bearer token", token), ("--basic-auth-user", basic),
                                        ("credentials in --prometheus-url", in_url)) if given]
    if len(offered) > 1:
        typer.echo(f"warning: using {offered[0]}; ignoring {', '.join(offered[1:])}", err=True)
    basic = None if token else basic or in_url
    if basic:
        register_basic(*basic)
    return url, Auth(token, basic)


def out_directory(settings, out: Path | None) -> Path:
    """The out/ a command reads or writes: --out, or out/ beside the settings file."""
    return (out or settings.root / "out").resolve()


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
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP)
  141  the reader of the output went away (gen ... | head)"""
# 128 + SIGPIPE: what a shell shows for a C tool whose reader closed the pipe.
OUTPUT_CLOSED = 141


def fail(message: str, code: int = 2) -> None:
    from gen.secrets import scrub

    # At a terminal, a progress line may be drawn (no newline yet): the error replaces it.
    clear = "\r\033[K" if is_terminal() else ""
    typer.echo(f"{clear}error: {scrub(message)}", err=True, color=bool(clear) or None)
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
        except (typer.Exit, typer.Abort, typer.BadParameter):
            # typer's own ways out (its exit codes, a parameter refused): theirs to report.
            raise
        except BrokenPipeError:
            # Whoever read our output stopped (gen ... | head): not a bug, and nothing more can be
            # said there. Later writes (the final flush) go nowhere instead of failing again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            raise typer.Exit(OUTPUT_CLOSED) from None
        except Exception as exc:  # noqa: BLE001 - the one place a bug is turned into an exit code
            if debug_enabled():
                import traceback

                from gen.secrets import scrub

                sys.stderr.write(scrub(traceback.format_exc()))
            fail(f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); this is a bug in gen: "
                 "rerun with `gen --debug ...` for the traceback and report it", 3)

    return wrapper


def is_terminal(stream=None) -> bool:
    stream = stream or sys.stderr
    return hasattr(stream, "isatty") and stream.isatty()
