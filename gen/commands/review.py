"""`gen review --against REF`: one pull-request report of what a change does, with pictures."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from gen.commands.common import (
    DEFAULT_SETTINGS,
    CaCertOption,
    EnvOption,
    InsecureOption,
    OutOption,
    SettingsOption,
    TimeoutOption,
    out_directory,
    user_errors,
)
from gen.commands.prometheus_options import (
    BasicAuthPasswordFileOption,
    BasicAuthUserOption,
    BearerTokenFileOption,
    ConcurrencyOption,
)


class ReviewFormat(str, Enum):
    markdown = "markdown"
    json = "json"


@user_errors
def review(
    against: Annotated[str, typer.Option("--against", help="The git ref the change is compared with (e.g. origin/main).", show_default=False)],
    prometheus_url: Annotated[Optional[str], typer.Option("--prometheus-url", help="A Prometheus with history: live findings, the backtest of changed alerts, images of changed panels [or env PROMETHEUS_URL].", envvar="PROMETHEUS_URL")] = None,
    env: EnvOption = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where review.md, review.json and images/ go (git-ignored by a .gitignore inside).")] = Path("review"),
    output_format: Annotated[ReviewFormat, typer.Option("--format", help="What is printed: the path of review.md, or the report as JSON.", case_sensitive=False)] = ReviewFormat.markdown,
    range_: Annotated[str, typer.Option("--range", help="How far back the changed alerts are replayed.")] = "7d",
    end: Annotated[Optional[str], typer.Option("--end", help="End of that range: now, Unix seconds or RFC 3339 [default: now].")] = None,
    max_new_firings: Annotated[Optional[int], typer.Option("--max-new-firings", help="Exit 1 when a changed alert would have fired more than this many times more [default: 0 for critical alerts, others not gated].", min=0)] = None,
    bearer_token_file: BearerTokenFileOption = None,
    basic_auth_user: BasicAuthUserOption = None,
    basic_auth_password_file: BasicAuthPasswordFileOption = None,
    ca_cert: CaCertOption = None,
    insecure: InsecureOption = False,
    concurrency: ConcurrencyOption = 4,
    timeout: TimeoutOption = 60.0,
    settings: SettingsOption = DEFAULT_SETTINGS,
    out: OutOption = None,
) -> None:
    """One report of what a change does: dashboards, rules and their backtest, findings, manifests."""
    import shutil
    import tempfile

    from gen.commands.prometheus_options import make_client, parse_duration, parse_time
    from gen.errors import UserError
    from gen.review import markdown
    from gen.review.run import review as run_review
    from gen.secrets import redact_url, scrub
    from gen.settings import load_settings

    loaded = load_settings(settings)
    envs = loaded.select(env)
    out_root = out_directory(loaded, out)
    span = parse_duration(range_, "--range")
    until = parse_time(end, "--end")
    target = out_dir if out_dir.is_absolute() else Path.cwd() / out_dir
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / "review.md").is_file())):
        raise UserError(f"--out-dir {out_dir}: exists and is not a gen review directory (no review.md); choose "
                        "a new or empty one")
    client = None
    if prometheus_url:
        client = make_client(prometheus_url, bearer_token_file, basic_auth_user, basic_auth_password_file, ca_cert,
                             insecure, timeout, retry_unavailable=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside, then swapped in: a failed run leaves the last report whole.
    with tempfile.TemporaryDirectory(prefix=".gen-review-", dir=target.parent) as tmp:
        staging = Path(tmp) / "report"
        staging.mkdir()
        result = run_review(loaded, envs, out_root, against, staging, client,
                            redact_url(prometheus_url) if prometheus_url else None, span, until, concurrency)
        blocking = result.blocking(max_new_firings)
        document = {**result.as_dict(), "blocking": blocking}
        (staging / "review.md").write_text(scrub(markdown.render(result, blocking)), encoding="utf-8")
        (staging / "review.json").write_text(scrub(json.dumps(document, indent=2, ensure_ascii=False)) + "\n",
                                             encoding="utf-8")
        (staging / ".gitignore").write_text("# gen review's output: not part of the repository\n*\n")
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(staging), str(target))
    if output_format == ReviewFormat.json:
        typer.echo(scrub(json.dumps(document, indent=2, ensure_ascii=False)))
    else:
        typer.echo(str(target / "review.md"))
    if blocking:
        raise typer.Exit(1)
