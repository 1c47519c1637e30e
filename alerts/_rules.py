"""Building blocks for rule definitions: plain data that gen turns into a PrometheusRule.

A definition module in alerts/ has a function `rules(env) -> list[Group]`. Thresholds, `for`
durations and severities come from `env.thresholds` (environments.yaml), never from here.
"""

from __future__ import annotations

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
