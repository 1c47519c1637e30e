"""Build the rule definitions in alerts/ for each environment and render them as PrometheusRules.

For each environment and definition module `alerts/<name>.py`:
  out/<env>/prometheusrule-<name>.yaml   a PrometheusRule with the environment's `release` label,
                                         the only label its Prometheus selects rules by
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gen import definitions
from gen.render import k8s
from gen.errors import UserError
from gen.outdir import Artifact, env_file_owner
from gen.settings import Environment, Settings
from gen.settings.schema import PROM_DURATION, SEVERITIES

PACKAGE = "alerts"
FUNCTION = "rules"

ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")  # CamelCase, as mixtool's lint wants
# level:metric:operations, Prometheus' naming convention for recorded series.
RECORD_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+$")
GROUP_NAME = re.compile(r"^\S(.*\S)?$")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")


@dataclass(frozen=True)
class BuiltRules:
    env: Environment
    name: str  # the definition's module name
    source: str  # the definition file, relative to the project root
    groups: list[dict[str, Any]]  # spec.groups, exactly as rendered

    @property
    def path(self) -> str:
        return f"{self.env.name}/prometheusrule-{self.name}.yaml"

    @property
    def resource_name(self) -> str:
        # The environment in the name: two environments synced into one cluster must not collide.
        return f"{self.name}-rules-{self.env.name}".lower().replace("_", "-")

    def alerts(self) -> list[dict[str, Any]]:
        return [rule for group in self.groups for rule in group["rules"] if "alert" in rule]

    def recordings(self) -> list[dict[str, Any]]:
        return [rule for group in self.groups for rule in group["rules"] if "record" in rule]


def _parses(expr: str, where: str) -> None:
    from gen.promql import parse

    try:
        parse(expr)
    except ValueError as exc:
        message = " ".join(str(exc).split())
        raise UserError(f"{where}: expr: does not parse as PromQL: {message}") from None


def _to_dict(rule: Any, where: str, env: Environment) -> dict[str, Any]:
    kind = type(rule).__name__
    if kind == "Recording":
        if not isinstance(rule.record, str) or not RECORD_NAME.match(rule.record):
            raise UserError(f"{where}: record: {rule.record!r} is not named level:metric:operations")
        _parses(rule.expr, where)
        return {"record": rule.record, "expr": _tidy(rule.expr)}
    if kind == "Alert":
        if not isinstance(rule.name, str) or not ALERT_NAME.match(rule.name):
            raise UserError(f"{where}: alert: {rule.name!r} is not a CamelCase name")
        _parses(rule.expr, where)
        setting = rule.setting
        if not re.match(PROM_DURATION, str(setting.for_)) or len(str(setting.for_)) < 2:
            raise UserError(f"{where}: for: {setting.for_!r} is not a Prometheus duration")
        if setting.severity not in SEVERITIES:
            raise UserError(f"{where}: severity: {setting.severity!r} is not one of {', '.join(SEVERITIES)}")
        annotations = {"summary": rule.summary, "description": rule.description, "runbook_url": rule.runbook_url}
        for key in REQUIRED_ANNOTATIONS:
            if not isinstance(annotations[key], str) or not annotations[key].strip():
                raise UserError(f"{where}: annotations.{key}: missing")
        if not re.match(r"^https?://", rule.runbook_url):
            raise UserError(f"{where}: annotations.runbook_url: {rule.runbook_url!r} is not a URL")
        # What routing needs: the environment, and the severity capped by the environment (dev
        # pages nobody).
        labels = {**dict(rule.labels), "environment": env.name, "severity": env.severity(setting.severity)}
        return {
            "alert": rule.name,
            "expr": _tidy(rule.expr),
            "for": setting.for_,
            "labels": dict(sorted(labels.items())),
            "annotations": annotations,
        }
    raise UserError(f"{where}: {kind} is not a rule (use Recording or Alert from alerts/_rules.py)")


def _tidy(expr: str) -> str:
    # One trailing newline-free block: the YAML stays a clean literal block.
    return "\n".join(line.rstrip() for line in expr.strip().splitlines())


def _build_one(env: Environment, definition: definitions.Definition, groups: Any) -> BuiltRules:
    source = definition.relpath
    base = f"{source}: rules() for environment '{env.name}'"
    if not isinstance(groups, (list, tuple)) or not groups:
        raise UserError(f"{base}: returned {type(groups).__name__}, not a non-empty list of Group")
    rendered = []
    group_names: set[str] = set()
    for group in groups:
        if type(group).__name__ != "Group":
            raise UserError(f"{base}: returned a {type(group).__name__}, not a Group")
        where = f"{base}: group '{group.name}'"
        if not isinstance(group.name, str) or not GROUP_NAME.match(group.name):
            raise UserError(f"{base}: group name {group.name!r} is empty or has surrounding spaces")
        if group.name in group_names:
            raise UserError(f"{where}: name: the group name is used twice")
        group_names.add(group.name)
        if not group.rules:
            raise UserError(f"{where}: rules: the group has no rules")
        rules = []
        for rule in group.rules:
            name = getattr(rule, "name", None) or getattr(rule, "record", None) or "?"
            label = "alert" if type(rule).__name__ == "Alert" else "recording rule"
            rules.append(_to_dict(rule, f"{source}: {label} '{name}' (environment '{env.name}')", env))
        entry: dict[str, Any] = {"name": group.name}
        if group.interval:
            if not re.match(PROM_DURATION, group.interval):
                raise UserError(f"{where}: interval: {group.interval!r} is not a Prometheus duration")
            entry["interval"] = group.interval
        entry["rules"] = rules
        rendered.append(entry)
    return BuiltRules(env=env, name=definition.name, source=source, groups=rendered)


def _check_unique_alerts(built: list[BuiltRules]) -> None:
    """Alerts are unique per environment by name and labels: Alertmanager routes, inhibits and
    silences by them. One name may have several rules when their labels differ (the burn-rate
    alert's fast and slow variants)."""
    by_env: dict[str, dict[tuple, BuiltRules]] = {}
    for item in built:
        seen = by_env.setdefault(item.env.name, {})
        keys_here: set[tuple] = set()
        for rule in item.alerts():
            name = rule["alert"]
            key = (name, tuple(sorted((k, v) for k, v in rule["labels"].items() if k != "severity")))
            other = seen.get(key)
            if key in keys_here or (other is not None and other is not item):
                also = "in the same file" if key in keys_here else f"also in {other.source}"
                raise UserError(
                    f"{item.source}: alert '{name}' (environment '{item.env.name}'): alert: duplicate name ({also})"
                )
            keys_here.add(key)
            seen[key] = item


def build_rules(settings: Settings, envs: list[Environment] | None = None) -> list[BuiltRules]:
    envs = list(settings.environments.values()) if envs is None else envs
    defs = definitions.load(settings.root, PACKAGE, FUNCTION)
    built = []
    for env in envs:
        for definition in defs:
            groups = definitions.call(definition, FUNCTION, env, context=f"environment '{env.name}'")
            built.append(_build_one(env, definition, groups))
    _check_unique_alerts(built)
    return built


def prometheus_rule(item: BuiltRules) -> dict[str, Any]:
    env = item.env
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": k8s.selected_by_prometheus(
            item.resource_name, env.monitoring_namespace, env.prometheus_release, env.name
        ),
        "spec": {"groups": item.groups},
    }


def rules_file(item: BuiltRules) -> dict[str, Any]:
    """The same groups as a plain Prometheus rules file (promtool, a Prometheus without the operator)."""
    return {"groups": item.groups}


def render_all(settings: Settings, envs: list[Environment]) -> list[Artifact]:
    return [
        Artifact(item.path, k8s.manifest(prometheus_rule(item)).encode("utf-8"))
        for item in build_rules(settings, envs)
    ]


owns = env_file_owner("prometheusrule-")
