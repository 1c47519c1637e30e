"""Recording and alerting rules for Triton Inference Server, per environment.

Every threshold, `for` and severity comes from environments.yaml (env.thresholds). The recording
rules are the shared aggregates: the alerts below and the dashboard's overview read them instead
of recomputing rates over every pod's raw series. Each rule selects the environment's namespace,
so two environments on one Prometheus never record the same series twice.

Durations are cumulative microsecond counters: an average is rate(duration) / rate(requests).
Alerts on durations divide by 1e6 so that `humanizeDuration` prints the value in the annotations.
"""

from __future__ import annotations

from alerts._rules import Alert, Group, Recording, number, runbook, selector
from gen.settings import Environment

WINDOW = "5m"
# "Had traffic" for TritonModelNoSuccessfulInference: successes in the last hour.
TRAFFIC_MEMORY = "1h"
# Pending requests must also be rising over this window to count as a growing backlog.
BACKLOG_TREND_WINDOW = "10m"

# Recorded series, level:metric:operations.
SUCCESS_RATE = f"namespace_model:nv_inference_request_success:rate{WINDOW}"
FAILURE_RATE = f"namespace_model:nv_inference_request_failure:rate{WINDOW}"
DURATION_RATE = f"namespace_model:nv_inference_request_duration_us:rate{WINDOW}"
QUEUE_RATE = f"namespace_model:nv_inference_queue_duration_us:rate{WINDOW}"
LATENCY_MEAN = f"namespace_model:nv_inference_request_duration_us:mean{WINDOW}"
QUEUE_MEAN = f"namespace_model:nv_inference_queue_duration_us:mean{WINDOW}"
ERROR_RATIO = f"namespace_model:nv_inference_request_failures_per_request:ratio_rate{WINDOW}"

BY_MODEL = "sum by (namespace, model)"
MICROSECONDS_PER_SECOND = "1000000"


def _recording(env: Environment) -> Group:
    ns = selector(env)

    def rate(metric: str) -> str:
        return f"{BY_MODEL} (rate({metric}{ns}[{WINDOW}]))"

    # A model with no failure series yet (Triton before 2.51 creates it on the first failure)
    # counts 0 failures, so its error ratio is 0 rather than missing.
    failures = f"({FAILURE_RATE}{ns} or {SUCCESS_RATE}{ns} * 0)"
    return Group(
        "triton.recording",
        [
            Recording(SUCCESS_RATE, rate("nv_inference_request_success")),
            Recording(FAILURE_RATE, rate("nv_inference_request_failure")),
            Recording(DURATION_RATE, rate("nv_inference_request_duration_us")),
            Recording(QUEUE_RATE, rate("nv_inference_queue_duration_us")),
            # `> 0` drops idle models: no traffic is no latency, not NaN.
            Recording(LATENCY_MEAN, f"{DURATION_RATE}{ns}\n/\n({SUCCESS_RATE}{ns} > 0)"),
            Recording(QUEUE_MEAN, f"{QUEUE_RATE}{ns}\n/\n({SUCCESS_RATE}{ns} > 0)"),
            Recording(ERROR_RATIO, f"{failures}\n/\n(({SUCCESS_RATE}{ns} + {failures}) > 0)"),
        ],
    )


def _alerts(env: Environment) -> Group:
    t = env.thresholds
    ns = selector(env)
    up = selector(env, job=env.triton.job)
    service = ", ".join(f"{k}={v}" for k, v in env.triton.service_labels.items())

    def seconds(microseconds: float) -> str:
        return number(microseconds / 1e6)

    rules = [
        Alert(
            "TritonTargetDown",
            f"up{up} == 0",
            t["target_down"],
            "Triton target {{ $labels.instance }} in {{ $labels.namespace }} is down",
            "Prometheus cannot scrape Triton's metrics endpoint on {{ $labels.pod }} "
            "({{ $labels.instance }}) in namespace {{ $labels.namespace }}: the pod is down, "
            "restarting or its metrics port is not answering.",
            runbook(env, "TritonTargetDown"),
        ),
        Alert(
            "TritonTargetAbsent",
            f"absent(up{up})",
            t["target_down"],
            "No Triton target is scraped in {{ $labels.namespace }}",
            f"Prometheus ({env.prometheus_release}) has no target with job {env.triton.job} in namespace "
            "{{ $labels.namespace }}: Triton is not running, or the ServiceMonitor is not selected "
            f"(label release={env.prometheus_release}) or does not match the Service ({service}, "
            f"port {env.triton.metrics_port}).",
            runbook(env, "TritonTargetAbsent"),
        ),
        Alert(
            "TritonModelErrorRatioHigh",
            f"{ERROR_RATIO}{ns} > {number(t['error_ratio'].threshold)}",
            t["error_ratio"],
            "Model {{ $labels.model }} in {{ $labels.namespace }} fails "
            "{{ $value | humanizePercentage }} of requests",
            "{{ $value | humanizePercentage }} of inference requests to model {{ $labels.model }} in "
            f"namespace {{{{ $labels.namespace }}}} failed over the last {WINDOW} (threshold "
            f"{t['error_ratio'].threshold:.2%}). See the failure reasons on the Triton dashboard.",
            runbook(env, "TritonModelErrorRatioHigh"),
        ),
        Alert(
            "TritonModelLatencyHigh",
            f"{LATENCY_MEAN}{ns} / {MICROSECONDS_PER_SECOND} > {seconds(t['request_latency_us'].threshold)}",
            t["request_latency_us"],
            "Model {{ $labels.model }} in {{ $labels.namespace }} averages "
            "{{ $value | humanizeDuration }} per request",
            "The average request latency of model {{ $labels.model }} in namespace "
            "{{ $labels.namespace }} is {{ $value | humanizeDuration }} over the last "
            f"{WINDOW}, above the threshold of {seconds(t['request_latency_us'].threshold)}s.",
            runbook(env, "TritonModelLatencyHigh"),
        ),
        Alert(
            "TritonModelQueueTimeHigh",
            f"{QUEUE_MEAN}{ns} / {MICROSECONDS_PER_SECOND} > {seconds(t['queue_time_us'].threshold)}",
            t["queue_time_us"],
            "Requests to model {{ $labels.model }} in {{ $labels.namespace }} wait "
            "{{ $value | humanizeDuration }} in the queue",
            "Requests to model {{ $labels.model }} in namespace {{ $labels.namespace }} wait "
            "{{ $value | humanizeDuration }} on average in Triton's queue before they run (over the last "
            f"{WINDOW}; threshold {seconds(t['queue_time_us'].threshold)}s). The model has too few "
            "instances for its traffic.",
            runbook(env, "TritonModelQueueTimeHigh"),
        ),
        Alert(
            "TritonModelBacklogGrowing",
            f"{BY_MODEL} (nv_inference_pending_request_count{ns}) > {number(t['pending_requests'].threshold)}\n"
            f"and on (namespace, model)\n"
            f"{BY_MODEL} (deriv(nv_inference_pending_request_count{ns}[{BACKLOG_TREND_WINDOW}])) > 0",
            t["pending_requests"],
            "{{ $value | humanize }} requests are pending for model {{ $labels.model }} in "
            "{{ $labels.namespace }}",
            "{{ $value | humanize }} requests are waiting for model {{ $labels.model }} in namespace "
            f"{{{{ $labels.namespace }}}}, more than {number(t['pending_requests'].threshold)}, and the "
            f"backlog has been rising over the last {BACKLOG_TREND_WINDOW}.",
            runbook(env, "TritonModelBacklogGrowing"),
        ),
        Alert(
            "TritonCPUSaturated",
            f"max by (namespace, pod) (nv_cpu_utilization{ns}) > {number(t['cpu_utilization'].threshold)}",
            t["cpu_utilization"],
            "Triton pod {{ $labels.pod }} in {{ $labels.namespace }} uses "
            "{{ $value | humanizePercentage }} CPU",
            "CPU utilization of Triton pod {{ $labels.pod }} in namespace {{ $labels.namespace }} is "
            "{{ $value | humanizePercentage }}, above "
            f"{t['cpu_utilization'].threshold:.0%}; requests will queue and latency will grow.",
            runbook(env, "TritonCPUSaturated"),
        ),
        Alert(
            "TritonModelNoSuccessfulInference",
            # `unless` rather than `== 0`: an unloaded model has no series at all any more.
            f"(\n"
            f"  {BY_MODEL} (rate(nv_inference_request_success{ns}[{TRAFFIC_MEMORY}])) > 0\n"
            f"  or\n"
            f"  {FAILURE_RATE}{ns} > 0\n"
            f")\n"
            f"unless on (namespace, model)\n"
            f"{SUCCESS_RATE}{ns} > 0",
            t["no_successful_inference"],
            "Model {{ $labels.model }} in {{ $labels.namespace }} serves no successful inference",
            "Model {{ $labels.model }} in namespace {{ $labels.namespace }} had traffic (successes in "
            f"the last {TRAFFIC_MEMORY}, or failing requests now) but no request succeeded in the last "
            f"{WINDOW}: the model may be unloaded, failing every request, or clients can no longer "
            "reach it.",
            runbook(env, "TritonModelNoSuccessfulInference"),
        ),
    ]
    return Group("triton.alerts", rules)


def rules(env: Environment) -> list[Group]:
    return [_recording(env), _alerts(env)]
