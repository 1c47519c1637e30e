"""A fleet on one machine: Triton-shaped and Kubernetes-shaped metrics endpoints, Prometheus servers
that label everything with their cluster (external_labels) and remote_write it into one
VictoriaMetrics (the global-view layout Thanos, Mimir and VictoriaMetrics cluster serve through the
same query API), and a tenant proxy in front of it that behaves like VictoriaMetrics cluster or
Mimir (a path prefix and a tenant header).

The endpoints serve what the real exporters serve, with the same names, types and labels:
  - Triton 2.51's /metrics (docs/triton-facts.md): per model and version counters, the
    pending gauge, the node's CPU and memory, and the summary_latencies summaries;
  - cAdvisor and kube-state-metrics as kube-prometheus-stack scrapes them (namespace, pod,
    container), including a pod that is not Triton's, which the dashboard must leave out.
Counters grow with wall-clock time, so rate() is steady and known.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import yaml

from tests.conftest import require_binary
from tests.stack import servers

TRITON_COUNTERS = {
    # metric: value per successful request
    "nv_inference_request_success": 1.0,
    "nv_inference_count": 1.0,
    "nv_inference_exec_count": 1.0,
    "nv_inference_request_duration_us": 2000.0,
    "nv_inference_queue_duration_us": 300.0,
    "nv_inference_compute_input_duration_us": 100.0,
    "nv_inference_compute_infer_duration_us": 1500.0,
    "nv_inference_compute_output_duration_us": 100.0,
}
FAILURE_REASONS = ("OTHER", "BACKEND", "REJECTED", "CANCELED")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


@dataclass
class TritonShape:
    """What one Triton process serves: models (name, version) with a request rate each."""

    models: dict[tuple[str, str], float] = field(default_factory=lambda: {
        ("simple_model", "1"): 4.0, ("simple_model", "2"): 1.0, ("identity_model", "1"): 2.0})
    failure_ratio: float = 0.05
    started: float = field(default_factory=time.time)

    def text(self) -> str:
        t = time.time() - self.started
        lines = []
        for metric, per_request in TRITON_COUNTERS.items():
            lines.append(f"# TYPE {metric} counter")
            for (model, version), rps in self.models.items():
                lines.append(f"{metric}{_labels(model=model, version=version)} {rps * t * per_request:.3f}")
        lines.append("# TYPE nv_inference_request_failure counter")
        for (model, version), rps in self.models.items():
            for reason in FAILURE_REASONS:
                value = rps * t * self.failure_ratio if reason == "BACKEND" else 0.0
                lines.append(f"nv_inference_request_failure{_labels(model=model, reason=reason, version=version)} "
                             f"{value:.3f}")
        lines.append("# TYPE nv_inference_pending_request_count gauge")
        for (model, version), _ in self.models.items():
            lines.append(f"nv_inference_pending_request_count{_labels(model=model, version=version)} 2")
        for metric, value in (("nv_cpu_utilization", 0.35), ("nv_cpu_memory_total_bytes", 64e9),
                              ("nv_cpu_memory_used_bytes", 20e9)):
            lines += [f"# TYPE {metric} gauge", f"{metric} {value}"]
        for metric, base in (("nv_inference_request_summary_us", 2000.0), ("nv_inference_queue_summary_us", 300.0)):
            lines.append(f"# TYPE {metric} summary")
            for (model, version), rps in self.models.items():
                for quantile, factor in (("0.5", 1.0), ("0.9", 1.8), ("0.95", 2.2), ("0.99", 3.0), ("0.999", 4.0)):
                    lines.append(f"{metric}{_labels(model=model, version=version, quantile=quantile)} {base * factor}")
                lines.append(f"{metric}_sum{_labels(model=model, version=version)} {base * rps * t:.3f}")
                lines.append(f"{metric}_count{_labels(model=model, version=version)} {rps * t:.3f}")
        return "\n".join(lines) + "\n"


@dataclass
class KubernetesShape:
    """cAdvisor and kube-state-metrics series for Triton's pods and one other pod of the namespace."""

    namespace: str
    pods: list[str]
    other_pod: str = "client-0"
    started: float = field(default_factory=time.time)
    # Pods kube-state-metrics reports not Ready (scraped all the same, as a failed model load leaves them).
    unready: set[str] = field(default_factory=set)

    def text(self) -> str:
        t = time.time() - self.started
        ns = self.namespace
        lines = ["# TYPE container_cpu_usage_seconds_total counter",
                 "# TYPE container_cpu_cfs_periods_total counter",
                 "# TYPE container_cpu_cfs_throttled_periods_total counter",
                 "# TYPE container_memory_working_set_bytes gauge",
                 "# TYPE kube_pod_container_resource_limits gauge",
                 "# TYPE kube_pod_container_status_restarts_total counter",
                 "# TYPE kube_deployment_spec_replicas gauge",
                 "# TYPE kube_pod_status_ready gauge"]
        for pod, container, cores in [*((p, "triton", 1.5) for p in self.pods), (self.other_pod, "client", 3.0)]:
            main = _labels(namespace=ns, pod=pod, container=container)
            # cAdvisor's pod-level cgroup (container="") repeats the sum: a query must not count it twice
            for labels in (main, _labels(namespace=ns, pod=pod, container="")):
                lines.append(f"container_cpu_usage_seconds_total{labels} {cores * t:.3f}")
                lines.append(f"container_memory_working_set_bytes{labels} 1500000000")
            lines.append(f"container_cpu_cfs_periods_total{main} {10 * t:.3f}")
            lines.append(f"container_cpu_cfs_throttled_periods_total{main} {t:.3f}")
            lines.append(f'kube_pod_container_resource_limits{_labels(namespace=ns, pod=pod, container=container, resource="cpu", unit="core")} 2')
            lines.append(f'kube_pod_container_resource_limits{_labels(namespace=ns, pod=pod, container=container, resource="memory", unit="byte")} 4000000000')
            lines.append(f"kube_pod_container_status_restarts_total{main} 1")
            # As kube-state-metrics writes it: one series per condition, 1 on the one that holds.
            ready = pod not in self.unready
            for condition, value in (("true", ready), ("false", not ready), ("unknown", False)):
                lines.append(f"kube_pod_status_ready{_labels(namespace=ns, pod=pod, condition=condition)} {int(value)}")
        lines.append(f"kube_deployment_spec_replicas{_labels(namespace=ns, deployment='triton')} {len(self.pods)}")
        return "\n".join(lines) + "\n"


@dataclass
class Endpoint:
    url: str

    @property
    def target(self) -> str:
        return self.url.split("://", 1)[1].split("/", 1)[0]


@contextlib.contextmanager
def metrics_endpoint(text: Callable[[], str]) -> Iterator[Endpoint]:
    """An HTTP server on 127.0.0.1 answering /metrics with text(), stopped on exit."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = text().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", servers.free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Endpoint(f"http://127.0.0.1:{server.server_address[1]}/metrics")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def cluster_config(cluster: str, triton_targets: list[tuple[str, dict[str, str]]], kubernetes_target: str,
                   rule_files: list[Path], remote_write_url: str, interval: str = "1s") -> dict:
    """A cluster's Prometheus: Triton through its Service labels, cAdvisor and kube-state-metrics
    with their own labels kept (honor_labels, as kube-prometheus-stack does), everything labelled
    with the cluster on the way out."""
    config = servers.scrape_config(triton_targets, interval, rule_files)
    config["global"]["external_labels"] = {"cluster": cluster}
    config["scrape_configs"].append({
        "job_name": "kubelet", "scrape_interval": interval, "honor_labels": True,
        "static_configs": [{"targets": [kubernetes_target]}],
    })
    config["remote_write"] = [{"url": remote_write_url,
                               "queue_config": {"batch_send_deadline": "1s", "min_backoff": "100ms"}}]
    return config


@contextlib.contextmanager
def prometheus_with_config(workdir: Path, config: dict) -> Iterator[servers.PromServer]:
    binary = require_binary("prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = servers.free_port()
    argv = [binary, f"--config.file={path}", f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={workdir / 'data'}", "--log.level=warn"]
    url = f"http://127.0.0.1:{port}"
    with servers.process("prometheus", argv, workdir, f"{url}/-/ready") as proc:
        yield servers.PromServer(url, proc)


@contextlib.contextmanager
def victoria_metrics_receiver(workdir: Path) -> Iterator[servers.PromServer]:
    """A single VictoriaMetrics that only receives remote_write (no scraping of its own)."""
    binary = require_binary("victoria-metrics")
    workdir.mkdir(parents=True, exist_ok=True)
    port = servers.free_port()
    argv = [binary, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={workdir / 'data'}",
            "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=WARN"]
    url = f"http://127.0.0.1:{port}"
    with servers.process("victoria-metrics", argv, workdir, f"{url}/health") as proc:
        yield servers.PromServer(url, proc)


@dataclass
class TenantProxy:
    url: str  # with the path prefix: <base>/select/<tenant>/prometheus
    header: str
    tenant: str
    requests: list[dict] = field(default_factory=list)


@contextlib.contextmanager
def tenant_proxy(backend: str, tenant: str, header: str = "X-Scope-OrgID") -> Iterator[TenantProxy]:
    """VictoriaMetrics cluster's and Mimir's shape in front of a single VictoriaMetrics: the query
    API under /select/0/prometheus, and only for requests carrying the tenant header. A refused
    request's body echoes the header value, as some servers do, so a test can prove gen never
    prints it."""
    prefix = "/select/0/prometheus"
    proxy = TenantProxy("", header, tenant)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _refuse(self, status: int, message: str) -> None:
            body = message.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self, body: bytes | None) -> None:
            proxy.requests.append({"path": self.path, "tenant": self.headers.get(header)})
            if not self.path.startswith(prefix + "/"):
                return self._refuse(404, "unsupported path requested: " + self.path.split("?")[0])
            given = self.headers.get(header)
            if given != tenant:
                return self._refuse(401, f"no or unknown org id: {given!r}")
            request = urllib.request.Request(backend + self.path[len(prefix):], data=body, method=self.command)
            if self.headers.get("Content-Type"):
                request.add_header("Content-Type", self.headers["Content-Type"])
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, payload, kind = response.status, response.read(), response.headers.get("Content-Type")
            except urllib.error.HTTPError as exc:
                status, payload, kind = exc.code, exc.read(), exc.headers.get("Content-Type")
            self.send_response(status)
            self.send_header("Content-Type", kind or "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):  # noqa: N802
            self._forward(None)

        def do_POST(self):  # noqa: N802
            self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", servers.free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
