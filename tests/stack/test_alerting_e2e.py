"""The alerts, proven with real parts: a real Triton (pytriton) whose model is made to fail, slow
down and queue; Debian's Prometheus scraping it with the generated rules; Debian's Alertmanager with
the generated routing and inhibition (the AlertmanagerConfig as the operator merges it); and a
webhook receiver. Every assertion is on what the receiver got (or, for inhibition, on what
Alertmanager holds back), not on what Prometheus computed.

One Triton for the whole story, in order: healthy traffic (nothing fires), every request failing
(the fast burn pages), a queue that fills (the overload alert pages, while Triton answers 503 and
counts nothing), a model whose traffic stopped (nothing about it), Triton killed (the target alert
pages, the model alerts are inhibited). The test settings shorten every `for` to seconds; windows
and expressions are the shipped ones.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, copy_project, run_gen
from tests.stack import servers
from tests.stack.triton_alerting_app import QUEUE_CAP

pytestmark = pytest.mark.e2e

LABELS = {"namespace": "triton-dev", "pod": "triton-0", "service": "triton"}
VALUES = [1.0, 2.0, 3.0, 4.0]


def _settings(project: Path, receiver_url: str) -> None:
    """dev as prod would page (max_severity critical), with `for` in seconds and the receiver."""
    path = project / "environments.yaml"
    document = yaml.safe_load(path.read_text())
    dev = document["environments"]["dev"]
    dev["max_severity"] = "critical"
    dev["triton"] = {"expected_replicas": 1}
    dev["models"] = {"flaky_model": {"max_queue_size": QUEUE_CAP}}
    thresholds = {name: {"for": "0s"} for name in document["defaults"]["thresholds"]}
    thresholds["target_down"]["for"] = "5s"
    # As in the shipped settings: not shorter than target_down's, so that Alertmanager holds them
    # back while Triton is gone (they start together when the target goes).
    thresholds["model_unavailable"]["for"] = "10s"
    thresholds["replicas_missing"]["for"] = "10s"
    thresholds["cpu_utilization"]["threshold"] = 1  # the node's CPU: not this test's business
    # This Prometheus starts with the test: its history is a minute long when the model starts
    # failing. The burn rate's history guard is tested by promtool (cold start); not here.
    thresholds["slo_page"]["min_history"] = 0
    dev["thresholds"] = thresholds
    # In defaults, replacing its receivers: a URL beside the default's Secret would be both.
    document["defaults"]["alertmanager"] = {
        "receivers": {severity: {"name": f"test-{severity}", "webhook_url": f"{receiver_url}/{severity}"}
                      for severity in ("critical", "warning", "info")},
        "group_wait": "2s", "group_interval": "2s", "repeat_interval": "1h",
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))


class Load:
    """`clients` threads sending requests to one model until stopped; counts HTTP statuses."""

    def __init__(self, http_url: str, model: str, clients: int = 1, pause: float = 0.1):
        self.http_url, self.model, self.pause = http_url, model, pause
        self.statuses: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = servers.infer(self.http_url, self.model, VALUES)
            except OSError:
                status = 0
            with self._lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
            self._stop.wait(self.pause)

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def _runbook_anchors() -> set[str]:
    text = (REPO / "docs" / "runbooks.md").read_text()
    return {re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
            for line in text.splitlines() if line.startswith("## ")}


def _triton_counter(metrics_port: int, metric: str, **labels: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(metric + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _suppressed(alertmanager_url: str, alertname: str) -> list[dict]:
    query = urllib.parse.urlencode({"filter": f'alertname="{alertname}"'})
    with urllib.request.urlopen(f"{alertmanager_url}/api/v2/alerts?{query}", timeout=10) as response:
        alerts = json.load(response)
    return [a for a in alerts if a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]]


def test_alerts_reach_alertmanager_as_triton_fails(tmp_path):
    from gen.render.alertmanager import alertmanager_yaml

    project = copy_project(tmp_path / "project")
    mode = tmp_path / "mode"
    mode.write_text("ok")
    with servers.WebhookReceiver() as receiver:
        _settings(project, receiver.url)
        built = run_gen("alerts", "--env", "dev", cwd=project)
        assert built.returncode == 0, built.stderr
        amc = yaml.safe_load((project / "out/dev/alertmanagerconfig-triton.yaml").read_text())
        rules = servers.rule_files_from_out(project / "out" / "dev", tmp_path / "rules")

        with servers.alertmanager_server(tmp_path / "am", alertmanager_yaml(amc)) as am, \
                servers.triton_alerting_server(tmp_path / "triton", mode) as triton, \
                servers.prometheus_server(tmp_path / "prom", [(triton.metrics_target, LABELS)], rules,
                                          alertmanager=am.url.removeprefix("http://")) as prom:
            http = triton.http_url

            # 1. Healthy traffic to both models: nothing reaches the receiver.
            with Load(http, "flaky_model"), Load(http, "idle_model"):
                servers.wait_for(prom.url, 'namespace_model:nv_inference_request_success:rate5m{model="idle_model"} > 0')
                time.sleep(15)
            idle_stopped = time.monotonic()
            assert receiver.alerts() == [], receiver.alerts()

            # 2. Every request to flaky_model fails: the fast burn of its availability SLO pages.
            mode.write_text("fail")
            with Load(http, "flaky_model") as load:
                ((path, alert),) = receiver.wait_for(alertname="TritonModelErrorBudgetBurn", model="flaky_model",
                                                     burn_rate="fast", timeout=120)[:1]
            assert set(load.statuses) == {500}
            assert path == "/critical"
            assert alert["status"] == "firing"
            labels = alert["labels"]
            assert (labels["severity"], labels["namespace"], labels["environment"]) == ("critical", "triton-dev", "dev")
            runbook = alert["annotations"]["runbook_url"]
            assert runbook.endswith("#tritonmodelerrorbudgetburn")
            assert runbook.split("#")[1] in _runbook_anchors()
            assert "flaky_model in triton-dev" in alert["annotations"]["summary"]

            # 3. The queue fills: concurrent clients on a slow model with a queue of 4. Triton
            # refuses the rest with 503 and counts them nowhere; the overload alert pages.
            mode.write_text("slow")
            failures_before = _triton_counter(triton.metrics_port, "nv_inference_request_failure", model="flaky_model")
            with Load(http, "flaky_model", clients=3 * QUEUE_CAP, pause=0.0) as load:
                ((path, alert),) = receiver.wait_for(alertname="TritonModelQueueNearFull", model="flaky_model",
                                                     timeout=120)[:1]
            assert path == "/critical" and alert["labels"]["severity"] == "critical"
            assert load.statuses.get(503), load.statuses
            assert _triton_counter(triton.metrics_port, "nv_inference_request_failure",
                                   model="flaky_model") == failures_before
            mode.write_text("ok")

            # 4. idle_model's clients went away: once its 5-minute rate is 0, still nothing about it.
            servers.wait_for(prom.url, 'namespace_model:nv_inference_request_success:rate5m{model="idle_model"} == 0',
                             timeout=max(60.0, 420 - (time.monotonic() - idle_stopped)))
            time.sleep(10)
            assert receiver.alerts(model="idle_model") == []
            assert receiver.alerts(alertname="TritonModelNoSuccessfulInference") == []

            # 5. Triton killed: the target alert pages; the model alerts it explains are held back.
            # Killed, not stopped: a graceful stop unloads the models first, and their series go
            # while /metrics still answers (docs/runbooks.md, TritonModelUnavailable).
            triton.process.kill()
            ((path, alert),) = receiver.wait_for(alertname="TritonTargetAbsent", timeout=90)[:1]
            assert path == "/critical"
            assert alert["labels"]["namespace"] == "triton-dev" and alert["labels"]["environment"] == "dev"
            deadline = time.monotonic() + 90
            while len(_suppressed(am.url, "TritonModelUnavailable")) < 2 and time.monotonic() < deadline:
                time.sleep(1)
            inhibited = _suppressed(am.url, "TritonModelUnavailable")
            assert {a["labels"]["model"] for a in inhibited} == {"flaky_model", "idle_model"}
            time.sleep(5)
            assert receiver.alerts(alertname="TritonModelUnavailable") == []
            assert receiver.alerts(alertname="TritonReplicasMissing") == []


def test_validate_names_the_missing_kubernetes_exporters(prometheus_dev_without_kubernetes):
    prometheus_dev = prometheus_dev_without_kubernetes
    """The pod and replica alerts read kube-state-metrics and cAdvisor; on a Prometheus without
    them (this one), `gen validate` says so, as a warning naming the blind alerts, without failing."""
    result = run_gen("validate", "--prometheus-url", prometheus_dev.url, "--env", "dev", "--format", "json", cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    findings = {f["object"]: f for f in json.loads(result.stdout)["findings"]}
    for metric in ("kube_deployment_spec_replicas", "container_cpu_cfs_periods_total",
                   "kube_pod_container_status_restarts_total"):
        finding = findings[f"dev: metric {metric}"]
        assert finding["severity"] == "warning"
        assert finding["message"].startswith("absent: it comes from kube-state-metrics or cAdvisor")
    assert "TritonReplicasMissing" in findings["dev: metric kube_pod_status_ready"]["message"]
