"""Triton Inference Server: what an on-call needs, from one cluster to a fleet.

Facts come from Triton's metrics documentation (and what Triton 2.51 exposes, see
docs/triton-facts.md), not from Triton's example dashboards, which use stale metric names
and label compute time per second as latency. Durations are cumulative microsecond counters, so
an average is rate(duration) / rate(requests).

The seed dashboard's five panels (requests per second, average latency, average queue time, CPU,
total count) are on the first screen at 1080p (y + h <= 24), CPU as the pod's against its limit;
the node's CPU as Triton reports it, pods, versions, tail latency, overload, cache and GPU follow.
Pod resources come from cAdvisor and kube-state-metrics (kube-prometheus-stack ships both), whose
series carry `namespace`, `pod` and `container`; they are restricted to the pods Prometheus
scrapes as Triton (`and on (namespace, pod) up{job=...}`), so other workloads in the namespace
never show.
"""

from __future__ import annotations

import json

from grafanalib.core import Annotations, Dashboard, Time

from dashboards._panels import (
    BYTES,
    COUNT,
    JOULES,
    MICROSECONDS,
    MILLISECONDS,
    PERCENT_0_1,
    REQUESTS_PER_SECOND,
    SECONDS,
    WATTS,
    Row,
    Scope,
    alerts_annotation,
    layout,
    ratio,
    runbook_links,
    stat,
    table,
    target,
    targets,
    timeseries,
    uid_for,
    variables,
)
from alerts.triton import DURATION_RATE, ERROR_RATE, QUEUE_RATE, REQUEST_RATE, SUCCESS_RATE
from alerts._rules import seconds
from alerts._slo import LONG_INTERVAL, REQUEST_RATE_1H
from alerts.triton import PENDING as PENDING_SUM
from gen.settings import Environment

NAME = "triton"
TITLE = "Triton Inference Server"

SUCCESS = "nv_inference_request_success"
FAILURE = "nv_inference_request_failure"
REQUEST_DURATION = "nv_inference_request_duration_us"
QUEUE_DURATION = "nv_inference_queue_duration_us"
PENDING = "nv_inference_pending_request_count"

# Alerts whose runbook sections the panels link to (docs/runbooks.md, one section per alert;
# tests/test_dashboards.py checks every anchor exists).
# The SLO's recorded series (alerts/_slo.py), named by the Prometheus convention.
SLO_BUDGET = "namespace_model:nv_inference_request_errors:slo_budget_ratio"
SLO_RATIO = "namespace_model:nv_inference_request_errors:ratio_rate{window}"
SLO_BUDGET_LEFT = "namespace_model:nv_inference_request_errors:slo_budget_remaining{window}"

ALERT_TARGET = ("TritonTargetAbsent", "TritonReplicasMissing")
ALERT_ERRORS = ("TritonModelErrorRatioHigh", "TritonModelErrorBudgetBurn")
ALERT_NO_SUCCESS = ("TritonModelNoSuccessfulInference", "TritonModelUnavailable")
ALERT_LATENCY = ("TritonModelLatencyHigh",)
ALERT_QUEUE = ("TritonModelQueueTimeHigh",)
ALERT_BACKLOG = ("TritonModelBacklogHigh", "TritonModelBacklogSecondsHigh", "TritonModelQueueNearFull")
ALERT_CPU = ("TritonNodeCPUSaturated",)
ALERT_THROTTLED = ("TritonPodCPUThrottled",)
ALERT_MEMORY = ("TritonPodMemoryNearLimit", "TritonPodOOMKilled")
ALERT_RESTARTS = ("TritonPodRestarting",)

# Six stats across the first line: with RPS and latency below them, the seed dashboard's five
# (RPS, latency, queue time, CPU, total count) are all on the first screen at 1080p.
OVERVIEW_STAT_WIDTH = 4

SUMMARY_HOW_TO = (
    "Triton exposes these summaries only when started with `--metrics-config summary_latencies=true`; "
    "without it the panel stays empty and nothing is wrong."
)
QUEUE_FULL_NOTE = (
    "Queue-full rejections (HTTP 503 \"Exceeds maximum queue size\" when the model's max_queue_size is "
    "reached) are counted by no Triton metric: watch pending requests and seconds of backlog for overload."
)


class Queries:
    """The expressions of one environment's dashboard, built from its Scope."""

    def __init__(self, env: Environment):
        self.env = env
        self.s = Scope.of(env)

    # -- raw counters -------------------------------------------------------------------------

    def failures(self, *by: str, version: bool = False) -> str:
        """Failure rate, or 0 where a model has no failure series yet: Triton before 2.x creates
        the failure series on the first failure only, and without this fallback the error ratio
        of a healthy model would be "no data" instead of 0."""
        sel = self.s.sel(version=version)
        return f"({self.s.rate(FAILURE, *by, selector=sel)} or {self.s.rate(SUCCESS, *by, selector=sel)} * 0)"

    def error_ratio(self, *by: str, version: bool = False) -> str:
        failures = self.failures(*by, version=version)
        success = self.s.rate(SUCCESS, *by, selector=self.s.sel(version=version))
        return ratio(failures, f"({success} + {failures})")

    def avg_duration(self, metric: str, *by: str, version: bool = False) -> str:
        sel = self.s.sel(version=version)
        return ratio(self.s.rate(metric, *by, selector=sel), self.s.rate(SUCCESS, *by, selector=sel))

    # -- recording rules (alerts/), one series per namespace and model -------------------------

    def recorded(self, series: str, *by: str) -> str:
        """From a per-namespace-and-model recording rule: summing a handful of recorded series is
        much cheaper than rating every pod's raw counters."""
        return self.s.agg("sum", f"{series}{{{self.s.sel()}}}", *by)

    def recorded_error_ratio(self, *by: str) -> str:
        """Server failures (CANCELED excluded) / requests: the SLO's error ratio, from the same
        recorded series the error-ratio and burn-rate alerts read, so panel and alert agree."""
        return ratio(self.recorded(ERROR_RATE, *by), self.recorded(REQUEST_RATE, *by))

    def recorded_mean(self, series: str, *by: str) -> str:
        return ratio(self.recorded(series, *by), self.recorded(SUCCESS_RATE, *by))

    # -- pods ---------------------------------------------------------------------------------

    def triton_pods(self, expr: str) -> str:
        """Only the pods Prometheus scrapes as Triton: cAdvisor and kube-state-metrics describe
        every pod of the namespace. `expr` must keep namespace and pod for the match."""
        up = f'up{{job="{self.env.triton.job}", {self.s.sel(model=False)}}}'
        return f"{expr}\nand {self.s.on('namespace', 'pod')}\n{up}"

    def ready_pods(self) -> str:
        """One series per Ready pod of the namespace (kube-state-metrics)."""
        ready = self.s.sel(model=False, extra='condition="true"')
        return f"kube_pod_status_ready{{{ready}}} == 1"

    def expected_replicas(self) -> str:
        """The pods expected, as TritonReplicasMissing counts them: one Deployment's spec.replicas,
        or the fixed number of the settings."""
        if self.env.triton.expected_replicas:
            up = f'up{{job="{self.env.triton.job}", {self.s.sel(model=False)}}}'
            return f"{self.s.agg('count', up)} * 0 + {self.env.triton.expected_replicas}"
        deployment = self.s.sel(model=False, extra=f'deployment="{self.env.triton.deployment}"')
        return self.s.agg("max", f"kube_deployment_spec_replicas{{{deployment}}}")

    def container(self, metric: str, extra: str = "") -> str:
        # container="" is the pod's own cgroup and "POD" the pause container: both would count twice.
        matchers = 'container!="", container!="POD"' + (f", {extra}" if extra else "")
        return f"{metric}{{{self.s.sel(model=False, extra=matchers)}}}"

    def pod_rate(self, metric: str, extra: str = "") -> str:
        return self.s.agg("sum", f"rate({self.container(metric, extra)}[$__rate_interval])", "namespace", "pod")

    def limits(self, resource: str) -> str:
        matchers = self.s.sel(model=False, extra=f'resource="{resource}"')
        return f"kube_pod_container_resource_limits{{{matchers}}}"

    def pod_limit(self, resource: str) -> str:
        return self.triton_pods(self.s.agg("sum", self.limits(resource), "namespace", "pod"))


def _overview(env: Environment, q: Queries) -> Row:
    s = q.s
    return Row(
        "Overview",
        [
            stat(
                "Inferences in range",
                "Inferences Triton ran in the selected time range for the selected models "
                "(nv_inference_count; a batch of 8 counts as 8).",
                s.increase("nv_inference_count"),
                COUNT,
                width=OVERVIEW_STAT_WIDTH,
                legend=s.legend(),
            ),
            stat(
                "Successful requests/s",
                "Successful inference requests per second, all selected models together, over the "
                "last 5 minutes (recording rule).",
                q.recorded(SUCCESS_RATE),
                REQUESTS_PER_SECOND,
                decimals=2,
                width=OVERVIEW_STAT_WIDTH,
                legend=s.legend(),
                links=runbook_links(env, *ALERT_NO_SUCCESS),
            ),
            stat(
                "Error ratio",
                "Server failures / all requests, selected models together, over the last 5 minutes: the "
                "error ratio the alerts and the SLO read (recording rules). Client cancellations "
                "(reason CANCELED) are not the server failing and are left out, as in the alerts; "
                "queue-full 503s are counted by no Triton metric.",
                q.recorded_error_ratio(),
                PERCENT_0_1,
                decimals=2,
                width=OVERVIEW_STAT_WIDTH,
                legend=s.legend(),
                thresholds=[
                    {"color": "green", "value": None},
                    {"color": "orange", "value": env.thresholds["error_ratio"].threshold / 2},
                    {"color": "red", "value": env.thresholds["error_ratio"].threshold},
                ],
                links=runbook_links(env, *ALERT_ERRORS),
            ),
            stat(
                "Average latency",
                "Average end-to-end request time inside Triton (queue + compute), selected models "
                "together, over the last 5 minutes (recording rules).",
                q.recorded_mean(DURATION_RATE),
                MICROSECONDS,
                width=OVERVIEW_STAT_WIDTH,
                legend=s.legend(),
                thresholds=[
                    {"color": "green", "value": None},
                    {"color": "red", "value": env.thresholds["request_latency_us"].threshold},
                ],
                links=runbook_links(env, *ALERT_LATENCY),
            ),
            stat(
                "Requests pending now",
                "Requests waiting in Triton right now, all pods and selected models together (recording "
                "rule over nv_inference_pending_request_count). Overload shows here first: requests "
                "refused on a full queue (HTTP 503) are counted by no metric.",
                q.recorded(PENDING_SUM),
                COUNT,
                width=OVERVIEW_STAT_WIDTH,
                legend=s.legend(),
                thresholds=[
                    {"color": "green", "value": None},
                    {"color": "red", "value": env.thresholds["pending_requests"].threshold},
                ],
                links=runbook_links(env, *ALERT_BACKLOG),
            ),
            stat(
                "Pod CPU against limit",
                "The busiest Triton pod's CPU use against its CPU limit, over the last 5 minutes (cAdvisor "
                "container_cpu_usage_seconds_total / kube-state-metrics kube_pod_container_resource_limits). "
                "Near 100 % the pod is throttled and requests wait for CPU. The pod's own CPU, unlike "
                "nv_cpu_utilization, which is the node's (below). No value: no CPU limit is set.",
                s.agg("max", q.triton_pods(ratio(q.pod_rate("container_cpu_usage_seconds_total"),
                                                 s.agg("sum", q.limits("cpu"), "namespace", "pod")))),
                PERCENT_0_1,
                decimals=0,
                width=OVERVIEW_STAT_WIDTH,
                legend=s.legend(),
                thresholds=[
                    {"color": "green", "value": None},
                    {"color": "orange", "value": 0.8},
                    {"color": "red", "value": 0.95},
                ],
                links=runbook_links(env, *ALERT_THROTTLED),
            ),
        ],
    )


def _traffic(env: Environment, q: Queries) -> Row:
    s = q.s
    return Row(
        "Traffic and errors",
        [
            timeseries(
                "Requests per second (RPS)",
                "Successful inference requests per second, by model, over the last 5 minutes "
                "(recording rule over nv_inference_request_success).",
                [target(q.recorded(SUCCESS_RATE, "model"), s.legend("{{model}}"))],
                REQUESTS_PER_SECOND,
                width=8,
                links=runbook_links(env, *ALERT_NO_SUCCESS),
            ),
            timeseries(
                "Failures by reason",
                "Failed inference requests per second by model and reason (nv_inference_request_failure). "
                "BACKEND: the model raised an error; REJECTED: a request timed out in the queue "
                "(queue policy timeout); CANCELED: the client went away; OTHER: anything else. "
                + QUEUE_FULL_NOTE,
                [target(s.rate(FAILURE, "model", "reason"), s.legend("{{model}} {{reason}}"))],
                REQUESTS_PER_SECOND,
                width=8,
                links=runbook_links(env, *ALERT_ERRORS),
            ),
            timeseries(
                "Error ratio by model",
                "Server failures / all requests by model over the last 5 minutes, CANCELED left out: "
                "the ratio TritonModelErrorRatioHigh and the SLO alerts compare with their thresholds "
                "(recording rules). Empty for a model without traffic: a ratio of nothing is not 0. "
                "Failures by reason, cancellations included, are in the panel beside.",
                [target(q.recorded_error_ratio("model"), s.legend("{{model}}"))],
                PERCENT_0_1,
                width=8,
                max_value=1,
                links=runbook_links(env, *ALERT_ERRORS),
            ),
        ],
    )


def _latency(env: Environment, q: Queries) -> Row:
    s = q.s
    return Row(
        "Latency",
        [
            timeseries(
                "Average request latency",
                "Average end-to-end time of a successful request inside Triton, by model, over the last "
                "5 minutes: rate(nv_inference_request_duration_us) / rate(nv_inference_request_success) "
                "(recording rules). Excludes network time between client and Triton.",
                [target(q.recorded_mean(DURATION_RATE, "model"), s.legend("{{model}}"))],
                MICROSECONDS,
                width=8,
                links=runbook_links(env, *ALERT_LATENCY),
            ),
            timeseries(
                "Average queue time",
                "Average time a request waited in Triton's scheduler queue before it ran, by model, over "
                "the last 5 minutes: rate(nv_inference_queue_duration_us) / rate(nv_inference_request_success) "
                "(recording rules). Growing queue time means the model needs more instances or larger batches.",
                [target(q.recorded_mean(QUEUE_RATE, "model"), s.legend("{{model}}"))],
                MICROSECONDS,
                width=8,
                links=runbook_links(env, *ALERT_QUEUE),
            ),
            timeseries(
                "Latency breakdown",
                "Where an average request spends its time, selected models together: queue, then "
                "compute input (copying inputs), compute infer (running the model) and compute output "
                "(copying outputs). Stacked, the parts add up to about the request latency.",
                targets(
                    (q.avg_duration(QUEUE_DURATION), s.legend("queue")),
                    (q.avg_duration("nv_inference_compute_input_duration_us"), s.legend("compute input")),
                    (q.avg_duration("nv_inference_compute_infer_duration_us"), s.legend("compute infer")),
                    (q.avg_duration("nv_inference_compute_output_duration_us"), s.legend("compute output")),
                ),
                MICROSECONDS,
                width=8,
                stacked=True,
            ),
        ],
    )


def _queue(env: Environment, q: Queries) -> Row:
    s = q.s
    return Row(
        "Queue and batching",
        [
            timeseries(
                "Pending requests",
                "Requests received by Triton and not yet executed, by model "
                "(nv_inference_pending_request_count). A steady rise is a backlog; at the model's "
                "max_queue_size Triton turns requests away with HTTP 503, which no failure metric counts.",
                [target(s.agg("sum", f"{PENDING}{{{s.sel()}}}", "model"), s.legend("{{model}}"))],
                COUNT,
                links=runbook_links(env, *ALERT_BACKLOG),
            ),
            timeseries(
                "Batching efficiency",
                "Inferences per model execution, by model: rate(nv_inference_count) / "
                "rate(nv_inference_exec_count). 1 means no batching; higher means the dynamic "
                "batcher groups requests.",
                [target(ratio(s.rate("nv_inference_count", "model"), s.rate("nv_inference_exec_count", "model")),
                        s.legend("{{model}}"))],
                COUNT,
            ),
        ],
    )


def _node(env: Environment, q: Queries) -> Row:
    s = q.s
    node = s.sel(model=False)
    return Row(
        "Node (as Triton sees it)",
        [
            timeseries(
                "Node CPU utilization (as Triton sees it)",
                "nv_cpu_utilization, 0 to 100%, by Triton pod. Triton reads /proc/stat, which inside a "
                "container is the node's: this is the node's CPU, noisy neighbours included, not the "
                "pod's. The pod's own CPU against its limit is in the Pods row.",
                [target(s.agg("avg", f"nv_cpu_utilization{{{node}}}", "pod"), s.legend("{{pod}}"))],
                PERCENT_0_1,
                max_value=1,
                links=runbook_links(env, *ALERT_CPU),
            ),
            timeseries(
                "Node memory used (as Triton sees it)",
                "nv_cpu_memory_used_bytes against nv_cpu_memory_total_bytes, by Triton pod. Triton reads "
                "/proc/meminfo, which inside a container is the node's memory, not the pod's. The pod's "
                "working set against its limit is in the Pods row.",
                targets(
                    (s.agg("sum", f"nv_cpu_memory_used_bytes{{{node}}}", "pod"), s.legend("{{pod}} used")),
                    (s.agg("sum", f"nv_cpu_memory_total_bytes{{{node}}}", "pod"), s.legend("{{pod}} total")),
                ),
                BYTES,
            ),
        ],
    )


def _models(env: Environment, q: Queries) -> Row:
    s = q.s
    by = ("model", "version")
    success = s.increase(SUCCESS, *by)
    failures = f"({s.increase(FAILURE, *by)} or {success} * 0)"
    return Row(
        "Loaded models",
        [
            table(
                "Loaded models",
                "Every model version loaded now in the selected namespace (and clusters): the pods serving "
                "it, and over the selected time range its successful requests per second, error ratio "
                "(failed / all) and average request latency. Click a column header to sort.",
                [
                    ("Pods", s.agg("count", f"nv_inference_count{{{s.sel()}}}", *by), COUNT),
                    ("Requests/s", f"{success} / $__range_s", REQUESTS_PER_SECOND),
                    ("Error ratio", ratio(failures, f"({success} + {failures})"), PERCENT_0_1),
                    ("Average latency", ratio(s.increase(REQUEST_DURATION, *by), success), MICROSECONDS),
                ],
                COUNT,
                sort_by="Requests/s",
            ),
        ],
    )


def _pods(env: Environment, q: Queries) -> Row:
    s = q.s
    up = f'up{{job="{env.triton.job}", {s.sel(model=False)}}}'
    return Row(
        "Pods",
        [
            timeseries(
                "Requests per second by pod",
                "Successful inference requests per second served by each Triton pod, selected models "
                "together. One pod far from the others is the sick one (or the only one still serving).",
                [target(s.rate(SUCCESS, "pod"), s.legend("{{pod}}"))],
                REQUESTS_PER_SECOND,
                width=8,
            ),
            timeseries(
                "Share of traffic by pod",
                "Each pod's share of the successful requests of the selected models (stacked to 100% per "
                "cluster). An even spread is healthy; a pod at 0% receives nothing from the Service.",
                [target(ratio(s.rate(SUCCESS, "pod"), s.rate(SUCCESS), f"{s.on()} group_left ()"),
                        s.legend("{{pod}}"))],
                PERCENT_0_1,
                width=8,
                stacked=True,
                max_value=1,
            ),
            timeseries(
                "Triton instances up against expected",
                "Triton targets up (up == 1), Triton pods Ready (kube-state-metrics kube_pod_status_ready: "
                "a pod whose model failed to load is scraped but not Ready), and the pods expected: "
                + (f"{env.triton.expected_replicas} (triton.expected_replicas)" if env.triton.expected_replicas
                   else f"the spec.replicas of Deployment {env.triton.deployment} (kube_deployment_spec_replicas)")
                + ", the same count TritonReplicasMissing compares with. Ready below expected: pods are "
                "missing, not ready or not scraped.",
                targets(
                    (s.agg("sum", up), s.legend("up")),
                    (s.agg("count", q.triton_pods(q.ready_pods())), s.legend("ready")),
                    (q.expected_replicas(), s.legend("expected")),
                ),
                COUNT,
                width=8,
                links=runbook_links(env, *ALERT_TARGET),
            ),
            timeseries(
                "Container restarts",
                "Container restarts in each Triton pod per interval "
                "(increase of kube_pod_container_status_restarts_total). A restart resets Triton's "
                "counters and unloads every model until it loads again.",
                [target(q.triton_pods(s.agg("sum", "increase(kube_pod_container_status_restarts_total"
                                               f"{{{s.sel(model=False)}}}[$__rate_interval])", "namespace", "pod")),
                        s.legend("{{pod}}"))],
                COUNT,
                width=6,
                bars=True,
                links=runbook_links(env, *ALERT_RESTARTS),
            ),
            timeseries(
                "Pod CPU usage against limit",
                "CPU cores used by each Triton pod's containers (cAdvisor container_cpu_usage_seconds_total) "
                "and the pod's CPU limit (kube-state-metrics kube_pod_container_resource_limits). "
                "Usage at the limit means throttling: see the next panel.",
                targets(
                    (q.triton_pods(q.pod_rate("container_cpu_usage_seconds_total")), s.legend("{{pod}} used")),
                    (q.pod_limit("cpu"), s.legend("{{pod}} limit")),
                ),
                COUNT,
                width=6,
            ),
            timeseries(
                "Pod CPU throttling",
                "Share of CFS periods in which each Triton pod was throttled by its CPU limit "
                "(container_cpu_cfs_throttled_periods_total / container_cpu_cfs_periods_total). Above a "
                "few percent, requests wait for CPU and latency grows although the node is idle.",
                [target(q.triton_pods(ratio(q.pod_rate("container_cpu_cfs_throttled_periods_total"),
                                            q.pod_rate("container_cpu_cfs_periods_total"))),
                        s.legend("{{pod}}"))],
                PERCENT_0_1,
                width=6,
                max_value=1,
                links=runbook_links(env, *ALERT_THROTTLED),
            ),
            timeseries(
                "Pod memory working set against limit",
                "Working-set memory of each Triton pod's containers (cAdvisor "
                "container_memory_working_set_bytes, what the kubelet compares with the limit) and the "
                "pod's memory limit. At the limit the container is OOM-killed.",
                targets(
                    (q.triton_pods(s.agg("sum", q.container("container_memory_working_set_bytes"), "namespace", "pod")),
                     s.legend("{{pod}} working set")),
                    (q.pod_limit("memory"), s.legend("{{pod}} limit")),
                ),
                BYTES,
                width=6,
                links=runbook_links(env, *ALERT_MEMORY),
            ),
        ],
    )


def _versions(env: Environment, q: Queries) -> Row:
    s = q.s
    by = ("model", "version")
    legend = s.legend("{{model}} v{{version}}")
    return Row(
        "Versions ($version)",
        [
            timeseries(
                "Requests per second by version",
                "Successful requests per second by model and version, for the versions picked in $version: "
                "a canary of version 2 beside version 1 shows how traffic is split.",
                [target(s.rate(SUCCESS, *by, selector=s.sel(version=True)), legend)],
                REQUESTS_PER_SECOND,
                width=8,
            ),
            timeseries(
                "Error ratio by version",
                "Failed / all requests by model and version. A version that fails where the other does "
                "not regressed.",
                [target(q.error_ratio(*by, version=True), legend)],
                PERCENT_0_1,
                width=8,
                max_value=1,
                links=runbook_links(env, *ALERT_ERRORS),
            ),
            timeseries(
                "Average latency by version",
                "Average request latency by model and version: rate(nv_inference_request_duration_us) / "
                "rate(nv_inference_request_success).",
                [target(q.avg_duration(REQUEST_DURATION, *by, version=True), legend)],
                MICROSECONDS,
                width=8,
                links=runbook_links(env, *ALERT_LATENCY),
            ),
        ],
    )


def _tail(env: Environment, q: Queries) -> Row:
    s = q.s
    quantiles = 'quantile=~"0.5|0.9|0.99"'

    def summary(metric: str) -> str:
        # `>= 0` drops the NaN Triton reports before any traffic; a quantile of a summary cannot be
        # averaged across pods, so the worst pod's is shown.
        return s.agg("max", f"{metric}{{{s.sel(extra=quantiles)}}} >= 0", "model", "quantile")

    def histogram(quantile: str) -> str:
        buckets = s.rate("nv_inference_first_response_histogram_ms_bucket", "model", "le")
        return f"histogram_quantile({quantile}, {buckets})"

    how_to = "Start Triton with --metrics-config summary_latencies=true"
    return Row(
        "Tail latency",
        [
            timeseries(
                "Request latency p50 / p90 / p99",
                "Quantiles of the end-to-end request time by model, from Triton's own summary "
                "nv_inference_request_summary_us (the worst pod's). " + SUMMARY_HOW_TO,
                [target(summary("nv_inference_request_summary_us"), s.legend("{{model}} q{{quantile}}"))],
                MICROSECONDS,
                width=8,
                no_value=how_to,
                links=runbook_links(env, *ALERT_LATENCY),
            ),
            timeseries(
                "Queue time p50 / p90 / p99",
                "Quantiles of the time requests wait in the queue by model, from "
                "nv_inference_queue_summary_us (the worst pod's). " + SUMMARY_HOW_TO,
                [target(summary("nv_inference_queue_summary_us"), s.legend("{{model}} q{{quantile}}"))],
                MICROSECONDS,
                width=8,
                no_value=how_to,
                links=runbook_links(env, *ALERT_QUEUE),
            ),
            timeseries(
                "Time to first response p50 / p90 / p99",
                "For decoupled and streaming models (LLM tokens): quantiles of the time to the first "
                "response, by model, from the histogram nv_inference_first_response_histogram_ms "
                "(histogram_quantile over all pods' buckets). Triton exposes it with "
                "--metrics-config histogram_latencies=true, for models that support it; empty otherwise.",
                targets(
                    (histogram("0.5"), s.legend("{{model}} p50")),
                    (histogram("0.9"), s.legend("{{model}} p90")),
                    (histogram("0.99"), s.legend("{{model}} p99")),
                ),
                MILLISECONDS,
                width=8,
                no_value="No first-response histogram (decoupled models with histogram_latencies=true)",
            ),
        ],
    )


def _overload(env: Environment, q: Queries) -> Row:
    s = q.s
    return Row(
        "Errors and overload",
        [
            timeseries(
                "Requests by outcome",
                "All requests Triton answered, per second, stacked: successful and failed (any reason). "
                + QUEUE_FULL_NOTE,
                targets(
                    (s.rate(SUCCESS), s.legend("successful")),
                    (s.rate(FAILURE), s.legend("failed")),
                ),
                REQUESTS_PER_SECOND,
                width=8,
                stacked=True,
                links=runbook_links(env, *ALERT_ERRORS),
            ),
            timeseries(
                "Seconds of backlog",
                "How long the pending requests of each model take to drain at the current success rate: "
                "nv_inference_pending_request_count / rate(nv_inference_request_success). Rising seconds "
                "of backlog is overload before the queue is full; at the model's max_queue_size Triton "
                "answers HTTP 503, which no metric counts.",
                [target(ratio(s.agg("sum", f"{PENDING}{{{s.sel()}}}", "model"), s.rate(SUCCESS, "model")),
                        s.legend("{{model}}"))],
                SECONDS,
                width=8,
                links=runbook_links(env, *ALERT_BACKLOG),
            ),
            timeseries(
                "Pending requests by pod",
                "Requests waiting in each Triton pod, selected models together "
                "(nv_inference_pending_request_count). A backlog on one pod only points at that pod.",
                [target(s.agg("sum", f"{PENDING}{{{s.sel()}}}", "pod"), s.legend("{{pod}}"))],
                COUNT,
                width=8,
                links=runbook_links(env, *ALERT_BACKLOG),
            ),
            *_queue_fill(env, q),
        ],
    )


def _queue_fill(env: Environment, q: Queries) -> list:
    """Pending requests against each model's max_queue_size, for the models whose cap the
    settings know (models.<name>.max_queue_size): at 100 % Triton turns requests away with 503."""
    s = q.s
    caps = {name: model.max_queue_size for name, model in sorted(env.models.items()) if model.max_queue_size}
    if not caps:
        return []
    queries = [
        (s.agg("max", f"{PENDING}{{{s.sel(extra=f'model={json.dumps(name)}')}}}", "model") + f" / {cap}",
         s.legend(f"{{{{model}}}} (cap {cap})"))
        for name, cap in caps.items()
    ]
    return [timeseries(
        "Queue fill against max_queue_size",
        "Pending requests of each model whose queue cap is in the settings (models.<name>.max_queue_size), "
        "as a share of that cap, on the fullest pod: at 100 % Triton answers HTTP 503 \"Exceeds maximum "
        "queue size\", which no metric counts. The overload alert fires at the queue_full threshold.",
        targets(*queries),
        PERCENT_0_1,
        width=24,
        max_value=1,
        links=runbook_links(env, "TritonModelQueueNearFull"),
    )]


def _error_budget(env: Environment, q: Queries) -> Row:
    """The availability SLO of alerts/_slo.py: objective, budget left and how fast it burns."""
    s = q.s
    window = env.slo.window
    budget = f"{SLO_BUDGET}{{{s.sel()}}}"
    burn = lambda w: ratio(f"{SLO_RATIO.format(window=w)}{{{s.sel()}}}", budget,  # noqa: E731
                           matching=s.on("namespace", "model"))
    return Row(
        f"Error budget (availability SLO over {window})",
        [
            stat(
                f"Error budget left ({window})",
                f"Share of the {window} error budget still unspent, by model: 1 - error ratio over {window} / "
                "(1 - objective), from recording rules evaluated hourly (so it appears up to an hour after the "
                "rules load). Below 0 the objective is missed. Client cancellations are not errors; queue-full "
                "503s are not counted by Triton at all. It reads only the data Prometheus still holds: when "
                "'Budget data covers' is shorter than the window, failures before that are forgotten and "
                "the budget left is overstated.",
                f"{SLO_BUDGET_LEFT.format(window=window)}{{{s.sel()}}}",
                PERCENT_0_1,
                width=4,
                decimals=1,
                legend=s.legend("{{model}}"),
                thresholds=[
                    {"color": "red", "value": None},
                    {"color": "orange", "value": 0},
                    {"color": "green", "value": 0.25},
                ],
                links=runbook_links(env, "TritonModelErrorBudgetBurn"),
            ),
            stat(
                "Budget data covers",
                f"How much of the {window} window the budget above really reads, by model: the samples of "
                f"the hourly request rate the budget rules sum ({REQUEST_RATE_1H}, recorded every "
                f"{LONG_INTERVAL}) times that interval. Shorter than {window}: Prometheus' retention "
                "(kube-prometheus-stack keeps 10d by default) or the model's age; `gen validate "
                "--prometheus-url` compares the retention with the windows the rules read.",
                s.agg("max", f"count_over_time({REQUEST_RATE_1H}{{{s.sel()}}}[{window}])", "model")
                + f" * {int(seconds(LONG_INTERVAL))}",
                SECONDS,
                width=4,
                decimals=1,
                legend=s.legend("{{model}}"),
                thresholds=[
                    {"color": "orange", "value": None},
                    {"color": "green", "value": seconds(window)},
                ],
                links=runbook_links(env, "TritonModelErrorBudgetBurn"),
            ),
            stat(
                "Availability objective",
                "The objective each model is held to (environments.yaml: slo.availability, with per-model "
                "overrides under models), as the recording rules see it: 1 - allowed error ratio.",
                f"1 - {budget}",
                PERCENT_0_1,
                width=4,
                decimals=3,
                legend=s.legend("{{model}}"),
            ),
            timeseries(
                "Error budget burn rate",
                "How many times faster than allowed the budget is spent, by model: error ratio over 1 h and "
                "6 h / (1 - objective). 1 spends exactly the budget over the SLO window; the paging alert "
                "fires at 14.4 (1 h and 5 m), the ticket at lower rates over longer windows.",
                targets(
                    (burn("1h"), s.legend("{{model}} 1h")),
                    (burn("6h"), s.legend("{{model}} 6h")),
                ),
                COUNT,
                links=runbook_links(env, "TritonModelErrorBudgetBurn"),
            ),
        ],
        collapsed=True,
    )


def _cache(env: Environment, q: Queries) -> Row:
    s = q.s
    hits = s.rate("nv_cache_num_hits_per_model", "model")
    misses = s.rate("nv_cache_num_misses_per_model", "model")
    return Row(
        "Response cache (only with the cache on)",
        [
            timeseries(
                "Cache hit ratio",
                "Cache hits / lookups by model (nv_cache_num_hits_per_model, nv_cache_num_misses_per_model). "
                "Triton exposes them with --cache-config and response_cache enabled in the model's "
                "config; empty otherwise.",
                [target(ratio(hits, f"({hits} + {misses})"), s.legend("{{model}}"))],
                PERCENT_0_1,
                max_value=1,
            ),
            timeseries(
                "Cache hit and miss time",
                "Average time of a cache hit (lookup and copy of the cached response) and of a miss "
                "(lookup and insertion), by model: nv_cache_hit_duration_per_model / hits and "
                "nv_cache_miss_duration_per_model / misses.",
                targets(
                    (ratio(s.rate("nv_cache_hit_duration_per_model", "model"), hits), s.legend("{{model}} hit")),
                    (ratio(s.rate("nv_cache_miss_duration_per_model", "model"), misses), s.legend("{{model}} miss")),
                ),
                MICROSECONDS,
            ),
        ],
        collapsed=True,
    )


def _gpu(env: Environment, q: Queries) -> Row:
    s = q.s
    gpu = s.sel(model=False)
    by = ("pod", "gpu_uuid")
    legend = s.legend("{{pod}} {{gpu_uuid}}")
    return Row(
        "GPU (only with GPUs)",
        [
            timeseries(
                "GPU utilization",
                "Utilization of each GPU (nv_gpu_utilization, 0 to 1). Triton exposes GPU series only "
                "on a node with NVIDIA GPUs; empty otherwise.",
                [target(s.agg("avg", f"nv_gpu_utilization{{{gpu}}}", *by), legend)],
                PERCENT_0_1,
                max_value=1,
            ),
            timeseries(
                "GPU memory used against total",
                "GPU memory used on each GPU (nv_gpu_memory_used_bytes) and its total "
                "(nv_gpu_memory_total_bytes). Empty without GPUs.",
                targets(
                    (s.agg("sum", f"nv_gpu_memory_used_bytes{{{gpu}}}", *by), s.legend("{{pod}} {{gpu_uuid}} used")),
                    (s.agg("sum", f"nv_gpu_memory_total_bytes{{{gpu}}}", *by), s.legend("{{pod}} {{gpu_uuid}} total")),
                ),
                BYTES,
            ),
            timeseries(
                "GPU power",
                "Power drawn by each GPU (nv_gpu_power_usage, watts) against its limit "
                "(nv_gpu_power_limit). Empty without GPUs.",
                targets(
                    (s.agg("sum", f"nv_gpu_power_usage{{{gpu}}}", *by), s.legend("{{pod}} {{gpu_uuid}}")),
                    (s.agg("sum", f"nv_gpu_power_limit{{{gpu}}}", *by), s.legend("{{pod}} {{gpu_uuid}} limit")),
                ),
                WATTS,
            ),
            timeseries(
                "GPU energy per inference",
                "Joules the GPUs of each pod used per inference they ran: rate(nv_energy_consumption) / "
                "rate(nv_inference_count), all models of the pod together (energy is per GPU, not per "
                "model). Empty without GPUs.",
                [target(ratio(s.rate("nv_energy_consumption", "pod", selector=gpu),
                              s.rate("nv_inference_count", "pod", selector=gpu)), s.legend("{{pod}}"))],
                JOULES,
            ),
        ],
        collapsed=True,
    )


def dashboard(env: Environment) -> Dashboard:
    q = Queries(env)
    rows = [
        _overview(env, q), _traffic(env, q), _latency(env, q), _queue(env, q), _node(env, q),
        _models(env, q), _pods(env, q), _versions(env, q), _tail(env, q), _overload(env, q),
        _error_budget(env, q), _cache(env, q), _gpu(env, q),
    ]
    return Dashboard(
        title=f"{TITLE} ({env.name})",
        uid=uid_for(NAME, env),
        description="Triton Inference Server: traffic, errors, latency, queueing, pods, versions and resources.",
        tags=["triton", "inference", env.name],
        timezone="browser",
        refresh="30s",
        graphTooltip=1,
        time=Time("now-1h", "now"),
        templating=variables(env),
        annotations=Annotations(list=[alerts_annotation(env)]),
        panels=layout(rows),
    )
