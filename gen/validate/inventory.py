"""What out/ holds, as the checks see it: dashboards, their variables and panel queries, and rules.

Everything is read from out/ (what ships), not from the definitions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from gen.errors import UserError
from gen.promql import label_values
from gen.render.grafana_json import iter_panels


@dataclass(frozen=True)
class Dashboard:
    env: str
    path: str  # relative to out/
    model: dict[str, Any]

    @property
    def uid(self) -> str:
        return self.model.get("uid", "?")

    def variables(self) -> list[dict[str, Any]]:
        return list((self.model.get("templating") or {}).get("list") or [])

    def annotations(self) -> list[dict[str, Any]]:
        """Annotation queries run against the data source (not Grafana's built-in one)."""
        return [a for a in (self.model.get("annotations") or {}).get("list") or []
                if not a.get("builtIn") and a.get("expr")]

    def panels(self) -> Iterator[dict[str, Any]]:
        return iter_panels(self.model)


@dataclass(frozen=True)
class Rule:
    env: str
    path: str
    group: str
    rule: dict[str, Any]
    interval: str | None = None  # the group's own evaluation interval, when it has one

    @property
    def name(self) -> str:
        return self.rule.get("alert") or self.rule.get("record") or "?"

    @property
    def is_alert(self) -> bool:
        return "alert" in self.rule

    @property
    def object(self) -> str:
        kind = "alert" if self.is_alert else "record"
        return f"{self.env}: {kind} {self.name}"


@dataclass(frozen=True)
class Query:
    """One PromQL query the dashboards or rules run."""

    env: str
    kind: str  # panel | variable | annotation | alert | record
    object: str  # for messages: "triton-dev / panel 'RPS' / A"
    expr: str
    instant: bool = False
    label: str = ""  # variables: the label whose values label_values() asks for


@dataclass
class Inventory:
    out_dir: Path
    dashboards: list[Dashboard] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)

    def envs(self) -> list[str]:
        return sorted({d.env for d in self.dashboards} | {r.env for r in self.rules})

    def slow_records(self, env: str | None = None) -> dict[str, str]:
        """Recorded series of groups with their own (longer) interval -> that interval: a
        Prometheus evaluates them first up to one interval after it starts."""
        return {r.rule["record"]: r.interval for r in self.rules
                if not r.is_alert and r.interval and env in (None, r.env)}

    def records(self, env: str | None = None) -> dict[str, str]:
        """Recorded series name -> expression, for one environment or all."""
        return {r.rule["record"]: r.rule["expr"] for r in self.rules if not r.is_alert and env in (None, r.env)}

    def queries(self, env: str | None = None) -> list[Query]:
        found: list[Query] = []
        for dashboard in self.dashboards:
            if env not in (None, dashboard.env):
                continue
            for variable in dashboard.variables():
                if variable.get("type") != "query":
                    continue
                query = variable.get("query")
                if isinstance(query, dict):
                    query = query.get("query", "")
                selector, label = label_values(str(query or ""))
                found.append(Query(dashboard.env, "variable", f"{dashboard.uid} / variable ${variable.get('name')}",
                                   selector, label=label))
            for annotation in dashboard.annotations():
                found.append(Query(dashboard.env, "annotation",
                                   f"{dashboard.uid} / annotation '{annotation.get('name', '?')}'",
                                   annotation["expr"]))
            for panel in dashboard.panels():
                for target in panel.get("targets") or []:
                    if target.get("expr"):
                        found.append(Query(
                            dashboard.env, "panel",
                            f"{dashboard.uid} / panel '{panel.get('title', '?')}' / {target.get('refId', '?')}",
                            target["expr"], instant=bool(target.get("instant")),
                        ))
        for rule in self.rules:
            if env in (None, rule.env):
                found.append(Query(rule.env, "alert" if rule.is_alert else "record", rule.object, rule.rule["expr"]))
        return found


def load(out_dir: Path) -> Inventory:
    import yaml

    if not out_dir.is_dir():
        raise UserError(f"{out_dir}: no out/ directory (run `gen build` first)")
    inventory = Inventory(out_dir)
    for path in sorted(out_dir.glob("grafana/*/*.json")):
        rel = path.relative_to(out_dir).as_posix()
        try:
            model = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"out/{rel}: not a dashboard JSON: {exc}") from None
        if not isinstance(model, dict):
            raise UserError(f"out/{rel}: not a dashboard JSON: the top level is not an object")
        inventory.dashboards.append(Dashboard(path.parent.name, rel, model))
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in sorted(out_dir.glob("*/prometheusrule-*.yaml")):
        rel = path.relative_to(out_dir).as_posix()
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        except (OSError, yaml.YAMLError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            raise UserError(f"out/{rel}: not YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
        spec = document.get("spec") if isinstance(document, dict) else None
        groups = spec.get("groups") if isinstance(spec, dict) else None
        if not isinstance(groups, list) or not all(
                isinstance(g, dict) and isinstance(g.get("rules"), list) and all(isinstance(r, dict) for r in g["rules"])
                for g in groups):
            raise UserError(f"out/{rel}: not a PrometheusRule: spec.groups must be a list of groups with rules "
                            "(run `gen build` to regenerate it)")
        for group in groups:
            for rule in group["rules"]:
                inventory.rules.append(Rule(path.parent.name, rel, str(group.get("name", "?")), rule,
                                            group.get("interval")))
    return inventory
