"""`gen alerts backtest`: how often each alerting rule of an environment would have fired."""

from __future__ import annotations

import sys
from enum import Enum
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
    is_terminal,
    out_directory,
    user_errors,
)
from gen.commands.prometheus_options import (
    BasicAuthPasswordFileOption,
    BasicAuthUserOption,
    BearerTokenFileOption,
    ConcurrencyOption,
    PrometheusUrlOption,
)


class Inline(str, Enum):
    changed = "changed"
    all = "all"


@user_errors
def backtest(
    prometheus_url: PrometheusUrlOption,
    env: EnvOption = None,
    range_: Annotated[str, typer.Option("--range", help="How far back to replay (e.g. 24h, 7d).")] = "7d",
    end: Annotated[Optional[str], typer.Option("--end", help="End of the range: now, Unix seconds or RFC 3339 [default: now].")] = None,
    against: Annotated[Optional[str], typer.Option("--against", help="Also backtest the rules committed at this git ref; show the alerts that changed, old → new.")] = None,
    output_format: FormatOption = Format.table,
    evaluation_interval: Annotated[str, typer.Option("--evaluation-interval", help="Interval of rule groups that set none (Prometheus' global evaluation_interval).")] = "1m",
    concurrency: ConcurrencyOption = 4,
    inline: Annotated[Inline, typer.Option(
        "--inline", help="changed: inline only the recording rules the server does not run as defined here (new, "
        "changed, or missing from history) and read the others as recorded; all: inline every recording rule.",
        case_sensitive=False)] = Inline.changed,
    screen: Annotated[bool, typer.Option(
        "--screen/--no-screen", help="Screen each alert every `for` with a cheaper condition and replay every "
        "evaluation only around where it held (the same answer, much faster); --no-screen evaluates every one.")] = True,
    max_points: Annotated[int, typer.Option("--max-points", help="Evaluations per range query; longer ranges are split into chunks.", min=1, max=11000)] = 11000,
    bearer_token_file: BearerTokenFileOption = None,
    basic_auth_user: BasicAuthUserOption = None,
    basic_auth_password_file: BasicAuthPasswordFileOption = None,
    ca_cert: CaCertOption = None,
    insecure: InsecureOption = False,
    timeout: TimeoutOption = 60.0,
    settings: SettingsOption = DEFAULT_SETTINGS,
    out: OutOption = None,
) -> None:
    """Replay each alerting rule over past data: firings, firing time, first/last, series."""
    import tempfile

    from gen.backtest import coverage, history, report, rules
    from gen.backtest.run import backtest as run_backtest
    from gen.backtest.run import client_query
    from gen.commands.prometheus_options import make_client, parse_duration, parse_time
    from gen.gitref import materialize
    from gen.secrets import redact_url
    from gen.settings import load_settings

    loaded = load_settings(settings)
    envs = loaded.select(env)
    out_dir = out_directory(loaded, out)
    span = parse_duration(range_, "--range")
    until = parse_time(end, "--end")
    default_interval = parse_duration(evaluation_interval, "--evaluation-interval")
    client = make_client(prometheus_url, bearer_token_file, basic_auth_user, basic_auth_password_file, ca_cert,
                         insecure, timeout, retry_unavailable=False)
    query = client_query(client)
    show = is_terminal() and output_format == Format.table

    def progress_for(label: str):
        if not show:
            return None

        def progress(done: int, total: int) -> None:
            sys.stderr.write(f"\r{label}: {done}/{total} range queries")
            sys.stderr.flush()
        return progress

    server_groups: list[dict] | None = None
    if inline == Inline.changed:
        from gen.validate.client import QueryError

        try:
            server_groups = client.rules()
        except QueryError:
            server_groups = None  # VictoriaMetrics without vmalert, a proxy: inline everything

    def run(ruleset, label, covered):
        # No history at all: nothing to replay, but each alert still runs over the last minute, so
        # a query the server refuses is reported; what it would fire on no data is not.
        begin = covered.start if covered.first_sample is not None else until - 60
        if inline == Inline.all:
            decision = history.Decision(reasons={r.name: "--inline all" for r in ruleset.recordings})
        else:
            decision = history.decide(ruleset.recordings, server_groups, client.query_at, begin, until,
                                      concurrency)
        result = run_backtest(ruleset, query, begin, until, max_points, concurrency, progress_for(label),
                              history=decision.history, screen=screen)
        if covered.first_sample is None:
            for alert in result.alerts:
                alert.firings = []
            result.start = until
        result.recorded = decision
        result.coverage = covered
        if show:
            sys.stderr.write("\r\033[K")
        return result

    documents, texts, failed = [], [], False
    with tempfile.TemporaryDirectory(prefix="gen-backtest-") as tmp:
        old_out = None
        if against:
            old_out = Path(tmp) / "out"
            materialize(out_dir, against, old_out, ("*/prometheusrule-*.yaml",))
        for environment in envs:
            covered = coverage.history_start(query, environment.namespace, until - span, until)
            now = run(rules.load(out_dir, environment.name, default_interval), environment.name, covered)
            failed |= any(a.error for a in now.alerts)
            document = report.as_dict(now)
            text = report.table(now)
            if old_out is not None:
                if (old_out / environment.name).is_dir():
                    before = run(rules.load(old_out, environment.name, default_interval),
                                 f"{environment.name}@{against}", covered)
                else:
                    before = type(now)(environment.name, now.start, now.end, [])
                found = report.changes(before, now)
                document["against"] = report.changes_dict(against, found)
                document["queries"] += before.queries
                text += "\n" + report.compare_table(against, found, len(now.alerts))
            documents.append(document)
            texts.append(text)
    if output_format == Format.json:
        typer.echo(report.as_json({"prometheus_url": redact_url(prometheus_url), "range_seconds": span,
                                   "environments": documents}))
    else:
        typer.echo("\n\n".join(texts))
    if failed:
        raise typer.Exit(1)
