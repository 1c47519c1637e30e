"""`gen diff`: what differs between out/ and Grafana (or out/ of a git ref), readably."""

from __future__ import annotations

import json
import os
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
    out_directory,
    user_errors,
)
from gen.commands.push import ApiChoice, ApiOption, NamespaceOption, TokenFileOption


@user_errors
def diff(
    grafana_url: Annotated[Optional[str], typer.Option(
        "--grafana-url", help="Compare with this Grafana [or env GRAFANA_URL, when --against is not given].")] = None,
    against: Annotated[Optional[str], typer.Option(
        "--against", help="Compare with out/ as committed at this git ref (e.g. origin/main) instead.")] = None,
    env: EnvOption = None,
    api: ApiOption = ApiChoice.auto,
    namespace: NamespaceOption = None,
    token_file: TokenFileOption = None,
    ca_cert: CaCertOption = None,
    insecure: InsecureOption = False,
    output_format: FormatOption = Format.table,
    timeout: TimeoutOption = 30.0,
    settings: SettingsOption = DEFAULT_SETTINGS,
    out: OutOption = None,
) -> None:
    """Show what differs, per dashboard: panels, queries, units, thresholds, variables, time."""
    from gen.errors import UserError
    from gen.secrets import scrub
    from gen.settings import load_settings

    loaded = load_settings(settings)
    envs = loaded.select(env)
    out_dir = out_directory(loaded, out)
    if against and grafana_url:
        raise UserError("give --grafana-url or --against, not both")
    if against:
        from gen.diff.compare import against_ref

        results = against_ref(loaded.root, out_dir, against, envs)
        direction = f"{against} -> working tree"
    else:
        grafana_url = grafana_url or os.environ.get("GRAFANA_URL")
        if not grafana_url:
            raise UserError("nothing to compare with: pass --grafana-url URL (or set GRAFANA_URL) or --against REF")
        results = _against_grafana(loaded, envs, out_dir, grafana_url, api.value, namespace, token_file, ca_cert,
                                   insecure, timeout)
        direction = "Grafana -> out/ (what gen push would change)"
    differ = any(r.status != "unchanged" for r in results)
    if output_format == Format.json:
        typer.echo(scrub(json.dumps({"direction": direction, "differ": differ,
                                     "dashboards": [r.as_dict() for r in results]}, indent=2, ensure_ascii=False)))
    else:
        _text(results, direction)
    if differ:
        raise typer.Exit(1)


def _against_grafana(loaded, envs, out_dir: Path, grafana_url: str, api: str, namespace, token_file, ca_cert,
                     insecure: bool, timeout: float):
    from concurrent.futures import ThreadPoolExecutor

    from gen.commands.push import connect
    from gen.diff.compare import against_grafana
    from gen.errors import RemoteRefused, UserError
    from gen.push.discovery import discover
    from gen.push.push import load_local, make_api

    dashboards = load_local(out_dir, envs)
    client, _ = connect(grafana_url, token_file, ca_cert, insecure, timeout, 8)
    try:
        target = discover(client, api, namespace)
        with ThreadPoolExecutor(max_workers=4) as pool:
            return against_grafana(make_api(client, target), dashboards, pool)
    except RemoteRefused as exc:  # exit 1 means "differs" here: a refusal is an error, 2
        raise UserError(exc.message) from None


def _text(results, direction: str) -> None:
    from gen.commands import colour
    from gen.diff.semantic import format_changes
    from gen.secrets import scrub

    on = colour.enabled()
    typer.echo(f"comparing {direction}")
    for r in results:
        head = f"{r.env}/{r.uid}"
        if r.status == "added":
            line = f"{head}: added"
        elif r.status == "removed":
            line = f"{head}: removed"
        elif r.status == "unchanged":
            line = f"{head}: unchanged"
        else:
            line = f"{head}: {len(r.changes)} change{'s' if len(r.changes) != 1 else ''}"
        typer.echo(scrub(line + (f" ({r.note})" if r.note else "")))
        for text in format_changes(r.changes):
            typer.echo(colour.diff_line(scrub(text), on), color=on)
    differing = sum(r.status != "unchanged" for r in results)
    typer.echo(f"{differing} of {len(results)} dashboards differ")
