"""What a change does, gathered from the parts that already say it: `gen diff --against`'s
semantic comparison, the rules of both trees, `gen alerts backtest` of both rule sets, `gen
validate` of both trees (new findings first), and the Kubernetes objects of out/. Each part that
needs a Prometheus and has none is listed as not checked, with why."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen.findings import ERROR, Finding

# The changes worth a picture: what a panel shows, not where it sits (a panel added above moves
# every panel below it).
PANEL_CHANGE_KINDS = {"panel-added", "panel-renamed", "query-changed", "query-added", "query-removed", "unit-changed",
                      "thresholds-changed", "panel-changed"}


@dataclass
class RuleChange:
    env: str
    kind: str  # alert | record
    name: str
    severity: str
    status: str  # added | removed | changed
    old_expr: str = ""
    new_expr: str = ""
    detail: str = ""


@dataclass
class FiringChange:
    env: str
    name: str
    severity: str
    before: tuple[int, float, float] | None  # firings, total seconds, longest seconds
    after: tuple[int, float, float] | None

    @property
    def more(self) -> int:
        return (self.after[0] if self.after else 0) - (self.before[0] if self.before else 0)


@dataclass
class ManifestChange:
    env: str
    kind: str
    name: str
    status: str  # added | removed | changed


@dataclass
class PanelImages:
    env: str
    uid: str
    title: str
    before: str | None  # relative to the report's directory
    after: str | None


@dataclass
class Review:
    ref: str
    envs: list[str]
    prometheus: str | None
    range_s: float
    dashboards: list = field(default_factory=list)  # gen.diff.compare.DashboardDiff, changed ones
    images: list[PanelImages] = field(default_factory=list)
    rules: list[RuleChange] = field(default_factory=list)
    firings: list[FiringChange] = field(default_factory=list)
    findings: list[tuple[Finding, bool]] = field(default_factory=list)  # (finding, new in this change)
    manifests: list[ManifestChange] = field(default_factory=list)
    size_warnings: list[Finding] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def blocking(self, max_new_firings: int | None) -> list[str]:
        """Why the change should not ship as it is (exit 1), in words."""
        reasons = [f"{f.severity} finding: {f.object}: {f.message}" for f, _ in self.findings if f.severity == ERROR]
        for change in self.firings:
            limit = max_new_firings if max_new_firings is not None else (0 if change.severity == "critical" else None)
            if limit is not None and change.more > limit:
                reasons.append(f"{change.name} ({change.severity}, {change.env}) would have fired {change.more} "
                               f"more time(s) over the range (at most {limit})")
        return reasons

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "against": self.ref, "environments": self.envs, "prometheus_url": self.prometheus,
            "range_seconds": self.range_s,
            "dashboards": [d.as_dict() for d in self.dashboards],
            "images": [asdict(i) for i in self.images],
            "rules": [asdict(r) for r in self.rules],
            "firings": [{**asdict(f), "more": f.more} for f in self.firings],
            "findings": [{**f.as_dict(), "new": new} for f, new in self.findings],
            "manifests": [asdict(m) for m in self.manifests],
            "size_warnings": [f.as_dict() for f in self.size_warnings],
            "not_checked": self.not_checked, "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


class Timer:
    def __init__(self, review: Review, part: str):
        self.review, self.part = review, part

    def __enter__(self):
        self.started = time.monotonic()

    def __exit__(self, *exc):
        self.review.seconds[self.part] = self.review.seconds.get(self.part, 0.0) + time.monotonic() - self.started


# -- rules ------------------------------------------------------------------------------------------

def _severity(labels) -> str:
    return dict(labels).get("severity", "")


def rule_changes(env: str, old, new) -> list[RuleChange]:
    """Alerts keyed by name and severity (a page and a ticket can share a name), recordings by name."""
    found: list[RuleChange] = []
    old_alerts = {(a.name, _severity(a.labels)): a for a in old.alerts} if old else {}
    new_alerts = {(a.name, _severity(a.labels)): a for a in new.alerts}
    for key in sorted(set(old_alerts) | set(new_alerts)):
        a, b = old_alerts.get(key), new_alerts.get(key)
        if a is None:
            found.append(RuleChange(env, "alert", key[0], key[1], "added", new_expr=b.expr))
        elif b is None:
            found.append(RuleChange(env, "alert", key[0], key[1], "removed", old_expr=a.expr))
        else:
            details = []
            if a.expr != b.expr:
                details.append("expression")
            if a.for_s != b.for_s:
                details.append(f"for {a.for_s:g}s → {b.for_s:g}s")
            if dict(a.labels) != dict(b.labels):
                details.append("labels")
            if details:
                found.append(RuleChange(env, "alert", key[0], key[1], "changed", a.expr, b.expr, ", ".join(details)))
    old_records = {r.name: r for r in old.recordings} if old else {}
    new_records = {r.name: r for r in new.recordings}
    for name in sorted(set(old_records) | set(new_records)):
        a, b = old_records.get(name), new_records.get(name)
        if a is None or b is None or a.expr != b.expr:
            status = "added" if a is None else ("removed" if b is None else "changed")
            found.append(RuleChange(env, "record", name, "", status, a.expr if a else "", b.expr if b else ""))
    return found


def firing_changes(env: str, before, after) -> list[FiringChange]:
    """Per alert (name, severity) whose rule changed: its firings before and after."""
    def summary(result):
        if result is None or result.error:
            return None
        return (result.count, result.total_s, result.longest_s)

    old = {(a.name, _severity(a.rule.labels)): a for a in before.alerts} if before else {}
    new = {(a.name, _severity(a.rule.labels)): a for a in after.alerts}
    found = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is not None and b is not None and a.fingerprint == b.fingerprint:
            continue
        found.append(FiringChange(env, key[0], key[1], summary(a), summary(b)))
    return found


# -- manifests ------------------------------------------------------------------------------------

def _objects(directory: Path) -> dict[tuple[str, str], str]:
    import yaml

    found = {}
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(document, dict) or not document.get("kind"):
                continue
            meta = document.get("metadata") or {}
            name = "/".join(x for x in (meta.get("namespace"), meta.get("name")) if x)
            found[(str(document["kind"]), name)] = json.dumps(document, sort_keys=True)
    return found


def manifest_changes(env: str, old_dir: Path | None, new_dir: Path) -> list[ManifestChange]:
    old = _objects(old_dir) if old_dir and old_dir.is_dir() else {}
    new = _objects(new_dir) if new_dir.is_dir() else {}
    changes = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            changes.append(ManifestChange(env, key[0], key[1], "added"))
        elif key not in new:
            changes.append(ManifestChange(env, key[0], key[1], "removed"))
        elif old[key] != new[key]:
            changes.append(ManifestChange(env, key[0], key[1], "changed"))
    return changes


# -- findings -------------------------------------------------------------------------------------

def finding_key(finding: Finding) -> tuple[str, str, str]:
    return (finding.check, finding.object, finding.message)


def static_findings(settings, out_dir: Path, old_out: Path | None) -> tuple[list[tuple[Finding, bool]], list[Finding]]:
    """validate's offline checks of the new tree, each marked new when the old tree lacks it, new
    first; and the size warnings of the manifests."""
    from gen.validate import inventory, static

    now = static.run(inventory.load(out_dir), settings)
    before = {finding_key(f) for f in static.run(inventory.load(old_out), settings)} if old_out and old_out.is_dir() else set()
    marked = [(f, finding_key(f) not in before) for f in now]
    marked.sort(key=lambda item: (not item[1], {"error": 0, "warning": 1}.get(item[0].severity, 2)))
    sizes = [f for f in now if f.check == "manifests" and ("bytes" in f.message or "size" in f.message)]
    return marked, sizes


def changed_panel_titles(diff) -> list[str]:
    """The titles of the panels a dashboard's changes touch, in order."""
    import re

    titles = []
    for change in diff.changes:
        if change.kind not in PANEL_CHANGE_KINDS:
            continue
        found = re.match(r"panel '(.*)'(?: \(row .*\))?$", change.where)
        if found and found.group(1) not in titles:
            titles.append(found.group(1))
    return titles
