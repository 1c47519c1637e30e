"""`gen push`: publish the dashboards of out/grafana/ through Grafana's HTTP API."""

from __future__ import annotations

import sys
from enum import Enum
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
    TimeoutOption,
    check_ca_cert,
    complete_env,
    grafana_credentials,
    is_terminal,
    out_directory,
    user_errors,
)
from gen.errors import UserError


class ApiChoice(str, Enum):
    auto = "auto"
    resource = "resource"
    legacy = "legacy"


ApiOption = Annotated[ApiChoice, typer.Option(
    "--api", help="auto: the resource API when Grafana serves it (12+), else the legacy API; or force one.")]
NamespaceOption = Annotated[Optional[str], typer.Option(
    "--namespace", help="Resource API namespace [default: what Grafana tells, else 'default'; 'stacks-<id>' on Grafana Cloud].")]
TokenFileOption = Annotated[Optional[Path], typer.Option(
    "--token-file", help="File holding a service-account token [or env GRAFANA_TOKEN].")]
GrafanaUrlOption = Annotated[str, typer.Option("--grafana-url", help="Grafana's base URL (with its sub-path, if any).",
                                               envvar="GRAFANA_URL")]


def connect(grafana_url: str, token_file: Path | None, ca_cert: Path | None, insecure: bool, timeout: float,
            pool: int):
    """(client, URL without credentials) for a Grafana, credentials resolved as --help says."""
    from gen.push.client import GrafanaClient

    ca_bundle = check_ca_cert(ca_cert)
    url, credentials = grafana_credentials(token_file, grafana_url)
    client = GrafanaClient(url, credentials, ca_bundle, insecure, timeout, pool=pool, notice=_notice)
    return client, url


def _notice(line: str, lasting: bool) -> None:
    """A retry, said on stderr as it happens. At a terminal each one takes the progress line
    (the next update replaces it); a long Retry-After wait gets a line of its own everywhere.
    Elsewhere (a pipe, a CI log) a short retry says nothing: a push that fails still ends with
    its one line."""
    from gen.secrets import scrub

    if is_terminal():
        sys.stderr.write(f"\r\033[K{scrub(line)}" + ("\n" if lasting else ""))
    elif lasting:
        sys.stderr.write(f"{scrub(line)}\n")
    sys.stderr.flush()


PushEnvOption = Annotated[Optional[str], typer.Option(
    "--env", help="One environment by name, or 'all'. Required, unless the settings name a default_env "
    "(a --dry-run without it plans every environment).", autocompletion=complete_env)]


def push_environment(loaded, env: str | None, dry_run: bool) -> str | None:
    """What a push writes: --env, else the settings' default_env. Neither: a plan (--dry-run)
    covers every environment, a push is refused, since it would write prod with the rest."""
    if env is not None:
        return env
    if loaded.default_env is not None:
        return loaded.default_env
    if dry_run:
        return None
    names = ", ".join(loaded.environments)
    raise UserError(f"gen push: --env is required ({names}, or all), or set default_env in {loaded.path.name}: "
                    "without it a push would write every environment, prod included")


@user_errors
def push(
    grafana_url: GrafanaUrlOption,
    env: PushEnvOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (and which API, and why); change nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite dashboards changed in Grafana, after a backup.")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Delete our own dashboards that are no longer generated, after a backup.")] = False,
    backup_dir: Annotated[Optional[Path], typer.Option("--backup-dir", help="Where --force and --prune save Grafana's versions [default: out/.backup/].")] = None,
    api: ApiOption = ApiChoice.auto,
    namespace: NamespaceOption = None,
    token_file: TokenFileOption = None,
    ca_cert: CaCertOption = None,
    insecure: InsecureOption = False,
    output_format: FormatOption = Format.table,
    timeout: TimeoutOption = 30.0,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Dashboards pushed at once.", min=1, max=32)] = 8,
    settings: SettingsOption = DEFAULT_SETTINGS,
    out: OutOption = None,
) -> None:
    """Publish dashboards through Grafana's HTTP API, safely."""
    from gen.push.discovery import discover
    from gen.push.push import Options, git_revision
    from gen.push.push import push as run_push
    from gen.secrets import scrub
    from gen.settings import load_settings

    loaded = load_settings(settings)
    envs = loaded.select(push_environment(loaded, env, dry_run))
    out_dir = out_directory(loaded, out)
    client, grafana_url = connect(grafana_url, token_file, ca_cert, insecure, timeout, concurrency * 2)
    revision = git_revision(loaded.root)
    options = Options(
        dry_run=dry_run, force=force, prune=prune, concurrency=concurrency,
        backup_dir=(backup_dir or out_dir / ".backup").resolve(),
        message=f"triton-obs gen push, definitions at git {revision}",
    )
    from gen.push.push import load_local

    load_local(out_dir, envs)  # bad input is reported before any request
    target = discover(client, api.value, namespace)
    show = is_terminal() and output_format == Format.table and not dry_run
    done = [0]

    def progress(outcome) -> None:
        done[0] += 1
        sys.stderr.write(f"\rpushed {done[0]} dashboards")
        sys.stderr.flush()

    with _backups_guarded(out_dir, options):
        result = run_push(loaded, envs, out_dir, client, options, target, progress if show else None)
    if show:
        sys.stderr.write("\r\033[K")
    counters = client.counters
    if output_format == Format.json:
        import json

        typer.echo(scrub(json.dumps({
            "ok": result.ok, "dry_run": dry_run, "grafana_url": grafana_url, "api": result.api,
            "folders_created": result.folders_created,
            "requests": counters.requests, "writes": counters.writes, "retries": counters.retries,
            "dashboards": [o.as_dict() for o in result.outcomes],
        }, indent=2, ensure_ascii=False)))
    else:
        _table(result, dry_run, counters, target)
        for line in next_steps(result, grafana_url, options.backup_dir, loaded.root):
            typer.echo(scrub(line))
    if not result.ok:
        raise typer.Exit(1)


def _table(result, dry_run: bool, counters, target) -> None:
    from gen.commands import colour
    from gen.diff.semantic import Change, format_changes
    from gen.secrets import scrub

    on = colour.enabled()
    if dry_run:
        typer.echo(scrub(f"api: {target.describe()}"))
    rows = [("ENV", "DASHBOARD", "ACTION", "RESULT", "DETAIL")]
    outcomes = sorted(result.outcomes, key=lambda o: (o.env, o.uid))
    for o in outcomes:
        detail = o.detail + (f" (backup: {o.backup})" if o.backup else "")
        rows.append((o.env, o.uid, o.action, "dry-run" if dry_run else o.result, detail))
    sizes = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        typer.echo(scrub("  ".join(cell.ljust(sizes[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]))
    for o in outcomes:
        if o.diff and o.action in ("conflict", "overwrite"):
            typer.echo(scrub(f"{o.action} {o.uid} ({o.env}): what Grafana holds, compared with the code:"))
            for line in format_changes([Change(**c) for c in o.diff]):
                typer.echo(colour.diff_line(scrub(line), on), color=on)
    counts: dict[str, int] = {}
    for o in result.outcomes:
        counts[o.action] = counts.get(o.action, 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing to push"
    folders = f"; folders {'to create' if dry_run else 'created'}: {', '.join(result.folders_created)}" if result.folders_created else ""
    prefix = "dry run, nothing changed: " if dry_run else ""
    typer.echo(f"{prefix}{summary}{folders}; {counters.requests} requests ({counters.writes} writes, "
               f"{counters.retries} retries)")


def next_steps(result, grafana_url: str, backup_dir: Path, root: Path) -> list[str]:
    """After conflicts, what to do about them: see Grafana's change, keep it as code, or
    overwrite it (with where Grafana's copy goes first)."""
    conflicts = sorted((o.env, o.uid) for o in result.outcomes if o.action == "conflict")
    if not conflicts:
        return []
    try:
        backups = backup_dir.relative_to(root.resolve())
    except ValueError:
        backups = backup_dir
    envs = sorted({env for env, _ in conflicts})
    env = envs[0] if len(envs) == 1 else "all"
    url = f"--grafana-url {grafana_url}"
    lines = ["next steps for the conflict(s):",
             f"  see what changed in Grafana:  gen diff {url} --env {env}"]
    for env_name, uid in conflicts:
        lines.append(f"  keep it, as code:             gen pull {url} --env {env_name} --uid {uid} --write")
    lines.append(f"  or overwrite it:              gen push {url} --env {env} --force "
                 f"(Grafana's version is saved under {backups}/ first)")
    return lines


def _backups_guarded(out_dir, options):
    """A push that may save Grafana's versions into out/ (--force or --prune, backups in out/.backup)
    holds out/'s lock, as gen build does: a build that swapped out/ in the meantime would take a
    backup written into the old tree away with it."""
    import contextlib

    from gen import outdir

    writes_backups = (options.force or options.prune) and not options.dry_run
    if writes_backups and options.backup_dir.is_relative_to(out_dir):
        return outdir.locked(out_dir)
    return contextlib.nullcontext()
