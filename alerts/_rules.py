"""Building blocks for rule definitions: plain data that gen turns into a PrometheusRule.

A definition module in alerts/ has a function `rules(env) -> list[Group]`. Thresholds, `for`
durations and severities come from `env.thresholds` (environments.yaml), never from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gen.settings import AlertSetting, Environment


@dataclass(frozen=True)
class Recording:
    """A recording rule, named level:metric:operations."""

    record: str
    expr: str


@dataclass(frozen=True)
class Alert:
    name: str  # CamelCase, unique across the environment
    expr: str
    setting: AlertSetting  # for, severity (and the threshold already used in expr)
    summary: str
    description: str
    runbook_url: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Group:
    name: str
    rules: list[Recording | Alert]
    interval: str | None = None


def selector(env: Environment, **matchers: str) -> str:
    """A label selector for the environment's namespace plus exact matchers, in a fixed order."""
    pairs = {"namespace": env.namespace, **matchers}
    return "{" + ", ".join(f'{key}="{value}"' for key, value in pairs.items()) + "}"


def runbook(env: Environment, alert_name: str) -> str:
    # GitHub and GitLab both make a heading's anchor its lower-cased text.
    return f"{env.runbooks_url}#{alert_name.lower()}"


def number(value: float) -> str:
    """A threshold as PromQL writes it: 0.05, 250000, never 2.5e+05 or 100.0."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def by(env: Environment, *labels: str) -> str:
    """The labels rules aggregate and match by: the cluster label first when the environment has
    one (a Prometheus holding a fleet), then the namespace, then `labels`."""
    cluster = [env.cluster_label] if env.cluster_label else []
    return ", ".join([*cluster, "namespace", *labels])


def where(env: Environment) -> str:
    """Where an alert is, for its texts: the namespace, prefixed by the cluster on a fleet."""
    if env.cluster_label:
        return f"{{{{ $labels.{env.cluster_label} }}}}/{{{{ $labels.namespace }}}}"
    return "{{ $labels.namespace }}"


def model_regex(names: list[str]) -> str:
    """Model names as one RE2 alternative inside a PromQL string: regex metacharacters escaped,
    and every backslash doubled for the string literal."""
    escaped = [re.sub(r"([.+*?()\[\]{}^$|\\])", r"\\\1", name) for name in sorted(names)]
    return "|".join(escaped).replace("\\", "\\\\")


DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    """A Prometheus duration (1h30m) in seconds."""
    return sum(int(n) * DURATION_UNITS[unit] for n, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration))
