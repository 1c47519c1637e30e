"""`gen preview`: each dashboard drawn from live data into a PNG, and an HTML page holding them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

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
from gen.commands.prometheus_options import (
    BasicAuthPasswordFileOption,
    BasicAuthUserOption,
    BearerTokenFileOption,
    ConcurrencyOption,
    PrometheusUrlOption,
)


def _overrides(pairs: list[str]) -> dict[str, list[str]]:
    import re

    from gen.errors import UserError

    found: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise UserError(f"--var {pair}: expected NAME=VALUE (e.g. --var model=simple_model)")
        found.setdefault(name, []).append(value)
    return found


@user_errors
def preview(
    prometheus_url: PrometheusUrlOption,
    env: EnvOption = None,
    dashboard: Annotated[Optional[str], typer.Option("--dashboard", help="One dashboard by uid, title or file name [default: all].")] = None,
    range_: Annotated[Optional[str], typer.Option("--range", help="Time range to show, e.g. 6h [default: the dashboard's own].")] = None,
    end: Annotated[Optional[str], typer.Option("--end", help="End of the range: now, Unix seconds or RFC 3339 [default: now].")] = None,
    var: Annotated[Optional[List[str]], typer.Option("--var", help="A variable's value, NAME=VALUE; repeat for several values [default: All].")] = None,
    expand: Annotated[bool, typer.Option("--expand", help="Open collapsed rows.")] = False,
    against: Annotated[Optional[str], typer.Option("--against", help="Also draw the dashboards committed at this git ref, side by side, for the dashboards that changed.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory for the images and index.html.")] = Path("preview"),
    output_format: FormatOption = Format.table,
    concurrency: ConcurrencyOption = 8,
    bearer_token_file: BearerTokenFileOption = None,
    basic_auth_user: BasicAuthUserOption = None,
    basic_auth_password_file: BasicAuthPasswordFileOption = None,
    ca_cert: CaCertOption = None,
    insecure: InsecureOption = False,
    timeout: TimeoutOption = 30.0,
    settings: SettingsOption = DEFAULT_SETTINGS,
) -> None:
    """Draw dashboards from live data into PNGs and an HTML page (no Grafana needed)."""
    import json
    import shutil
    import tempfile

    from gen.errors import UserError
    from gen.commands.prometheus_options import make_client, parse_duration, parse_time
    from gen.secrets import redact_url
    from gen.gitref import materialize
    from gen.preview import html
    from gen.preview.run import Session, canonical, preview as draw, select
    from gen.settings import load_settings
    from gen.validate import inventory as inventory_mod

    loaded = load_settings(settings)
    envs = {e.name: e for e in loaded.select(env)}
    out_root = (loaded.root / "out").resolve()
    overrides = _overrides(var or [])
    span = parse_duration(range_, "--range") if range_ else None
    until = parse_time(end, "--end")
    now_inventory = inventory_mod.load(out_root)
    current = select(now_inventory, set(envs), dashboard)
    client = make_client(prometheus_url, bearer_token_file, basic_auth_user, basic_auth_password_file, ca_cert,
                         insecure, timeout)
    out = out.resolve()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "preview.json").is_file())):
        raise UserError(f"--out {out}: exists and is not a gen preview directory (no preview.json); "
                        "choose a new or empty directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"prometheus_url": redact_url(prometheus_url), "against": against, "dashboards": [],
                      "unchanged": []}
    sessions: dict[str, Session] = {}

    def session(name: str, inventory) -> Session:
        if name not in sessions:
            sessions[name] = Session(envs[name], client, inventory)
        return sessions[name]

    failed = False
    drawn_all: list = []
    with tempfile.TemporaryDirectory(prefix=".gen-preview-", dir=out.parent) as tmp:
        staging = Path(tmp) / "site"
        pairs = [(None, d) for d in current]
        if against:
            ref_out = Path(tmp) / "ref-out"
            materialize(out_root, against, ref_out, ("grafana/*/*.json",))
            old_inventory = inventory_mod.load(ref_out) if ref_out.is_dir() else inventory_mod.Inventory(ref_out)
            old = {(d.env, d.uid): d for d in old_inventory.dashboards if d.env in envs}
            if dashboard:
                old = {k: d for k, d in old.items() if dashboard in (d.uid, d.model.get("title"), Path(d.path).stem)
                       or d.uid == f"{dashboard}-{d.env}"}
            new = {(d.env, d.uid): d for d in current}
            pairs = []
            for key in sorted(set(old) | set(new)):
                before, after = old.get(key), new.get(key)
                if before and after and canonical(before.model) == canonical(after.model):
                    manifest["unchanged"].append(after.uid)
                    continue
                pairs.append((before, after))
        for before, after in pairs:
            entry = {}
            for side, item in (("before", before), ("after", after)):
                if item is None:
                    entry[side] = None
                    continue
                image = f"{item.env}/{item.uid}{'.before' if side == 'before' else ''}.png"
                label = f"before: {against}" if side == "before" else ("after" if against else "")
                shown = draw(session(item.env, now_inventory), item, until, span, overrides, expand, concurrency,
                             staging, image, label)
                entry[side] = shown.as_dict()
                failed |= any(p.data.status == "error" for p in shown.panels)
                drawn_all.append((image, shown))
            manifest["dashboards"].append(entry)
        # Every panel No data is one problem (no Triton target, a wrong URL), said once: exit 1.
        panels = [p for _, shown in drawn_all for p in shown.panels]
        all_empty = bool(panels) and all(p.data.status == "no data" for p in panels)
        failed |= all_empty
        if output_format == Format.table:
            for image, shown in drawn_all:
                counts: dict[str, int] = {}
                for p in shown.panels:
                    counts[p.data.status] = counts.get(p.data.status, 0) + 1
                summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                typer.echo(f"{out.name}/{image}: {shown.size[0]}x{shown.size[1]}, {len(shown.panels)} panels "
                           f"({summary}), {shown.queries} queries, {shown.seconds:.2f} s")
                for p in shown.panels if not all_empty else ():
                    if p.data.status in ("no data", "error"):
                        typer.echo(f"  {p.placed.panel.get('title', '?')}: {p.data.status}: {p.data.cause}")
            if all_empty:
                causes: dict[str, int] = {}
                for p in panels:
                    causes[p.data.cause] = causes.get(p.data.cause, 0) + 1
                typer.echo(f"every panel ({len(panels)}) is No data: {max(causes, key=causes.get)}", err=True)
        (staging / ".gitignore").write_text("# gen preview's output: not part of the repository\n*\n")
        (staging / "index.html").parent.mkdir(parents=True, exist_ok=True)
        (staging / "index.html").write_text(html.page(manifest), encoding="utf-8")
        (staging / "preview.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(staging), str(out))
    if output_format == Format.json:
        typer.echo(json.dumps(manifest, indent=2, ensure_ascii=False))
    else:
        if against and not manifest["dashboards"]:
            typer.echo(f"no dashboard changed against {against}")
        typer.echo(f"wrote {out / 'index.html'}")
    if failed:
        raise typer.Exit(1)
