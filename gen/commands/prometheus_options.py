"""Options for commands that read a Prometheus-compatible API (validate, doctor, preview,
backtest): one declaration of each flag, and one way to read the secrets and make the client."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

PrometheusUrlOption = Annotated[str, typer.Option("--prometheus-url", help="The Prometheus-compatible API to read.", envvar="PROMETHEUS_URL")]
BearerTokenFileOption = Annotated[Optional[Path], typer.Option("--bearer-token-file", help="Bearer token for the Prometheus API [or env PROMETHEUS_TOKEN].")]
BasicAuthUserOption = Annotated[Optional[str], typer.Option("--basic-auth-user", help="Prometheus basic auth user; the password comes from PROMETHEUS_PASSWORD or --basic-auth-password-file.")]
BasicAuthPasswordFileOption = Annotated[Optional[Path], typer.Option("--basic-auth-password-file", help="File holding the Prometheus basic auth password.")]
ConcurrencyOption = Annotated[int, typer.Option("--concurrency", help="Queries in flight at once.", min=1, max=64)]


def make_client(url: str, bearer_token_file: Path | None, basic_auth_user: str | None,
                basic_auth_password_file: Path | None, ca_cert: Path | None, insecure: bool, timeout: float,
                retry_unavailable: bool = True):
    """A probed client, with the credentials read as every command reads them."""
    from gen.commands.common import check_ca_cert, prometheus_auth
    from gen.validate.client import PrometheusClient

    url, auth = prometheus_auth(url, bearer_token_file, basic_auth_user, basic_auth_password_file)
    client = PrometheusClient(url, auth, check_ca_cert(ca_cert), insecure, timeout, retry_unavailable)
    client.probe()
    return client


def parse_duration(text: str, option: str) -> float:
    import re

    from gen.errors import UserError
    from gen.validate.live import seconds

    if not re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", text.strip()):
        raise UserError(f"{option} {text}: not a duration (e.g. 30m, 6h, 7d)")
    value = seconds(text.strip())
    if value <= 0:
        raise UserError(f"{option} {text}: must be longer than 0s")
    return value


def parse_time(text: str | None, option: str) -> float:
    """now, a Unix time, or an RFC 3339 time (2026-11-28T06:00:00Z)."""
    import datetime as dt
    import time

    from gen.errors import UserError

    if text in (None, "", "now"):
        return float(int(time.time()))
    try:
        return float(text)
    except ValueError:
        pass
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{option} {text}: not a time (now, Unix seconds or 2026-11-28T06:00:00Z)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.timestamp()
