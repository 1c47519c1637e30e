"""Triton Inference Server: traffic, latency, queueing, batching and resources per model.

Facts come from Triton's metrics documentation (and what Triton 2.51 exposes, see
shared/triton/README.md), not from Triton's example dashboards, which use stale metric names
and label compute time per second as latency. Durations are cumulative microsecond counters, so
an average is rate(duration) / rate(requests).
"""

from __future__ import annotations

from grafanalib.core import Dashboard, Time

from dashboards._panels import (
    BYTES,
    COUNT,
    MICROSECONDS,
    NS,
    NS_MODEL,
    PERCENT_0_1,
    RATE,
    REQUESTS_PER_SECOND,
    Row,
    layout,
    rate,
    ratio,
    stat,
    target,
    targets,
    timeseries,
    uid_for,
    variables,
)
from alerts.triton import DURATION_RATE, FAILURE_RATE, SUCCESS_RATE
from gen.settings import Environment

NAME = "triton"
TITLE = "Triton Inference Server"

SUCCESS = "nv_inference_request_success"
FAILURE = "nv_inference_request_failure"


def _failures(by: str) -> str:
    """Failure rate, or 0 where a model has no failure series yet: Triton before 2.x creates the
    failure series on the first failure only, and without this fallback the error ratio of a
    healthy model would be "no data" instead of 0."""
    return f"({rate(FAILURE, by=by)} or {rate(SUCCESS, by=by)} * 0)"


def _error_ratio(by: str) -> str:
    failures = _failures(by)
    return ratio(failures, f"({rate(SUCCESS, by=by)} + {failures})")


def _avg_duration(metric: str, by: str = "model") -> str:
    return ratio(rate(metric, by=by), rate(SUCCESS, by=by))


def _recorded(series: str) -> str:
    """All selected models together, from a per-namespace-and-model recording rule (alerts/):
    summing a handful of recorded series is much cheaper than rating every pod's raw counters."""
    return f"sum({series}{{{NS_MODEL}}})"


def _recorded_error_ratio() -> str:
    failures = f"({_recorded(FAILURE_RATE)} or {_recorded(SUCCESS_RATE)} * 0)"
    return ratio(failures, f"({_recorded(SUCCESS_RATE)} + {failures})")


def dashboard(env: Environment) -> Dashboard:
    overview = Row(
        "Overview",
        [
            stat(
                "Inferences in range",
                "Inferences Triton ran in the selected time range for the selected models "
                "(nv_inference_count; a batch of 8 counts as 8).",
                f"sum(increase(nv_inference_count{{{NS_MODEL}}}[$__range]))",
                COUNT,
            ),
            stat(
                "Successful requests/s",
                "Successful inference requests per second, all selected models together, over the "
                "last 5 minutes (recording rule).",
                _recorded(SUCCESS_RATE),
                REQUESTS_PER_SECOND,
                decimals=2,
            ),
            stat(
                "Error ratio",
                "Failed requests / all requests, selected models together, over the last 5 minutes "
                "(recording rules). Failures are counted by Triton with a reason (BACKEND, REJECTED, "
                "CANCELED, OTHER).",
                _recorded_error_ratio(),
                PERCENT_0_1,
                decimals=2,
                thresholds=[
                    {"color": "green", "value": None},
                    {"color": "orange", "value": env.thresholds["error_ratio"].threshold / 2},
                    {"color": "red", "value": env.thresholds["error_ratio"].threshold},
                ],
            ),
            stat(
                "Average latency",
                "Average end-to-end request time inside Triton (queue + compute), selected models "
                "together, over the last 5 minutes (recording rules).",
                ratio(_recorded(DURATION_RATE), _recorded(SUCCESS_RATE)),
                MICROSECONDS,
                thresholds=[
                    {"color": "green", "value": None},
                    {"color": "red", "value": env.thresholds["request_latency_us"].threshold},
                ],
            ),
        ],
    )

    traffic = Row(
        "Traffic and errors",
        [
            timeseries(
                "Requests per second (RPS)",
                "Successful inference requests per second, by model (rate of nv_inference_request_success).",
                [target(rate(SUCCESS), "{{model}}")],
                REQUESTS_PER_SECOND,
                width=8,
            ),
            timeseries(
                "Failures by reason",
                "Failed inference requests per second by model and reason (nv_inference_request_failure). "
                "BACKEND: the model raised an error; REJECTED: the scheduler refused the request "
                "(queue full or timed out); CANCELED: the client went away; OTHER: anything else.",
                [target(rate(FAILURE, by="model, reason"), "{{model}} {{reason}}")],
                REQUESTS_PER_SECOND,
                width=8,
            ),
            timeseries(
                "Error ratio by model",
                "Failed / all requests by model. Empty for a model without traffic: a ratio of nothing "
                "is not 0.",
                [target(_error_ratio(by="model"), "{{model}}")],
                PERCENT_0_1,
                width=8,
                max_value=1,
            ),
        ],
    )

    latency = Row(
        "Latency",
        [
            timeseries(
                "Average request latency",
                "Average end-to-end time of a successful request inside Triton, by model: "
                "rate(nv_inference_request_duration_us) / rate(nv_inference_request_success). "
                "Excludes network time between client and Triton.",
                [target(_avg_duration("nv_inference_request_duration_us"), "{{model}}")],
                MICROSECONDS,
                width=8,
            ),
            timeseries(
                "Average queue time",
                "Average time a request waited in Triton's scheduler queue before it ran, by model: "
                "rate(nv_inference_queue_duration_us) / rate(nv_inference_request_success). "
                "Growing queue time means the model needs more instances or larger batches.",
                [target(_avg_duration("nv_inference_queue_duration_us"), "{{model}}")],
                MICROSECONDS,
                width=8,
            ),
            timeseries(
                "Latency breakdown",
                "Where an average request spends its time, selected models together: queue, then "
                "compute input (copying inputs), compute infer (running the model) and compute output "
                "(copying outputs). Stacked, the parts add up to about the request latency.",
                targets(
                    (_avg_duration("nv_inference_queue_duration_us", by=""), "queue"),
                    (_avg_duration("nv_inference_compute_input_duration_us", by=""), "compute input"),
                    (_avg_duration("nv_inference_compute_infer_duration_us", by=""), "compute infer"),
                    (_avg_duration("nv_inference_compute_output_duration_us", by=""), "compute output"),
                ),
                MICROSECONDS,
                width=8,
                stacked=True,
            ),
        ],
    )

    batching = Row(
        "Queue and batching",
        [
            timeseries(
                "Pending requests",
                "Requests received by Triton and not yet executed, by model "
                "(nv_inference_pending_request_count). A steady rise is a backlog.",
                [target(f"sum by (model) (nv_inference_pending_request_count{{{NS_MODEL}}})", "{{model}}")],
                COUNT,
            ),
            timeseries(
                "Batching efficiency",
                "Inferences per model execution, by model: rate(nv_inference_count) / "
                "rate(nv_inference_exec_count). 1 means no batching; higher means the dynamic "
                "batcher groups requests.",
                [target(ratio(rate("nv_inference_count"), rate("nv_inference_exec_count")), "{{model}}")],
                COUNT,
            ),
        ],
    )

    resources = Row(
        "CPU",
        [
            timeseries(
                "CPU utilization",
                "CPU utilization of each Triton pod, 0 to 100% (nv_cpu_utilization).",
                [target(f"avg by (pod) (nv_cpu_utilization{{{NS}}})", "{{pod}}")],
                PERCENT_0_1,
                max_value=1,
            ),
            timeseries(
                "CPU memory used",
                "Host memory used by each Triton pod (nv_cpu_memory_used_bytes).",
                [target(f"sum by (pod) (nv_cpu_memory_used_bytes{{{NS}}})", "{{pod}}")],
                BYTES,
            ),
        ],
    )

    gpu = Row(
        "GPU (only with GPUs)",
        [
            timeseries(
                "GPU utilization",
                "Utilization of each GPU (nv_gpu_utilization, 0 to 1). Triton exposes GPU series only "
                "on a node with NVIDIA GPUs; empty otherwise.",
                [target(f"avg by (pod, gpu_uuid) (nv_gpu_utilization{{{NS}}})", "{{pod}} {{gpu_uuid}}")],
                PERCENT_0_1,
                max_value=1,
            ),
            timeseries(
                "GPU memory used",
                "GPU memory used on each GPU (nv_gpu_memory_used_bytes). Empty without GPUs.",
                [target(f"sum by (pod, gpu_uuid) (nv_gpu_memory_used_bytes{{{NS}}})", "{{pod}} {{gpu_uuid}}")],
                BYTES,
            ),
        ],
        collapsed=True,
    )

    return Dashboard(
        title=f"{TITLE} ({env.name})",
        uid=uid_for(NAME, env),
        description="Triton Inference Server: traffic, errors, latency, queueing, batching and resources.",
        tags=["triton", "inference", env.name],
        timezone="browser",
        refresh="30s",
        graphTooltip=1,
        time=Time("now-1h", "now"),
        templating=variables(env),
        panels=layout([overview, traffic, latency, batching, resources, gpu]),
    )
