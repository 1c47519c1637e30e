"""`gen validate`: static checks of out/, and live checks with --prometheus-url."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Optional

import typer

from gen.commands.common import (
    DEFAULT_SETTINGS,
    CaCertOption,
    EnvOption,
    Format,
    FormatOption,
    InsecureOption,
    OutOption,
    SettingsOption,
    TimeoutOption,
    check_ca_cert,
    is_terminal,
    out_directory,
    prometheus_auth,
    user_errors,
)
from gen.commands.prometheus_options import (
    BasicAuthPasswordFileOption,
    BasicAuthUserOption,
    BearerTokenFileOption,
    ConcurrencyOption,
)


@user_errors
def validate(
    prometheus_url: Annotated[Optional[str], typer.Option("--prometheus-url", help="Run the live checks against this Prometheus-compatible API.", envvar="PROMETHEUS_URL")] = None,
    env: EnvOption = None,
    output_format: FormatOption = Format.table,
    bearer_token_file: BearerTokenFileOption = None,
    basic_auth_user: BasicAuthUserOption = None,
    basic_auth_password_file: BasicAuthPasswordFileOption = None,
    ca_cert: CaCertOption = None,
    insecure: InsecureOption = False,
    timeout: TimeoutOption = 30.0,
    concurrency: ConcurrencyOption = 8,
    everything: Annotated[bool, typer.Option("--all", help="Print, too, the findings that follow from another (folded under it by default).")] = False,
    header: Annotated[Optional[list[str]], typer.Option("--header", metavar="NAME=VALUE", help="Extra request header NAME=VALUE, repeatable (a tenant: X-Scope-OrgID=team-a). Values are never printed.")] = None,
    settings: SettingsOption = DEFAULT_SETTINGS,
    out: OutOption = None,
) -> None:
    """Check out/ offline, and live with --prometheus-url."""
    from gen.secrets import scrub
    from gen.settings import load_settings
    from gen.validate import inventory as inventory_mod
    from gen.validate import report, static

    loaded = load_settings(settings)
    envs = loaded.select(env)
    env_names = {e.name for e in envs}
    out_dir = out_directory(loaded, out)
    inventory = inventory_mod.load(out_dir)

    findings = [
        f for f in static.run(inventory, loaded)
        if env in (None, "all") or not _other_env(f.object, env_names, loaded.environments)
    ]
    queries_run = None
    if prometheus_url:
        from dataclasses import replace

        from gen.validate.client import PrometheusClient, parse_headers
        from gen.validate.live import Context, run

        prometheus_url, auth = prometheus_auth(prometheus_url, bearer_token_file, basic_auth_user,
                                               basic_auth_password_file)
        auth = replace(auth, headers=parse_headers(header or []))
        client = PrometheusClient(prometheus_url, auth, check_ca_cert(ca_cert), insecure, timeout)
        queries_run = 0
        show = is_terminal() and output_format == Format.table
        started = time.monotonic()
        for environment in envs:
            progress = None
            if show:
                def progress(done: int, _total: int, name: str = environment.name) -> None:
                    sys.stderr.write(f"\r{name}: {done} queries run")
                    sys.stderr.flush()
            ctx = Context(environment, client, inventory, concurrency=concurrency, progress=progress)
            findings.extend(run(ctx))
            queries_run += ctx.queries_run
            if show:
                sys.stderr.write("\r\033[K")
        elapsed = time.monotonic() - started
    if output_format == Format.json:
        extra = {"prometheus_url": prometheus_url, "environments": sorted(env_names)}
        if queries_run is not None:
            extra.update(queries=queries_run, seconds=round(elapsed, 3))
        typer.echo(scrub(report.as_json(findings, **extra)))
    else:
        from gen.commands import colour

        text = report.table(findings, everything=everything)
        if text:
            on = colour.enabled()
            typer.echo("\n".join(colour.severity_line(line, on) for line in scrub(text).splitlines()), color=on)
        scope = f"live against {prometheus_url}" if prometheus_url else "static (no --prometheus-url)"
        typer.echo(scrub(f"{report.summary(findings, queries_run, everything)}; {scope}; environments: {', '.join(sorted(env_names))}"))
    if any(f.severity == "error" for f in findings):
        raise typer.Exit(1)


def _other_env(obj: str, wanted: set[str], environments) -> bool:
    """A static finding about another environment's object (objects start with the env name or a
    dashboard uid ending in it, or out/<env>/...)."""
    head = obj.split(" ", 1)[0].rstrip(":")
    if head.startswith("out/"):
        parts = head.split("/")
        name = parts[2] if len(parts) > 2 and parts[1] in ("grafana", "argocd") else parts[1] if len(parts) > 1 else ""
        return name in environments and name not in wanted
    if head in environments:
        return head not in wanted
    return any(head.endswith(f"-{name}") for name in environments if name not in wanted) and not any(
        head.endswith(f"-{name}") for name in wanted)
