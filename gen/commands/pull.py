"""`gen pull`: what was edited in Grafana's UI, as a change to dashboards/*.py."""

from __future__ import annotations

import json
import os
from typing import Annotated, Optional

import typer

from gen.commands.common import (
    DEFAULT_SETTINGS,
    CaCertOption,
    EnvOption,
    Format,
    FormatOption,
    InsecureOption,
    SettingsOption,
    TimeoutOption,
    user_errors,
)
from gen.commands.push import ApiChoice, ApiOption, NamespaceOption, TokenFileOption


@user_errors
def pull(
    grafana_url: Annotated[Optional[str], typer.Option("--grafana-url", help="The Grafana to read [or env GRAFANA_URL].")] = None,
    env: EnvOption = None,
    uid: Annotated[Optional[str], typer.Option("--uid", help="Only the dashboard with this uid.")] = None,
    write: Annotated[bool, typer.Option("--write", help="Write the changes into dashboards/*.py (for review with git diff); default: print them.")] = False,
    api: ApiOption = ApiChoice.auto,
    namespace: NamespaceOption = None,
    token_file: TokenFileOption = None,
    ca_cert: CaCertOption = None,
    insecure: InsecureOption = False,
    output_format: FormatOption = Format.table,
    timeout: TimeoutOption = 30.0,
    settings: SettingsOption = DEFAULT_SETTINGS,
) -> None:
    """Turn UI edits of the dashboards gen push owns into a change of their Python definitions."""
    from concurrent.futures import ThreadPoolExecutor

    from gen.commands.push import connect
    from gen.errors import RemoteRefused, UserError
    from gen.importer.pull import pull as pull_dashboards
    from gen.outdir import write_atomic
    from gen.push.discovery import discover
    from gen.push.push import make_api
    from gen.secrets import scrub
    from gen.settings import load_settings

    loaded = load_settings(settings)
    envs = loaded.select(env)
    grafana_url = grafana_url or os.environ.get("GRAFANA_URL")
    if not grafana_url:
        raise UserError("nothing to pull from: pass --grafana-url URL (or set GRAFANA_URL)")
    client, _ = connect(grafana_url, token_file, ca_cert, insecure, timeout, 8)
    try:
        target = discover(client, api.value, namespace)
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = pull_dashboards(loaded, envs, make_api(client, target), pool, uid)
    except RemoteRefused as exc:  # exit 1 means "differs": a refusal is an error, 2
        raise UserError(exc.message) from None
    written = []
    if write:
        for result in results:
            if result.new_text is not None:
                write_atomic(loaded.root / result.source, result.new_text.encode("utf-8"))
                written.append(result.source)
    if output_format == Format.json:
        typer.echo(scrub(json.dumps({"written": written, "dashboards": [r.as_dict() for r in results]},
                                    indent=2, ensure_ascii=False)))
    else:
        _text(results, written, write)
    changed = [r for r in results if r.status == "changed"]
    left = [r for r in changed if r.paste or r.new_text is None or not write]
    if left:
        raise typer.Exit(1)


def _text(results, written: list[str], write: bool) -> None:
    from gen.diff.semantic import format_changes
    from gen.secrets import scrub

    for r in results:
        if r.status in ("unchanged",):
            continue
        if r.status != "changed":
            typer.echo(f"{r.env}/{r.uid}: {r.note}")
            continue
        typer.echo(scrub(f"{r.env}/{r.uid} ({r.source}): {len(r.changes)} change(s) made in Grafana"))
        typer.echo(scrub("\n".join(format_changes(r.changes))))
        if r.diff:
            typer.echo(scrub(r.diff.rstrip("\n")))
        for block in r.paste:
            typer.echo(scrub(block))
        if r.note:
            typer.echo(r.note)
    changed = [r for r in results if r.status == "changed"]
    if not changed:
        typer.echo(f"nothing to pull: {len(results)} dashboard(s) in Grafana are as the definitions render them")
    elif write:
        typer.echo(f"wrote {', '.join(written) or 'nothing'}: review with `git diff`, then `gen build` and commit"
                   + ("" if all(not r.paste for r in changed) else "; the edits above marked 'paste' are yours to make"))
    else:
        typer.echo(f"{len(changed)} dashboard(s) edited in Grafana: `gen pull --write` applies the diffs above")
