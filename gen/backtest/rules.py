"""The alerting and recording rules of one environment, read from the rendered PrometheusRules in
out/<env>/ (what ships), with each group's evaluation interval."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from gen.backtest.inline import Recording
from gen.errors import UserError
from gen.validate.live import seconds


@dataclass(frozen=True)
class AlertRule:
    name: str
    group: str
    path: str  # relative to out/
    expr: str
    for_s: float
    keep_firing_for_s: float
    interval_s: float
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def object(self) -> str:
        return f"{self.path}: group {self.group}: alert {self.name}"


@dataclass
class RuleSet:
    env: str
    alerts: list[AlertRule] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)


def _duration(value, where: str, field_name: str) -> float:
    if value in (None, "", 0):
        return 0.0
    text = str(value).strip()
    import re

    if not re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", text):
        raise UserError(f"{where}: field {field_name}: {text!r} is not a Prometheus duration")
    return seconds(text)


def load(out_dir: Path, env: str, default_interval_s: float) -> RuleSet:
    import yaml

    env_dir = out_dir / env
    if not env_dir.is_dir():
        raise UserError(f"{env_dir}: no rendered rules for environment {env} (run `gen build`)")
    rules = RuleSet(env)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in sorted(env_dir.glob("prometheusrule-*.yaml")):
        rel = path.relative_to(out_dir).as_posix()
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UserError(f"out/{rel}: not YAML: {' '.join(str(exc).split())}") from None
        for group in (document.get("spec") or {}).get("groups") or []:
            gname = group.get("name", "?")
            where = f"out/{rel}: group {gname}"
            interval = _duration(group.get("interval"), where, "interval") or default_interval_s
            for rule in group.get("rules") or []:
                labels = tuple(sorted((str(k), str(v)) for k, v in (rule.get("labels") or {}).items()))
                if "record" in rule:
                    rules.recordings.append(Recording(rule["record"], str(rule.get("expr", "")), labels, interval))
                elif "alert" in rule:
                    name = rule["alert"]
                    rwhere = f"{where}: alert {name}"
                    if not str(rule.get("expr") or "").strip():
                        raise UserError(f"{rwhere}: field expr is empty")
                    rules.alerts.append(AlertRule(
                        name, gname, rel, str(rule["expr"]), _duration(rule.get("for"), rwhere, "for"),
                        _duration(rule.get("keep_firing_for"), rwhere, "keep_firing_for"), interval, labels))
    return rules


def fingerprint(alert: AlertRule, inlined_expr: str) -> str:
    """What decides an alert's history: the expression as run (recording rules inlined), `for`,
    `keep_firing_for` and the interval. Two refs with the same fingerprint fire identically."""
    data = [inlined_expr, alert.for_s, alert.keep_firing_for_s, alert.interval_s]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]
