"""The ServiceMonitor that makes each environment's Prometheus scrape Triton's metrics port.

  out/<env>/servicemonitor-triton.yaml

Prometheus (through the operator) picks it only with the environment's `release` label; it
selects the Triton Service by the labels in environments.yaml, in the Triton namespace only.
The operator adds `namespace`, `pod` and `service` to every series; the relabeling sets `job`
to a fixed value so that rules can find Triton's targets whatever the Service is called.
"""

from __future__ import annotations

from typing import Any

from gen.render import k8s
from gen.outdir import Artifact, env_file_owner
from gen.settings import Environment, Settings

NAME = "triton"


def service_monitor(env: Environment) -> dict[str, Any]:
    triton = env.triton
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        # The environment in the name: two environments synced into one cluster must not collide.
        "metadata": k8s.selected_by_prometheus(
            f"{NAME}-{env.name}", env.monitoring_namespace, env.prometheus_release, env.name
        ),
        "spec": {
            "namespaceSelector": {"matchNames": [env.namespace]},
            "selector": {"matchLabels": dict(triton.service_labels)},
            "endpoints": [
                {
                    "port": triton.metrics_port,
                    "path": triton.metrics_path,
                    "interval": env.scrape_interval,
                    "relabelings": [
                        {"action": "replace", "targetLabel": "job", "replacement": triton.job},
                    ],
                }
            ],
        },
    }


def path(env: Environment) -> str:
    return f"{env.name}/servicemonitor-{NAME}.yaml"


def render_all(settings: Settings, envs: list[Environment]) -> list[Artifact]:
    return [Artifact(path(env), k8s.manifest(service_monitor(env)).encode("utf-8")) for env in envs]


owns = env_file_owner("servicemonitor-")
