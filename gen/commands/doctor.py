"""`gen doctor`: the path from a Triton model to a Grafana panel, checked step by step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gen.commands.common import (
    DEFAULT_SETTINGS,
    CaCertOption,
    Format,
    FormatOption,
    InsecureOption,
    OutOption,
    SettingsOption,
    check_ca_cert,
    grafana_credentials,
    out_directory,
    prometheus_auth,
    user_errors,
)
from gen.commands.prometheus_options import (
    BasicAuthPasswordFileOption,
    BasicAuthUserOption,
    BearerTokenFileOption,
)


def _one_env(loaded, env: str | None):
    from gen.errors import UserError

    if env in (None, "all"):
        if len(loaded.environments) == 1:
            return next(iter(loaded.environments.values()))
        known = ", ".join(loaded.environments)
        raise UserError(f"{loaded.path.name}: the doctor checks one environment: pass --env (known: {known})")
    return loaded.select(env)[0]


def _url(value: str | None, flag: str) -> str | None:
    from urllib.parse import urlsplit

    from gen.errors import UserError

    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"{flag}: expected an http(s) URL such as http://localhost:8000")
    if parts.username or parts.password:
        # Every reason names the URL it talks to: credentials in it would be printed.
        raise UserError(f"{flag}: credentials in the URL are not accepted; use a token file or the environment")
    return value.rstrip("/")


@user_errors
def doctor(
    env: Annotated[Optional[str], typer.Option("--env", help="The environment to check [default: the only one].")] = None,
    triton_url: Annotated[Optional[str], typer.Option("--triton-url", help="Triton's HTTP port, e.g. http://localhost:8000.", envvar="TRITON_URL")] = None,
    prometheus_url: Annotated[Optional[str], typer.Option("--prometheus-url", help="The environment's Prometheus.", envvar="PROMETHEUS_URL")] = None,
    grafana_url: Annotated[Optional[str], typer.Option("--grafana-url", help="Grafana's base URL (token as for gen push).", envvar="GRAFANA_URL")] = None,
    kube_context: Annotated[Optional[str], typer.Option("--kube-context", help="kubectl context [default: the current one].")] = None,
    load: Annotated[bool, typer.Option("--load", help="Load the models that are in the repository but not loaded.")] = False,
    infer: Annotated[bool, typer.Option("--infer", help="Send one inference of zeros to each ready model.")] = False,
    write_queue_caps: Annotated[bool, typer.Option("--write-queue-caps", help="Write each ready model's max_queue_size, read from Triton, into the settings' queue_caps_file (then gen build).")] = False,
    output_format: FormatOption = Format.table,
    prometheus_cr: Annotated[Optional[Path], typer.Option("--prometheus-cr", help="Offline: a saved Prometheus object (kubectl get prometheus NAME -o yaml) to check the selectors against.")] = None,
    metrics_url: Annotated[Optional[str], typer.Option("--metrics-url", help="Triton's metrics endpoint [default: the Triton host, port 8002, /metrics].")] = None,
    datasource: Annotated[Optional[str], typer.Option("--datasource", help="Grafana datasource uid or name [default: the one the dashboards' variable selects].")] = None,
    token_file: Annotated[Optional[Path], typer.Option("--token-file", help="File holding a Grafana service-account token [or env GRAFANA_TOKEN].")] = None,
    bearer_token_file: BearerTokenFileOption = None,
    basic_auth_user: BasicAuthUserOption = None,
    basic_auth_password_file: BasicAuthPasswordFileOption = None,
    ca_cert: CaCertOption = None,
    insecure: InsecureOption = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per request.", min=0.1)] = 5.0,
    settings: SettingsOption = DEFAULT_SETTINGS,
    out: OutOption = None,
) -> None:
    """Check the path from a Triton model to a Grafana panel, and say what to do at the first step that fails."""
    from gen.doctor import report
    from gen.doctor.context import Context, Options
    from gen.doctor.runner import run
    from gen.settings import load_settings

    loaded = load_settings(settings)
    environment = _one_env(loaded, env)
    out_dir = out_directory(loaded, out)
    ca_bundle = check_ca_cert(ca_cert)
    if prometheus_cr is not None and not prometheus_cr.is_file():
        from gen.errors import UserError

        raise UserError(f"{prometheus_cr}: --prometheus-cr file not found")
    if write_queue_caps and not triton_url:
        from gen.errors import UserError

        raise UserError("--write-queue-caps reads the caps from Triton: pass --triton-url too")
    options = Options(
        triton_url=_url(triton_url, "--triton-url"), metrics_url=_url(metrics_url, "--metrics-url"),
        prometheus_url=_url(prometheus_url, "--prometheus-url"), grafana_url=_url(grafana_url, "--grafana-url"),
        kube_context=kube_context, prometheus_cr=prometheus_cr, datasource=datasource, load=load, infer=infer,
        write_queue_caps=write_queue_caps, timeout=timeout,
    )
    ctx = Context(loaded, environment, out_dir, options)
    if options.triton_url:
        from gen.doctor.triton import TritonClient

        ctx.triton = TritonClient(options.triton_url, timeout, ca_bundle, insecure)
    if options.prometheus_url:
        from gen.validate.client import PrometheusClient

        url, auth = prometheus_auth(options.prometheus_url, bearer_token_file, basic_auth_user,
                                    basic_auth_password_file)
        ctx.prometheus = PrometheusClient(url, auth, ca_bundle, insecure, timeout)
    if options.grafana_url:
        from gen.push.client import GrafanaClient

        # One retry, quickly: a doctor reports what it sees rather than waiting for it to heal.
        grafana_url, ctx.grafana_credentials = grafana_credentials(token_file, options.grafana_url)
        ctx.grafana = GrafanaClient(grafana_url, ctx.grafana_credentials, ca_bundle, insecure, timeout,
                                    retries=1, backoff_s=0.1, pool=8)
    result = run(ctx)
    if output_format == Format.json:
        typer.echo(report.as_json(result))
    else:
        from gen.commands import colour

        on = colour.enabled()
        typer.echo("\n".join(colour.mark_line(line, on) for line in report.table(result).splitlines()), color=on)
    if not result.checked:
        from gen.errors import UserError

        # Everything skipped is not "ok": nothing was looked at.
        raise UserError("nothing was checked: every step was skipped (see why above); give --triton-url, "
                        "--prometheus-url, --grafana-url, --prometheus-cr FILE or a kubectl context")
    raise typer.Exit(result.exit_code)
