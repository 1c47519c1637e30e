"""Recording and alerting rules for Triton Inference Server, per environment.

Every threshold, `for` and severity comes from environments.yaml (env.thresholds, env.slo,
env.models); severities are capped by env.max_severity (dev pages nobody). The recording rules are
the shared aggregates: the alerts and the dashboard read them instead of recomputing rates over
every pod's raw series. Each rule selects the environment's namespace, so two environments on one
Prometheus never record the same series twice; with `cluster_label` set, every rule also keeps
that label, so one Prometheus can hold a fleet.

What Triton really does (measured on Triton 2.51, see docs/runbooks.md):
- a request refused because the queue is full (`max_queue_size`) gets HTTP 503 and moves no
  counter; `reason="REJECTED"` counts queue *timeouts* only. Overload therefore has its own
  signals: pending requests against the model's queue cap, queue time, seconds of backlog;
- duration counters grow for successful requests only: an average is rate(duration) / rate(success);
- `nv_cpu_*` are read from /proc inside the container: they describe the node, not the pod. The
  pod's CPU and memory come from cAdvisor and kube-state-metrics (kube-prometheus-stack).

Durations are cumulative microsecond counters. Alerts on durations divide by 1e6 so that
`humanizeDuration` prints the value in the annotations.
"""

from __future__ import annotations

from alerts import _slo
from alerts._rules import Alert, Group, Recording, by, model_regex, number, runbook, seconds, selector, where
from gen.settings import Environment

WINDOW = "5m"
# A model "served recently" when it had successes within this window (TritonModelUnavailable),
# and a target "existed recently" likewise (TritonTargetAbsent on a fleet, expected replicas).
RECENT = "1h"
# Restarts of a Triton container are counted over this window: short, so that an alert about
# restarts ends soon after they stop (over 1h, one burst kept a ticket open for an hour).
RESTART_WINDOW = "15m"

# Recorded series, level:metric:operations.
SUCCESS_RATE = f"namespace_model:nv_inference_request_success:rate{WINDOW}"
FAILURE_RATE = f"namespace_model:nv_inference_request_failure:rate{WINDOW}"  # every reason
DURATION_RATE = f"namespace_model:nv_inference_request_duration_us:rate{WINDOW}"
QUEUE_RATE = f"namespace_model:nv_inference_queue_duration_us:rate{WINDOW}"
LATENCY_MEAN = f"namespace_model:nv_inference_request_duration_us:mean{WINDOW}"
QUEUE_MEAN = f"namespace_model:nv_inference_queue_duration_us:mean{WINDOW}"
# Every failure (client cancellations too) per request: what the dashboard shows.
ERROR_RATIO = f"namespace_model:nv_inference_request_failures_per_request:ratio_rate{WINDOW}"
# Failures that are the server's (no CANCELED), and the requests they are a fraction of: the SLI.
ERROR_RATE = _slo.ERROR_RATE
REQUEST_RATE = _slo.REQUEST_RATE
SERVER_ERROR_RATIO = _slo.ratio(WINDOW)
PENDING = "namespace_model:nv_inference_pending_request_count:sum"
PENDING_MAX = "namespace_model:nv_inference_pending_request_count:max"  # the fullest pod
# Pending requests / successes per second: how long the backlog takes to drain at today's pace.
BACKLOG_SECONDS = f"namespace_model:nv_inference_backlog_seconds:ratio_rate{WINDOW}"

MICROSECONDS_PER_SECOND = "1000000"

# Ours that kube-prometheus-stack's default rules (kubernetes-mixin) already say, and theirs that
# says it: beside them (kubernetes_mixin_alerts), ours would be a second notification of the same
# thing. TritonReplicasMissing stays: it names the models that lost capacity, which theirs cannot.
SAID_BY_KUBERNETES_MIXIN = {
    "TritonPodCPUThrottled": "CPUThrottlingHigh",  # same ratio and threshold; theirs is info on purpose
    "TritonPodRestarting": "KubePodCrashLooping",
}


def _recording(env: Environment) -> Group:
    ns = selector(env)
    keys = by(env, "model")

    def rate(metric: str, sel: str = ns) -> str:
        return f"sum by ({keys}) (rate({metric}{sel}[{WINDOW}]))"

    # A model with no failure series yet (Triton before 2.51 creates it on the first failure)
    # counts 0 failures, so its ratios are 0 rather than missing.
    failures = f"({FAILURE_RATE}{ns} or {SUCCESS_RATE}{ns} * 0)"
    not_canceled = ns[:-1] + ', reason!="CANCELED"}'
    return Group(
        "triton.recording",
        [
            Recording(SUCCESS_RATE, rate("nv_inference_request_success")),
            Recording(FAILURE_RATE, rate("nv_inference_request_failure")),
            Recording(ERROR_RATE, f"{rate('nv_inference_request_failure', not_canceled)}\nor\n{SUCCESS_RATE}{ns} * 0"),
            Recording(REQUEST_RATE, f"{SUCCESS_RATE}{ns} + on ({keys}) {ERROR_RATE}{ns}"),
            Recording(DURATION_RATE, rate("nv_inference_request_duration_us")),
            Recording(QUEUE_RATE, rate("nv_inference_queue_duration_us")),
            # `> 0` drops idle models: no traffic is no latency, not NaN.
            Recording(LATENCY_MEAN, f"{DURATION_RATE}{ns}\n/\n({SUCCESS_RATE}{ns} > 0)"),
            Recording(QUEUE_MEAN, f"{QUEUE_RATE}{ns}\n/\n({SUCCESS_RATE}{ns} > 0)"),
            Recording(ERROR_RATIO, f"{failures}\n/\n(({SUCCESS_RATE}{ns} + {failures}) > 0)"),
            Recording(PENDING, f"sum by ({keys}) (nv_inference_pending_request_count{ns})"),
            Recording(PENDING_MAX, f"max by ({keys}) (nv_inference_pending_request_count{ns})"),
            Recording(BACKLOG_SECONDS, f"{PENDING}{ns}\n/\n({SUCCESS_RATE}{ns} > 0)"),
        ],
    )


def _per_model(env: Environment, value: str, attribute: str, default: float, scale: float = 1.0) -> str:
    """`value > threshold`, where a model's own setting (env.models) overrides the default.
    `value` holds MODEL where the model matcher goes."""
    overrides = {m: getattr(s, attribute) for m, s in env.models.items() if getattr(s, attribute) is not None}
    if not overrides:
        return f"{value.replace(MODEL, '')} > {number(default * scale)}"
    others = f', model!~"{model_regex(list(overrides))}"'
    branches = [f"{value.replace(MODEL, others)} > {number(default * scale)}"]
    for model, threshold in sorted(overrides.items()):
        branches.append(f'{value.replace(MODEL, f", model={chr(34)}{model}{chr(34)}")} > {number(threshold * scale)}')
    return "\nor\n".join(branches)


MODEL = "@MODEL@"


def _ns(env: Environment, extra: str = "") -> str:
    """The namespace selector with MODEL (filled by _per_model) and extra matchers."""
    return "{" + f'namespace="{env.namespace}"' + MODEL + extra + "}"


def _targets(env: Environment) -> list[Alert]:
    t = env.thresholds
    up = selector(env, job=env.triton.job)
    keys = by(env)
    service = ", ".join(f"{k}={v}" for k, v in env.triton.service_labels.items())
    here = where(env)
    # absent() keeps no label to name the place with: the namespace is written out, and the text
    # reads no label that the absent() branch lacks (the cluster label is on the alert when the
    # per-cluster branch fired, for routing; the text says where to look).
    absent_here = env.namespace + (f" (the alert's {env.cluster_label} label names the cluster; none means no "
                                   "cluster has a Triton target up)" if env.cluster_label else "")
    ns = selector(env)
    per_model = by(env, "model")
    deployment = selector(env, deployment=env.triton.deployment)
    if env.triton.expected_replicas:
        # Per namespace (and cluster) that had a Triton target in the last hour.
        expected = f"count by ({keys}) (max_over_time(up{up}[{RECENT}])) * 0 + {env.triton.expected_replicas}"
        source = f"{env.triton.expected_replicas} (triton.expected_replicas)"
        scaling = ""
    else:
        expected = f"max by ({keys}) (kube_deployment_spec_replicas{deployment})"
        source = f"the spec.replicas of Deployment {env.triton.deployment}"
        grace = t["replicas_missing"].scale_up_grace
        # Right after spec.replicas changed, missing pods are a scale-up in progress: a big model
        # loads for many minutes, and a ticket at every scale-up teaches people to ignore it.
        scaling = (f"\nunless on ({keys})\nmax by ({keys}) (changes(kube_deployment_spec_replicas{deployment}[{grace}])) > 0"
                   if grace else "")
    # Per model: the Ready pods (kube-state-metrics) that expose it. A pod whose model failed to load
    # is scraped (up == 1) but not Ready; a Ready pod without the model serves none of its traffic.
    # Without kube-state-metrics (a fixed expected_replicas), a pod that is up is the best we know.
    ready = (f"up{up} == 1" if env.triton.expected_replicas
             else f"kube_pod_status_ready{selector(env, condition='true')} == 1")
    serving = (f"count by ({per_model}) (\n    group by ({per_model}, pod) (nv_inference_request_success{ns})\n"
               f"    and on ({keys}, pod)\n    ({ready})\n  )")
    known = f"group by ({per_model}) (nv_inference_request_success{ns}) * 0"
    alerts = [
        Alert(
            "TritonTargetAbsent",
            # Left: per namespace (and cluster) that had targets in the last hour, none is up now.
            # Right: no target up anywhere, including never scraped (absent() keeps no cluster).
            f"(\n  group by ({keys}) (max_over_time(up{up}[{RECENT}]))\n"
            f"  unless on ({keys})\n  group by ({keys}) (up{up} == 1)\n)\n"
            f"or on ()\nabsent(up{up} == 1)",
            t["target_down"],
            f"No Triton target is up in {env.namespace}",
            f"Prometheus ({env.prometheus_release}) scrapes no Triton target that is up (job {env.triton.job}) "
            f"in {absent_here}: Triton is down or not running, or the ServiceMonitor is not selected (label "
            f"release={env.prometheus_release}) or does not match the Service ({service}, port "
            f"{env.triton.metrics_port}). Every model alert of the namespace is inhibited meanwhile.",
            runbook(env, "TritonTargetAbsent"),
            labels={"namespace": env.namespace},
        ),
        Alert(
            "TritonReplicasMissing",
            f"(\n  {expected}\n)\n- on ({keys}) group_right ()\n"
            f"(\n  {serving}\n  or on ({per_model})\n  {known}\n)\n> 0{scaling}",
            t["replicas_missing"],
            f"Model {{{{ $labels.model }}}} in {here} is served by {{{{ $value }}}} pod(s) fewer than expected",
            f"{{{{ $value }}}} of the Triton pods expected in {here} ({source}) do not serve model "
            "{{ $labels.model }}: they are missing, "
            + ("down, or up without the model (without kube-state-metrics, readiness is not known)."
               if env.triton.expected_replicas else
               "not Ready (a model that failed to load keeps its pod unready, though Prometheus still "
               "scrapes it), or Ready without the model.")
            + " Its capacity is down by that many pods, and the others take its traffic."
            + (f" Not while spec.replicas changed within {t['replicas_missing'].scale_up_grace} (a scale-up "
               "loading its models)." if scaling else ""),
            runbook(env, "TritonReplicasMissing"),
        ),
    ]
    if not env.triton.expected_replicas:
        alerts.append(
            Alert(
                "TritonKubeStateMetricsAbsent",
                # Without kube-state-metrics the replicas alert has nothing to compare: no silent rule.
                f"group by ({keys}) (up{up})\nunless on ({keys})\ngroup by ({keys}) (kube_pod_status_ready{ns})\n"
                f"or\ngroup by ({keys}) (up{up})\nunless on ({keys})\ngroup by ({keys}) (kube_deployment_spec_replicas{deployment})",
                t["kube_state_metrics_absent"],
                f"kube-state-metrics reports nothing about Triton's pods in {here}",
                f"Prometheus ({env.prometheus_release}) scrapes Triton in {here} but holds no kube_pod_status_ready "
                "and kube_deployment_spec_replicas "
                f"series for it (kube-state-metrics): TritonReplicasMissing cannot tell pods that are missing or "
                "not Ready, and the Pods row of the dashboard is empty. Check that kube-state-metrics runs and "
                f"that this Prometheus scrapes it, and that Deployment {env.triton.deployment} exists "
                "(triton.deployment); or set triton.expected_replicas to count pods without it.",
                runbook(env, "TritonKubeStateMetricsAbsent"),
            )
        )
    return alerts


def _errors(env: Environment) -> list[Alert]:
    t = env.thresholds
    ns = selector(env)
    keys = by(env, "model")
    here = where(env)
    error = t["error_ratio"]
    no_success = t["no_successful_inference"]
    seconds_in_window = int(seconds(WINDOW))  # rate x window = failures in the window
    return [
        Alert(
            "TritonModelErrorRatioHigh",
            f"{SERVER_ERROR_RATIO}{ns} > {number(error.threshold)}\n"
            f"and on ({keys})\n"
            f"{ERROR_RATE}{ns} * {seconds_in_window} >= {number(error.min_failures)}",
            error,
            f"Model {{{{ $labels.model }}}} in {here} fails {{{{ $value | humanizePercentage }}}} of requests",
            f"{{{{ $value | humanizePercentage }}}} of inference requests to model {{{{ $labels.model }}}} in "
            f"{here} failed over the last {WINDOW} (threshold {error.threshold:.2%}, at least "
            f"{error.min_failures} failures; client cancellations are not counted). Requests refused "
            "because the queue is full are not counted by Triton at all: see the overload alerts. "
            "See the failure reasons on the Triton dashboard.",
            runbook(env, "TritonModelErrorRatioHigh"),
        ),
        *_slo.alerts(env),
        Alert(
            "TritonModelNoSuccessfulInference",
            # Requests still arrive (failing, or waiting) and none succeeds. Silence is not this:
            # a model whose clients went idle has no failures and nothing pending.
            # Failures are the SLO's (client cancellations are not the server failing), and at
            # least min_failures of them in the window: two on a rarely used model page nobody.
            f"(\n  {ERROR_RATE}{ns} * {seconds_in_window} >= {number(no_success.min_failures or 1)}\n"
            f"  or on ({keys})\n  {PENDING}{ns} > 0\n)\n"
            f"unless on ({keys})\n{SUCCESS_RATE}{ns} > 0",
            no_success,
            f"Model {{{{ $labels.model }}}} in {here} receives requests but none succeeds",
            f"Requests to model {{{{ $labels.model }}}} in {here} fail or stay pending, and not one "
            f"succeeded in the last {WINDOW}: clients of this model get errors or no answer.",
            runbook(env, "TritonModelNoSuccessfulInference"),
        ),
        Alert(
            "TritonModelUnavailable",
            # The model's series are gone (unloaded, failed to load, Triton restarted without it)
            # although it served within the last hour.
            f"group by ({keys}) (max_over_time({SUCCESS_RATE}{ns}[{RECENT}]) > 0)\n"
            f"unless on ({keys})\n"
            f"group by ({keys}) (nv_inference_request_success{ns})",
            t["model_unavailable"],
            f"Model {{{{ $labels.model }}}} in {here} is no longer served",
            f"Model {{{{ $labels.model }}}} served requests in {here} within the last {RECENT}, and no "
            "Triton pod exposes it any more: it was unloaded, failed to load, or Triton restarted "
            "without it. Fires until an hour after its last success; silence it if it was retired.",
            runbook(env, "TritonModelUnavailable"),
        ),
    ]


def _latency_and_overload(env: Environment) -> list[Alert]:
    t = env.thresholds
    ns = selector(env)
    keys = by(env, "model")
    here = where(env)
    latency = t["request_latency_us"]
    if env.triton.summary_latencies:
        value = (f'max by ({keys}) (nv_inference_request_summary_us{_ns(env, ", quantile=" + chr(34) + "0.99" + chr(34))})'
                 f" / {MICROSECONDS_PER_SECOND}")
        measure, signal = "p99 latency", "p99 of Triton's summary (summary_latencies), the slowest pod"
    else:
        value = f"{LATENCY_MEAN}{_ns(env)} / {MICROSECONDS_PER_SECOND}"
        measure, signal = "average latency", "average over the last " + WINDOW
    queue_caps = {m: s.max_queue_size for m, s in env.models.items() if s.max_queue_size}
    alerts = [
        Alert(
            "TritonModelLatencyHigh",
            _per_model(env, value, "request_latency_us", latency.threshold, 1e-6),
            latency,
            f"Model {{{{ $labels.model }}}} in {here} takes {{{{ $value | humanizeDuration }}}} per request",
            f"The {measure} of model {{{{ $labels.model }}}} in {here} is {{{{ $value | humanizeDuration }}}} "
            f"({signal}), above its objective (default {number(latency.threshold / 1e6)}s; per model in "
            "environments.yaml `models:`). Time inside Triton only: queue plus compute.",
            runbook(env, "TritonModelLatencyHigh"),
        ),
        Alert(
            "TritonModelQueueTimeHigh",
            f"{QUEUE_MEAN}{ns} / {MICROSECONDS_PER_SECOND} > {number(t['queue_time_us'].threshold / 1e6)}",
            t["queue_time_us"],
            f"Requests to model {{{{ $labels.model }}}} in {here} wait {{{{ $value | humanizeDuration }}}} in the queue",
            f"Requests to model {{{{ $labels.model }}}} in {here} wait {{{{ $value | humanizeDuration }}}} on "
            f"average in Triton's queue before they run (over the last {WINDOW}; threshold "
            f"{number(t['queue_time_us'].threshold / 1e6)}s). The model has too few instances for its traffic.",
            runbook(env, "TritonModelQueueTimeHigh"),
        ),
        Alert(
            "TritonModelBacklogHigh",
            f"{PENDING}{ns} > {number(t['pending_requests'].threshold)}",
            t["pending_requests"],
            f"{{{{ $value | humanize }}}} requests are pending for model {{{{ $labels.model }}}} in {here}",
            f"{{{{ $value | humanize }}}} requests are waiting for model {{{{ $labels.model }}}} in {here} "
            f"(all pods), more than {number(t['pending_requests'].threshold)}, for "
            f"{t['pending_requests'].for_}. Triton receives more than it completes.",
            runbook(env, "TritonModelBacklogHigh"),
        ),
        Alert(
            "TritonModelBacklogSecondsHigh",
            f"{BACKLOG_SECONDS}{ns} > {number(t['backlog_seconds'].threshold)}",
            t["backlog_seconds"],
            f"Model {{{{ $labels.model }}}} in {here} has {{{{ $value | humanizeDuration }}}} of backlog",
            f"At the rate model {{{{ $labels.model }}}} in {here} completes requests, its pending requests "
            f"take {{{{ $value | humanizeDuration }}}} to drain (threshold {number(t['backlog_seconds'].threshold)}s): "
            "every new request waits about that long.",
            runbook(env, "TritonModelBacklogSecondsHigh"),
        ),
    ]
    if queue_caps:
        full = t["queue_full"]
        caps = "\nor\n".join(
            f"{PENDING_MAX}{selector(env, model=model)} / {cap} >= {number(full.threshold)}"
            for model, cap in sorted(queue_caps.items())
        )
        alerts.append(Alert(
            "TritonModelQueueNearFull",
            caps,
            full,
            f"The queue of model {{{{ $labels.model }}}} in {here} is {{{{ $value | humanizePercentage }}}} full",
            f"A Triton pod holds {{{{ $value | humanizePercentage }}}} of model {{{{ $labels.model }}}}'s "
            f"max_queue_size pending in {here} (threshold {full.threshold:.0%}). Requests that find the "
            "queue full get HTTP 503 and are counted in no Triton metric: clients see errors that the "
            "error-ratio and SLO alerts cannot see.",
            runbook(env, "TritonModelQueueNearFull"),
        ))
    return alerts


def _pods(env: Environment) -> list[Alert]:
    """The pod's resources from cAdvisor and kube-state-metrics, for Triton's pods only (those
    that are Triton targets), the way kubernetes-mixin's CPUThrottlingHigh reads them."""
    t = env.thresholds
    ns = selector(env)
    keys = by(env)
    here = where(env)
    container = selector(env)[:-1] + ', container!=""}'
    triton_pods = f"and on ({keys}, pod)\ngroup by ({keys}, pod) (up{selector(env, job=env.triton.job)})"
    per_container = f"{keys}, pod, container"
    alerts = [
        Alert(
            "TritonNodeCPUSaturated",
            f"max by ({keys}, pod) (nv_cpu_utilization{ns}) > {number(t['cpu_utilization'].threshold)}",
            t["cpu_utilization"],
            f"The node of Triton pod {{{{ $labels.pod }}}} in {here} is at {{{{ $value | humanizePercentage }}}} CPU",
            "Triton reads /proc/stat, which inside a container is the node's: the node running pod "
            f"{{{{ $labels.pod }}}} in {here} uses {{{{ $value | humanizePercentage }}}} of its CPU "
            f"(threshold {t['cpu_utilization'].threshold:.0%}). Context, not the pod's own usage: see "
            + ("kube-prometheus-stack's CPUThrottlingHigh and the dashboard's Pod CPU against limit"
               if env.kubernetes_mixin_alerts else "TritonPodCPUThrottled") + " for the pod.",
            runbook(env, "TritonNodeCPUSaturated"),
        ),
        Alert(
            "TritonPodCPUThrottled",
            f"sum by ({per_container}) (increase(container_cpu_cfs_throttled_periods_total{container}[{WINDOW}]))\n"
            f"/ on ({per_container})\n"
            f"sum by ({per_container}) (increase(container_cpu_cfs_periods_total{container}[{WINDOW}]))\n"
            f"> {number(t['pod_cpu_throttling'].threshold)}\n{triton_pods}",
            t["pod_cpu_throttling"],
            f"Triton container {{{{ $labels.container }}}} of pod {{{{ $labels.pod }}}} in {here} is CPU-throttled",
            f"{{{{ $value | humanizePercentage }}}} of the CFS periods of container {{{{ $labels.container }}}} "
            f"in Triton pod {{{{ $labels.pod }}}} ({here}) were throttled over the last {WINDOW} "
            f"(threshold {t['pod_cpu_throttling'].threshold:.0%}): the pod hits its CPU limit and its "
            "requests queue.",
            runbook(env, "TritonPodCPUThrottled"),
        ),
        Alert(
            "TritonPodMemoryNearLimit",
            f"max by ({per_container}) (container_memory_working_set_bytes{container})\n"
            f"/ on ({per_container})\n"
            f"max by ({per_container}) (kube_pod_container_resource_limits{ns[:-1]}, resource=\"memory\"}})\n"
            f"> {number(t['pod_memory'].threshold)}\n{triton_pods}",
            t["pod_memory"],
            f"Triton container {{{{ $labels.container }}}} of pod {{{{ $labels.pod }}}} in {here} is near its memory limit",
            f"Container {{{{ $labels.container }}}} of Triton pod {{{{ $labels.pod }}}} ({here}) uses "
            f"{{{{ $value | humanizePercentage }}}} of its memory limit (threshold "
            f"{t['pod_memory'].threshold:.0%}): loading another model, or a larger batch, gets it OOM-killed.",
            runbook(env, "TritonPodMemoryNearLimit"),
        ),
        Alert(
            "TritonPodRestarting",
            f"sum by ({per_container}) (increase(kube_pod_container_status_restarts_total{ns}[{RESTART_WINDOW}]))\n"
            f">= {number(t['pod_restarts'].threshold)}\n{triton_pods}",
            t["pod_restarts"],
            f"Triton container {{{{ $labels.container }}}} of pod {{{{ $labels.pod }}}} in {here} restarts",
            f"Container {{{{ $labels.container }}}} of Triton pod {{{{ $labels.pod }}}} ({here}) restarted "
            f"{{{{ $value | humanize }}}} times in the last {RESTART_WINDOW}: every restart reloads the "
            "models, and their requests fail meanwhile.",
            runbook(env, "TritonPodRestarting"),
        ),
        Alert(
            "TritonPodOOMKilled",
            f"max by ({per_container}) (kube_pod_container_status_last_terminated_reason{ns[:-1]}, reason=\"OOMKilled\"}}) == 1\n"
            f"and on ({per_container})\n"
            f"sum by ({per_container}) (increase(kube_pod_container_status_restarts_total{ns}[{RESTART_WINDOW}])) > 0\n"
            f"{triton_pods}",
            t["pod_oom_killed"],
            f"Triton container {{{{ $labels.container }}}} of pod {{{{ $labels.pod }}}} in {here} was OOM-killed",
            f"Container {{{{ $labels.container }}}} of Triton pod {{{{ $labels.pod }}}} ({here}) was killed for "
            f"exceeding its memory limit within the last {RESTART_WINDOW}.",
            runbook(env, "TritonPodOOMKilled"),
        ),
    ]
    if env.kubernetes_mixin_alerts:
        alerts = [alert for alert in alerts if alert.name not in SAID_BY_KUBERNETES_MIXIN]
    return alerts


def rules(env: Environment) -> list[Group]:
    return [
        _recording(env),
        *_slo.recording(env),
        Group("triton.alerts", [*_targets(env), *_errors(env), *_latency_and_overload(env)]),
        Group("triton.pods", _pods(env)),
    ]
