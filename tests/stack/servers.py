"""Start real servers on 127.0.0.1 and free ports, and always stop them (whole process groups,
so Triton's own tritonserver child goes too). Logs stay in the test's directory and their tail is
part of any start-up error."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml

from tests.conftest import REPO, require_binary


# Under pytest-xdist each worker takes ports from a band of its own, below the kernel's ephemeral
# range: a port the kernel hands one worker (bind to 0, close, start the server) could be handed
# to another worker before the server binds it. Within a worker, tests run one at a time.
PORT_BAND, FIRST_BAND = 1500, 10000
_handed_out: set[int] = set()


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not worker[2:].isdigit() or FIRST_BAND + (int(worker[2:]) + 1) * PORT_BAND > 32768:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    start = FIRST_BAND + int(worker[2:]) * PORT_BAND
    for _ in range(2):
        for port in range(start, start + PORT_BAND):
            if port in _handed_out:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
        _handed_out.clear()  # each port of the band was handed out once: the earliest servers are gone
    raise RuntimeError(f"no free port in {start}-{start + PORT_BAND - 1} for {worker}")


def http_status(url: str, timeout: float = 2.0, insecure: bool = False) -> int | None:
    import ssl

    context = ssl._create_unverified_context() if insecure else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """Gone at once, children and all, as a pod that is OOM-killed or loses its node: the
        endpoint and every series vanish together. (stop() lets Triton shut down gracefully, and
        Triton unloads its models, their series gone from a /metrics still up, before it exits.)"""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)

    def stop(self, grace: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Children (tritonserver) may outlive their parent: the group goes in any case.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)


@contextlib.contextmanager
def process(name: str, argv: list[str], workdir: Path, ready_url: str, timeout: float = 90.0,
            env: dict | None = None, tls_insecure: bool = False) -> Iterator[Process]:
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    with open(log, "wb") as handle:
        popen = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                                 env={**os.environ, **(env or {})})
    proc = Process(name, popen, log)
    try:
        deadline = time.monotonic() + timeout
        while http_status(ready_url, insecure=tls_insecure) != 200:
            if popen.poll() is not None:
                raise RuntimeError(f"{name} exited with {popen.returncode} during start-up:\n{proc.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready at {ready_url} after {timeout:.0f}s:\n{proc.tail()}")
            time.sleep(0.2)
        yield proc
    finally:
        proc.stop()


@dataclass
class TritonServer:
    http_url: str
    metrics_port: int
    process: Process

    @property
    def metrics_target(self) -> str:
        return f"127.0.0.1:{self.metrics_port}"


@contextlib.contextmanager
def _triton_app(name: str, module: str, workdir: Path, first_model: str, last_model: str,
                extra: list[str] = ()) -> Iterator[TritonServer]:
    """A pytriton app from tests/stack/, ready once its first model answers, then its last one and
    /metrics (pytriton binds the models one by one)."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    argv = [sys.executable, "-m", module, "--http-port", str(http), "--grpc-port", str(grpc),
            "--metrics-port", str(metrics), *extra]
    base = f"http://127.0.0.1:{http}"
    with process(name, argv, workdir, f"{base}/v2/models/{first_model}/ready", timeout=180) as proc:
        deadline = time.monotonic() + 60
        while http_status(f"{base}/v2/models/{last_model}/ready") != 200 or http_status(
            f"http://127.0.0.1:{metrics}/metrics"
        ) != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Triton models or metrics not ready:\n{proc.tail()}")
            time.sleep(0.2)
        yield TritonServer(base, metrics, proc)


@contextlib.contextmanager
def triton_server(workdir: Path) -> Iterator[TritonServer]:
    with _triton_app("triton", "tests.stack.triton_app", workdir, "identity_model", "simple_model") as server:
        yield server


def infer(http_url: str, model: str, values: list[float]) -> int:
    body = json.dumps({"inputs": [{"name": "INPUT", "shape": [1, 4], "datatype": "FP32", "data": values}]}).encode()
    request = urllib.request.Request(f"{http_url}/v2/models/{model}/infer", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def send_traffic(http_url: str, model: str = "simple_model", ok: int = 20, failing: int = 5) -> dict[int, int]:
    counts: dict[int, int] = {}
    for i in range(ok + failing):
        values = [-1.0, -2.0, -3.0, -4.0] if i >= ok else [1.0, 2.0, 3.0, float(i)]
        status = infer(http_url, model, values)
        counts[status] = counts.get(status, 0) + 1
    return counts


class Traffic:
    """Requests to both models, a few per second, with an occasional failure, until stopped: rate()
    over the last seconds always has data."""

    def __init__(self, http_url: str, interval: float = 0.2):
        self.http_url, self.interval = http_url, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                infer(self.http_url, "simple_model", [-1.0] * 4 if i % 10 == 9 else [1.0, 2.0, 3.0, 4.0])
                infer(self.http_url, "identity_model", [1.0, 2.0, 3.0, 4.0])
            i += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> "Traffic":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)


def rule_files_from_out(env_dir: Path, dest: Path) -> list[Path]:
    """The spec of every PrometheusRule under out/<env>/ as a plain Prometheus rules file."""
    dest.mkdir(parents=True, exist_ok=True)
    files = []
    for path in sorted(env_dir.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        if isinstance(document, dict) and document.get("kind") == "PrometheusRule":
            target = dest / f"{path.stem}.rules.yaml"
            target.write_text(yaml.safe_dump(document["spec"], sort_keys=False))
            files.append(target)
    return files


def scrape_config(targets: list[tuple[str, dict[str, str]]], interval: str, rule_files: list[Path],
                  alertmanager: str | None = None, extra_jobs: list[dict] = ()) -> dict:
    """Triton's targets as job "triton" (with the labels a ServiceMonitor would give them), plus
    any other scrape jobs (cAdvisor- and kube-state-metrics-shaped endpoints, tests/stack/fleet.py)."""
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{
            "job_name": "triton",
            "scrape_interval": interval,
            "static_configs": [{"targets": [target], "labels": labels} for target, labels in targets],
        }, *extra_jobs],
    }
    if alertmanager:  # host:port of an Alertmanager the alerts go to
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


@dataclass
class PromServer:
    url: str
    process: Process


@contextlib.contextmanager
def prometheus_server(workdir: Path, targets: list[tuple[str, dict[str, str]]], rule_files: list[Path] = (),
                      interval: str = "1s", alertmanager: str | None = None,
                      extra_jobs: list[dict] = ()) -> Iterator[PromServer]:
    binary = require_binary("prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(targets, interval, list(rule_files), alertmanager,
                                                   list(extra_jobs))))
    port = free_port()
    argv = [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={workdir / 'data'}", "--log.level=warn"]
    url = f"http://127.0.0.1:{port}"
    with process("prometheus", argv, workdir, f"{url}/-/ready") as proc:
        yield PromServer(url, proc)


@contextlib.contextmanager
def victoria_metrics_server(workdir: Path, targets: list[tuple[str, dict[str, str]]],
                            interval: str = "1s", extra_jobs: list[dict] = ()) -> Iterator[PromServer]:
    binary = require_binary("victoria-metrics")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "scrape.yml"
    config.write_text(yaml.safe_dump(scrape_config(targets, interval, [], extra_jobs=list(extra_jobs))))
    port = free_port()
    argv = [binary, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={workdir / 'data'}",
            f"-promscrape.config={config}", "-promscrape.config.strictParse=false", "-search.latencyOffset=0s",
            "-loggerLevel=WARN"]
    url = f"http://127.0.0.1:{port}"
    with process("victoria-metrics", argv, workdir, f"{url}/health") as proc:
        yield PromServer(url, proc)


# The deepest of the dashboard's queries at the global interval: the 1h burn rate, three recording
# rules deep. When a panel's range query sees it, it sees everything shallower (on a loaded
# machine, each level of records appears an evaluation or more after the one below it). The 6h
# ratio is recorded every 5 minutes, at an offset Prometheus picks: no fixture can wait for it.
DEEPEST_PANEL_QUERIES = (
    'sum by ({by}) (namespace_model:nv_inference_request_errors:ratio_rate1h{{namespace="triton-dev"}} '
    '/ on ({on}) (namespace_model:nv_inference_request_errors:slo_budget_ratio{{namespace="triton-dev"}} > 0))',
)


def wait_for_panel_data(url: str, exprs, series: int = 1, by: str = "namespace", timeout: float = 90.0) -> None:
    """Until each expression's range query, as gen validate asks it of a panel (15 minutes at a
    15 s step), has `series` series: range queries see the newest samples a little after instant
    queries do."""
    from gen.validate.client import PrometheusClient

    client = PrometheusClient(url)
    deadline = time.monotonic() + timeout
    for expr in exprs:
        # A fleet's series match per cluster too.
        expr = expr.format(by=by, on="namespace, model" if by == "namespace" else f"{by}, namespace, model")
        while len(client.query_range(expr, 900, 15)) < series:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no range data after {timeout:.0f}s for {expr}")
            time.sleep(1)


def query(url: str, expr: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}), timeout=10) as r:
        return json.load(r)["data"]["result"]


def wait_for(url: str, expr: str, timeout: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, KeyError, ValueError):
            result = query(url, expr)
            if result:
                return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}: no result for {expr} after {timeout:.0f}s")
        time.sleep(0.5)


@contextlib.contextmanager
def vmalert_server(workdir: Path, datasource_url: str, rule_files: list[Path]) -> Iterator[PromServer]:
    """VictoriaMetrics evaluates no rules itself: vmalert runs the recording rules against it and
    writes the results back, as a VictoriaMetrics installation does."""
    binary = require_binary("vmalert")
    port = free_port()
    argv = [binary, f"-httpListenAddr=127.0.0.1:{port}", f"-datasource.url={datasource_url}",
            f"-remoteWrite.url={datasource_url}", "-remoteWrite.flushInterval=1s", "-evaluationInterval=1s",
            "-loggerLevel=ERROR",
            # vmalert 1.79 refuses alerting rules without a notifier; nothing listens there, and
            # these tests look at recorded series only.
            f"-notifier.url=http://127.0.0.1:{free_port()}",
            *[f"-rule={p}" for p in rule_files]]
    url = f"http://127.0.0.1:{port}"
    with process("vmalert", argv, workdir, f"{url}/health") as proc:
        yield PromServer(url, proc)


@contextlib.contextmanager
def vmauth_server(workdir: Path, backend_url: str, bearer_token: str,
                  tls: tuple[Path, Path] | None = None) -> Iterator[PromServer]:
    """A Prometheus API behind authentication (and TLS with a (certificate, key) pair): vmauth lets
    through only requests with the token."""
    binary = require_binary("vmauth")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "auth.yml"
    config.write_text(yaml.safe_dump({"users": [{"bearer_token": bearer_token, "url_prefix": backend_url}]}))
    port = free_port()
    argv = [binary, f"-httpListenAddr=127.0.0.1:{port}", f"-auth.config={config}", "-loggerLevel=WARN"]
    url = f"http://127.0.0.1:{port}"
    if tls:
        argv += ["-tls", f"-tlsCertFile={tls[0]}", f"-tlsKeyFile={tls[1]}"]
        url = f"https://127.0.0.1:{port}"
        # Readiness over TLS without verifying: the tests verify, the harness only waits.
        with process("vmauth", argv, workdir, f"{url}/health", tls_insecure=True) as proc:
            yield PromServer(url, proc)
        return
    with process("vmauth", argv, workdir, f"{url}/health") as proc:
        yield PromServer(url, proc)


@dataclass
class TritonRepositoryServer(TritonServer):
    workspace: Path = Path()


def repository_index(http_url: str) -> list[dict]:
    request = urllib.request.Request(f"{http_url}/v2/repository/index", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@contextlib.contextmanager
def triton_repository_server(workdir: Path) -> Iterator[TritonRepositoryServer]:
    """Triton (explicit model control) with simple_model loaded, spare_model never loaded and
    mismatch_model failed to load (tests/stack/triton_repository_app.py)."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    workspace = workdir / "workspace"
    argv = [sys.executable, "-m", "tests.stack.triton_repository_app", "--http-port", str(http), "--grpc-port",
            str(grpc), "--metrics-port", str(metrics), "--workspace", str(workspace)]
    base = f"http://127.0.0.1:{http}"
    with process("triton-repository", argv, workdir, f"{base}/v2/models/simple_model/ready", timeout=180) as proc:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError, ValueError):
                states = {m["name"]: m.get("state") for m in repository_index(base)}
                if states.get("mismatch_model") == "UNAVAILABLE" and "spare_model" in states and http_status(
                        f"http://127.0.0.1:{metrics}/metrics") == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"Triton's repository not in the expected states:\n{proc.tail()}")
            time.sleep(0.3)
        yield TritonRepositoryServer(base, metrics, proc, workspace)


# -- alerting: a Triton that fails on demand, Alertmanager, a webhook receiver ----------------------

@contextlib.contextmanager
def triton_alerting_server(workdir: Path, mode_file: Path) -> Iterator[TritonServer]:
    """tests/stack/triton_alerting_app.py: flaky_model (ok / fail / slow from `mode_file`, a queue
    of 4) and idle_model."""
    with _triton_app("triton-alerting", "tests.stack.triton_alerting_app", workdir, "flaky_model", "idle_model",
                     ["--mode-file", str(mode_file)]) as server:
        yield server


@contextlib.contextmanager
def alertmanager_server(workdir: Path, config: dict) -> Iterator[PromServer]:
    """Debian's prometheus-alertmanager with `config` (a plain Alertmanager configuration), alone
    (no cluster peers)."""
    binary = require_binary("prometheus-alertmanager")
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    argv = [binary, f"--config.file={path}", f"--storage.path={workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]
    url = f"http://127.0.0.1:{port}"
    with process("alertmanager", argv, workdir, f"{url}/-/ready") as proc:
        yield PromServer(url, proc)


class WebhookReceiver:
    """An HTTP endpoint that records what Alertmanager's webhook integration posts: one
    notification per POST, with the path it was posted to (one path per receiver)."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.notifications = []  # (path, payload)
        lock = self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    received.append((self.path, json.loads(body or b"{}")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def alerts(self, **labels: str) -> list[tuple[str, dict]]:
        """(path, alert) for every alert received so far whose labels include `labels`."""
        with self._lock:
            notifications = list(self.notifications)
        return [(path, alert) for path, payload in notifications for alert in payload.get("alerts", [])
                if all(alert.get("labels", {}).get(k) == v for k, v in labels.items())]

    def wait_for(self, timeout: float = 120.0, **labels: str) -> list[tuple[str, dict]]:
        deadline = time.monotonic() + timeout
        while not (found := self.alerts(**labels)):
            if time.monotonic() > deadline:
                seen = sorted({a.get("labels", {}).get("alertname", "?") for _, a in self.alerts()})
                raise TimeoutError(f"no alert with {labels} after {timeout:.0f}s; received: {seen}")
            time.sleep(0.5)
        return found

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
