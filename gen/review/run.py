"""`gen review`: the parts, run in one pass over the old tree (out/ at REF) and the new one."""

from __future__ import annotations

import tempfile
from pathlib import Path

from gen.review import collect
from gen.review.collect import PanelImages, Review, Timer

PATTERNS = ("*/*.yaml", "grafana/*/*.json")
PANEL_IMAGE = {"w": 24, "h": 8}  # one panel across the image


def review(settings, envs, out_dir: Path, ref: str, report_dir: Path, client=None, shown_url: str | None = None,
           span: float = 7 * 86400, end: float | None = None, concurrency: int = 4) -> Review:
    import time

    from gen.diff.compare import against_ref
    from gen.gitref import materialize

    end = end if end is not None else time.time()
    result = Review(ref, [e.name for e in envs], shown_url, span)
    with tempfile.TemporaryDirectory(prefix="gen-review-") as tmp:
        old_out = Path(tmp) / "out"
        materialize(out_dir, ref, old_out, PATTERNS)
        with Timer(result, "diff"):
            result.dashboards = [d for d in against_ref(settings.root, out_dir, ref, envs) if d.status != "unchanged"]
            for env in envs:
                result.manifests += collect.manifest_changes(env.name, old_out / env.name, out_dir / env.name)
        rulesets = _rules(result, envs, out_dir, old_out)
        with Timer(result, "validate"):
            result.findings, result.size_warnings = collect.static_findings(settings, out_dir, old_out)
        if client is None:
            why = "no --prometheus-url"
            result.not_checked += [
                f"live validation (every query against a server): {why}",
                f"backtest of the changed alerts over {int(span // 86400) or 1}d: {why}" if any(
                    r.kind == "alert" for r in result.rules) else "",
                f"images of the changed panels (drawn from live data): {why}" if result.dashboards else "",
            ]
            result.not_checked = [line for line in result.not_checked if line]
        else:
            _live(result, envs, out_dir, old_out, client, concurrency)
            _backtest(result, rulesets, client, end - span, end, concurrency)
            _images(result, envs, out_dir, old_out, client, report_dir, end, concurrency)
    return result


def _rules(result: Review, envs, out_dir: Path, old_out: Path):
    from gen.backtest import rules

    rulesets = {}
    with Timer(result, "rules"):
        for env in envs:
            new = rules.load(out_dir, env.name, 60.0)
            old = rules.load(old_out, env.name, 60.0) if (old_out / env.name).is_dir() else None
            rulesets[env.name] = (old, new)
            result.rules += collect.rule_changes(env.name, old, new)
    return rulesets


def _live(result: Review, envs, out_dir: Path, old_out: Path, client, concurrency: int) -> None:
    """validate's live checks of both trees: a finding the old tree has too is not this change's."""
    from gen.validate import inventory
    from gen.validate.live import Context, run

    with Timer(result, "validate (live)"):
        now_inv = inventory.load(out_dir)
        old_inv = inventory.load(old_out) if old_out.is_dir() else None
        for env in envs:
            found = run(Context(env, client, now_inv, concurrency=concurrency))
            before = set()
            if old_inv is not None:
                before = {collect.finding_key(f) for f in run(Context(env, client, old_inv, concurrency=concurrency))}
            result.findings += [(f, collect.finding_key(f) not in before) for f in found]
        result.findings.sort(key=lambda item: (not item[1], {"error": 0, "warning": 1}.get(item[0].severity, 2)))


def _backtest(result: Review, rulesets, client, start: float, end: float, concurrency: int) -> None:
    from gen.backtest.history import Decision
    from gen.backtest.run import backtest, client_query

    changed = {(r.env, r.name) for r in result.rules if r.kind == "alert"}
    changed_records = {(r.env, r.name) for r in result.rules if r.kind == "record"}
    if not changed and not changed_records:
        return
    query = client_query(client)
    with Timer(result, "backtest"):
        for env, (old, new) in rulesets.items():
            def only(ruleset):
                # The alerts that changed, and the ones that read a changed recording rule.
                if ruleset is None:
                    return None
                names = {name for e, name in changed if e == env}
                records = {name for e, name in changed_records if e == env}
                keep = [a for a in ruleset.alerts if a.name in names or any(rec in a.expr for rec in records)]
                return type(ruleset)(ruleset.env, keep, ruleset.recordings)

            old_set, new_set = only(old), only(new)
            if not new_set.alerts and not (old_set and old_set.alerts):
                continue
            # Every recorded series inlined: the old rules' records are not what the server runs.
            after = backtest(new_set, query, start, end, concurrency=concurrency, history=frozenset())
            before = backtest(old_set, query, start, end, concurrency=concurrency, history=frozenset()) \
                if old_set else None
            result.firings += collect.firing_changes(env, before, after)


def _images(result: Review, envs, out_dir: Path, old_out: Path, client, report_dir: Path, end: float,
            concurrency: int) -> None:
    import json
    import re

    from gen.preview.run import Session, preview
    from gen.render.grafana_json import iter_panels
    from gen.validate import inventory
    from gen.validate.inventory import Dashboard

    env_by_name = {e.name: e for e in envs}
    new_inv, old_inv = inventory.load(out_dir), inventory.load(old_out)
    sessions = {}
    with Timer(result, "images"):
        for diff in result.dashboards:
            titles = collect.changed_panel_titles(diff)
            if not titles:
                continue
            env = env_by_name[diff.env]
            if diff.env not in sessions:
                sessions[diff.env] = Session(env, client, new_inv)

            def model(inv):
                found = next((d for d in inv.dashboards if d.env == diff.env and d.uid == diff.uid), None)
                return found

            new_d, old_d = model(new_inv), model(old_inv)
            for title in titles:
                sides = {}
                for side, item in (("before", old_d), ("after", new_d)):
                    panel = next((p for p in iter_panels(item.model) if p.get("title") == title
                                  and p.get("type") != "row"), None) if item else None
                    if panel is None:
                        sides[side] = None
                        continue
                    one = json.loads(json.dumps(panel))
                    one["gridPos"] = {"x": 0, "y": 0, **PANEL_IMAGE}
                    single = Dashboard(item.env, item.path, {**item.model, "panels": [one]})
                    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "panel"
                    image = f"images/{diff.env}-{diff.uid}-{slug}.{side}.png"
                    preview(sessions[diff.env], single, end, None, {}, False, concurrency, report_dir, image,
                            f"{side}: {result.ref}" if side == "before" else "after")
                    sides[side] = image
                result.images.append(PanelImages(diff.env, diff.uid, title, sides["before"], sides["after"]))
