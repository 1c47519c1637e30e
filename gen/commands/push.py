"""`gen push`: publish the dashboards of out/grafana/ through Grafana's HTTP API."""

from __future__ import annotations

import sys
from pathlib import Path
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
    grafana_credentials,
    is_terminal,
    user_errors,
)


@user_errors
def push(
    grafana_url: Annotated[str, typer.Option("--grafana-url", help="Grafana's base URL.", envvar="GRAFANA_URL")],
    env: EnvOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite dashboards changed in Grafana, after a backup.")] = False,
    backup_dir: Annotated[Optional[Path], typer.Option("--backup-dir", help="Where --force saves Grafana's versions [default: out/.backup/].")] = None,
    token_file: Annotated[Optional[Path], typer.Option("--token-file", help="File holding a service-account token [or env GRAFANA_TOKEN].")] = None,
    ca_cert: CaCertOption = None,
    insecure: InsecureOption = False,
    output_format: FormatOption = Format.table,
    timeout: TimeoutOption = 30.0,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Dashboards pushed at once.", min=1, max=32)] = 4,
    settings: SettingsOption = DEFAULT_SETTINGS,
    out: OutOption = None,
) -> None:
    """Publish dashboards through Grafana's HTTP API, safely."""
    from gen.push.client import GrafanaClient
    from gen.push.push import Options, git_revision
    from gen.push.push import push as run_push
    from gen.secrets import scrub
    from gen.settings import load_settings

    loaded = load_settings(settings)
    envs = loaded.select(env)
    out_dir = (out or loaded.root / "out").resolve()
    ca_bundle = check_ca_cert(ca_cert)
    grafana_url, credentials = grafana_credentials(token_file, grafana_url)
    revision = git_revision(loaded.root)
    options = Options(
        dry_run=dry_run, force=force, concurrency=concurrency,
        backup_dir=(backup_dir or out_dir / ".backup").resolve(),
        message=f"triton-obs gen push, definitions at git {revision}",
    )
    client = GrafanaClient(grafana_url, credentials, ca_bundle, insecure, timeout,
                           pool=concurrency * 2, notice=lambda line: typer.echo(line, err=True))
    show = is_terminal() and output_format == Format.table and not dry_run
    done = [0]

    def progress(outcome) -> None:
        done[0] += 1
        sys.stderr.write(f"\rpushed {done[0]} dashboards")
        sys.stderr.flush()

    result = run_push(loaded, envs, out_dir, client, options, progress if show else None)
    if show:
        sys.stderr.write("\r\033[K")
    counters = client.counters
    if output_format == Format.json:
        import json

        typer.echo(scrub(json.dumps({
            "ok": result.ok, "dry_run": dry_run, "grafana_url": grafana_url,
            "folders_created": result.folders_created,
            "requests": counters.requests, "writes": counters.writes, "retries": counters.retries,
            "dashboards": [o.as_dict() for o in result.outcomes],
        }, indent=2, ensure_ascii=False)))
    else:
        _table(result, dry_run, counters)
    if not result.ok:
        raise typer.Exit(1)


def _table(result, dry_run: bool, counters) -> None:
    from gen.secrets import scrub

    rows = [("ENV", "DASHBOARD", "ACTION", "RESULT", "DETAIL")]
    for o in sorted(result.outcomes, key=lambda o: (o.env, o.uid)):
        detail = o.detail + (f" (backup: {o.backup})" if o.backup else "")
        rows.append((o.env, o.uid, o.action, "dry-run" if dry_run else o.result, detail))
    sizes = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        typer.echo(scrub("  ".join(cell.ljust(sizes[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]))
    counts: dict[str, int] = {}
    for o in result.outcomes:
        counts[o.action] = counts.get(o.action, 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
    folders = f"; folders {'to create' if dry_run else 'created'}: {', '.join(result.folders_created)}" if result.folders_created else ""
    prefix = "dry run, nothing changed: " if dry_run else ""
    typer.echo(f"{prefix}{summary}{folders}; {counters.requests} requests ({counters.writes} writes, "
               f"{counters.retries} retries)")
