"""What the checks share: the environment, the clients for each source, and the facts earlier
checks found (the models Triton serves, the metrics it exposes, the scrape interval), so that a
later step can explain its own result by an earlier one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen.settings import Environment, Settings


@dataclass(frozen=True)
class Options:
    triton_url: str | None = None
    metrics_url: str | None = None
    prometheus_url: str | None = None
    grafana_url: str | None = None
    kube_context: str | None = None
    prometheus_cr: Path | None = None
    datasource: str | None = None  # a Grafana datasource uid or name; default: the dashboards' own
    load: bool = False
    infer: bool = False
    write_queue_caps: bool = False  # write the caps read from Triton into the settings' queue_caps_file
    timeout: float = 5.0


@dataclass
class Facts:
    """Filled in as the checks run; every field starts unknown."""

    triton_version: str | None = None
    pods: list[str] | None = None  # Triton's pods as Kubernetes lists them, when it was asked
    ready_models: list[str] = field(default_factory=list)
    model_metadata: dict[str, dict] = field(default_factory=dict)
    inferred: dict[str, bool] = field(default_factory=dict)  # model -> the doctor's inference succeeded
    metrics: dict[str, list[tuple[dict[str, str], float]]] | None = None  # family -> samples
    scrape_s: float | None = None
    grafana_datasource: dict | None = None
    grafana_models: list[dict] | None = None  # the dashboards as Grafana holds them


@dataclass
class Context:
    settings: Settings
    env: Environment
    out_dir: Path
    options: Options
    triton: Any = None  # gen.doctor.triton.TritonClient
    prometheus: Any = None  # gen.validate.client.PrometheusClient
    grafana: Any = None  # gen.push.client.GrafanaClient
    grafana_credentials: Any = None  # gen.push.client.Credentials, for queries through its proxy
    kubectl: Any = None  # gen.doctor.kubernetes.Kubectl
    kubectl_reason: str = ""  # why there is no kubectl, or which context is used
    facts: Facts = field(default_factory=Facts)
    _inventory: Any = None

    @property
    def ns(self) -> str:
        return self.env.namespace

    @property
    def inventory(self):
        """out/ as the validate checks see it (dashboards, queries, rules), read once."""
        if self._inventory is None:
            from gen.validate import inventory

            self._inventory = inventory.load(self.out_dir)
        return self._inventory

    def scrape_seconds(self) -> float:
        """What Prometheus reported for Triton's targets, else the settings' value."""
        if self.facts.scrape_s:
            return self.facts.scrape_s
        from gen.validate.live import seconds

        return seconds(self.env.scrape_interval)
