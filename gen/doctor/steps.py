"""The registry: the steps in checklist order, each with its checks in order. The runner knows
nothing of any check; a check knows nothing of the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from gen.doctor import grafana, kubernetes, metrics, prometheus, triton
from gen.doctor.context import Context
from gen.doctor.result import StepResult, skipped


@dataclass(frozen=True)
class Check:
    id: str
    run: Callable[[Context], list[StepResult]]
    # A gate failing skips the rest of its step: nothing after it can be told apart.
    gate: bool = False


@dataclass(frozen=True)
class Step:
    name: str
    # None when the step can run, else why it is skipped (and what to pass to run it).
    unavailable: Callable[[Context], str | None]
    checks: tuple[Check, ...]


def _cluster_only(check: Callable[[Context], list[StepResult]], what: str):
    def run(ctx: Context) -> list[StepResult]:
        if ctx.kubectl is None:
            return [skipped(what, "offline (--prometheus-cr): needs kubectl and a context")]
        return check(ctx)

    return run


def _kubernetes_unavailable(ctx: Context) -> str | None:
    # Found here, so that looking for kubectl and its context counts in the step's time.
    if ctx.kubectl is None and not ctx.kubectl_reason and (ctx.options.prometheus_cr is None
                                                           or ctx.options.kube_context):
        ctx.kubectl, ctx.kubectl_reason = kubernetes.discover(ctx.options.kube_context, ctx.options.timeout)
    if ctx.kubectl is None and ctx.options.prometheus_cr is None:
        return (f"{ctx.kubectl_reason or 'no kubectl'}; or pass --prometheus-cr FILE to check the Prometheus "
                "selectors offline")
    return None


STEPS: tuple[Step, ...] = (
    Step("kubernetes", _kubernetes_unavailable, (
        Check("k8s-namespace", _cluster_only(kubernetes.check_namespace, "namespace"), gate=True),
        Check("k8s-pods", _cluster_only(kubernetes.check_pods, "Triton pods")),
        Check("k8s-service-port", _cluster_only(kubernetes.check_service_port, "Triton Service")),
        Check("k8s-prometheus-selectors", kubernetes.check_prometheus_selectors),
        Check("k8s-dashboard-configmap", _cluster_only(kubernetes.check_dashboard_configmap, "dashboard ConfigMap")),
    )),
    Step("triton", lambda ctx: None if ctx.triton else "no --triton-url (Triton's HTTP port, 8000)", (
        Check("triton-ready", triton.check_live_ready, gate=True),
        Check("triton-models", triton.check_models),
        Check("triton-metadata", triton.check_metadata),
        Check("triton-queue-caps", triton.check_queue_caps),
        Check("triton-infer", triton.check_infer),
    )),
    Step("metrics", lambda ctx: None if metrics.metrics_url(ctx) else "no --triton-url or --metrics-url", (
        Check("metrics-endpoint", metrics.check_endpoint, gate=True),
        Check("metrics-models", metrics.check_models),
        Check("metrics-families", metrics.check_families),
    )),
    Step("prometheus", lambda ctx: None if ctx.prometheus else "no --prometheus-url", (
        Check("prometheus-reachable", prometheus.check_reachable, gate=True),
        Check("prometheus-targets", prometheus.check_targets),
        Check("prometheus-scrape-interval", prometheus.check_scrape_interval),
        Check("prometheus-rules", prometheus.check_rules),
        Check("prometheus-records", prometheus.check_records),
        Check("prometheus-alerts", prometheus.check_alerts),
    )),
    Step("grafana", lambda ctx: None if ctx.grafana else "no --grafana-url", (
        Check("grafana-reachable", grafana.check_reachable, gate=True),
        Check("grafana-dashboards", grafana.check_dashboards),
        Check("grafana-datasource", grafana.check_datasource),
        Check("grafana-panels", grafana.check_panels),
    )),
)
