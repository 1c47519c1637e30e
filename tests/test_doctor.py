"""`gen doctor` without servers: bad usage, the offline Prometheus selector check, the Kubernetes
step through a fake `kubectl` that answers with recorded objects, and the report's shape."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO, run_gen
from tests.fake_kubectl import cluster, fake_kubectl

SAVED = REPO / "tests" / "doctor"


def doctor(*args: str, cwd: Path = REPO, env: dict | None = None, path_dir: Path | None = None):
    environ = {"GRAFANA_TOKEN": "", "GRAFANA_USER": "", "GRAFANA_PASSWORD": "", "TRITON_URL": "",
               "PROMETHEUS_URL": "", "GRAFANA_URL": "", **(env or {})}
    if path_dir is not None:
        environ["PATH"] = f"{path_dir}{os.pathsep}{os.environ['PATH']}"
    else:
        environ["KUBECONFIG"] = "/nonexistent"  # a kubectl on this machine has no context
    result = run_gen("doctor", *args, cwd=cwd, env=environ)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def as_json(result) -> dict:
    return json.loads(result.stdout)


def results(report: dict, check: str) -> list[dict]:
    return [r for s in report["steps"] for c in s["checks"] if c["check"] == check for r in c["results"]]


# -- bad usage: one line, exit 2 ------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ((), "environments.yaml: the doctor checks one environment: pass --env (known: dev, prod)"),
    (("--env", "qa"), "environments.yaml: unknown environment 'qa' (known: dev, prod, all)"),
    (("--env", "dev", "--triton-url", "localhost:8000"),
     "--triton-url: expected an http(s) URL such as http://localhost:8000"),
    (("--env", "dev", "--prometheus-url", "http://admin:hunter2@prom:9090"),
     "--prometheus-url: credentials in the URL are not accepted; use a token file or the environment"),
    (("--env", "dev", "--prometheus-cr", "missing.yaml"), "missing.yaml: --prometheus-cr file not found"),
    (("--env", "dev", "--grafana-url", "http://127.0.0.1:9"), "no Grafana credentials"),
])
def test_bad_usage_is_one_line_and_exit_2(args, message):
    result = doctor(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"error: {message}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert "hunter2" not in result.stderr


def test_a_saved_object_that_is_not_a_prometheus(tmp_path):
    saved = tmp_path / "sm.yaml"
    saved.write_text((REPO / "out/dev/servicemonitor-triton.yaml").read_text())
    result = doctor("--env", "dev", "--prometheus-cr", str(saved))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {saved}: kind: expected a Prometheus object (kubectl get prometheus "
                                     "NAME -o yaml), found ServiceMonitor")


def test_nothing_given_skips_every_step_and_says_why():
    """Everything skipped is not "ok" with exit 0: nothing was checked, and the doctor says so."""
    result = doctor("--env", "dev")
    assert result.returncode == 2, result.stdout
    lines = result.stdout.splitlines()
    assert "kubernetes [skipped]" in lines[0]
    assert "  skip  triton: no --triton-url (Triton's HTTP port, 8000)" in lines
    assert lines[-1].startswith("nothing checked: 0 passed, 0 warnings, 0 failed, 5 skipped in ")
    assert result.stderr.startswith("error: nothing was checked: every step was skipped")
    assert len(result.stderr.strip().splitlines()) == 1
    assert as_json(doctor("--env", "dev", "--format", "json"))["ok"] is False


# -- offline: --prometheus-cr ---------------------------------------------------------------------

def test_prometheus_cr_with_the_right_release_selects_both_objects():
    result = doctor("--env", "dev", "--prometheus-cr", str(SAVED / "prometheus-monitoring-dev.yaml"), "--format",
                    "json")
    assert result.returncode == 0, result.stdout
    report = as_json(result)
    found = {r["object"]: r for r in results(report, "k8s-prometheus-selectors")}
    assert found["Prometheus resource"]["reason"].startswith("monitoring/monitoring-dev-kube-prometheus-prometheus")
    assert found["ServiceMonitor monitoring/triton-dev"]["status"] == "pass"
    assert found["PrometheusRule monitoring/triton-rules-dev"]["status"] == "pass"
    # Without a cluster the other Kubernetes checks say why they did not run.
    assert results(report, "k8s-pods")[0]["status"] == "skipped"
    assert "offline" in results(report, "k8s-pods")[0]["reason"]


def test_prometheus_cr_of_another_release_names_the_label():
    result = doctor("--env", "dev", "--prometheus-cr", str(SAVED / "prometheus-other-release.yaml"))
    assert result.returncode == 1, result.stdout
    assert ("  FAIL  ServiceMonitor monitoring/triton-dev: not selected by Prometheus "
            "monitoring/kps-kube-prometheus-prometheus: serviceMonitorSelector wants release=kps; label release is "
            "'monitoring-dev', the selector wants 'kps'") in result.stdout.splitlines()
    assert "PrometheusRule monitoring/triton-rules-dev: not selected" in result.stdout
    assert "first failure: kubernetes / ServiceMonitor monitoring/triton-dev" in result.stdout
    assert "what to do: set prometheus_release in environments.yaml" in result.stdout


def test_namespace_selectors(tmp_path):
    import yaml

    prom = yaml.safe_load((SAVED / "prometheus-monitoring-dev.yaml").read_text())
    prom["metadata"]["namespace"] = "observability"
    del prom["spec"]["serviceMonitorNamespaceSelector"]  # absent: the Prometheus's own namespace only
    prom["spec"]["ruleNamespaceSelector"] = {"matchLabels": {"monitoring": "enabled"}}
    saved = tmp_path / "prometheus.json"
    saved.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [prom]}))
    report = as_json(doctor("--env", "dev", "--prometheus-cr", str(saved), "--format", "json"))
    found = {r["object"]: r for r in results(report, "k8s-prometheus-selectors")}
    monitor = found["ServiceMonitor monitoring/triton-dev"]
    assert monitor["status"] == "fail"
    assert monitor["reason"] == ("in namespace monitoring, but Prometheus observability/monitoring-dev-kube-prometheus-"
                                 "prometheus has no serviceMonitorNamespaceSelector and so looks in observability only")
    rule = found["PrometheusRule monitoring/triton-rules-dev"]
    assert rule["status"] == "fail" and "label monitoring=enabled is missing" in rule["reason"]
    assert "offline" in rule["reason"]


# -- Kubernetes through a fake kubectl ------------------------------------------------------------

def test_kubernetes_healthycluster(tmp_path):
    bin_dir, log = fake_kubectl(tmp_path, cluster(healthy=True))
    result = doctor("--env", "dev", "--kube-context", "kind-triton", "--format", "json", path_dir=bin_dir)
    assert result.returncode == 0, result.stdout
    report = as_json(result)
    k8s = next(s for s in report["steps"] if s["step"] == "kubernetes")
    assert k8s["status"] == "pass", k8s
    assert results(report, "k8s-pods")[0]["reason"] == "Running and Ready, 0 restarts"
    assert results(report, "k8s-service-port")[0]["reason"] == "exposes 'metrics' (port 8002 -> 8002)"
    assert results(report, "k8s-dashboard-configmap")[0]["reason"] == (
        "carries grafana_dashboard=1, which the Grafana sidecar watches")
    assert all(line.startswith("--context kind-triton get ") for line in log.read_text().splitlines())


def test_kubernetes_faults_are_named(tmp_path):
    bin_dir, _ = fake_kubectl(tmp_path, cluster(healthy=False))
    result = doctor("--env", "dev", "--format", "json", path_dir=bin_dir)  # the current context
    assert result.returncode == 1
    report = as_json(result)
    pods = {r["object"]: r for r in results(report, "k8s-pods")}
    crashing = pods["pod triton-7d9f-fghij"]
    assert crashing["status"] == "fail"
    assert crashing["reason"] == "Running (CrashLoopBackOff), not ready, 4 restarts (last: OOMKilled)"
    assert crashing["hint"].startswith("kubectl -n triton-dev describe pod triton-7d9f-fghij")
    (port,) = results(report, "k8s-service-port")
    assert port["status"] == "fail" and "has ports http, grpc, prom, none named 'metrics'" in port["reason"]
    selectors = {r["object"]: r for r in results(report, "k8s-prometheus-selectors")}
    monitor = selectors["ServiceMonitor monitoring/triton-dev"]
    assert monitor["status"] == "fail"
    assert "label release is 'monitoring-prod', the selector wants 'monitoring-dev'" in monitor["reason"]
    (configmap,) = results(report, "k8s-dashboard-configmap")
    assert configmap["reason"] == "the Grafana sidecar watches grafana_dashboard=1; the ConfigMap has no such label"
    assert report["first_failure"]["object"] == "pod triton-7d9f-fghij"


def test_a_cluster_without_the_namespace_stops_the_step(tmp_path):
    answers = cluster(healthy=True)
    del answers["namespace triton-dev"]
    bin_dir, log = fake_kubectl(tmp_path, answers)
    report = as_json(doctor("--env", "dev", "--format", "json", path_dir=bin_dir))
    (namespace,) = results(report, "k8s-namespace")
    assert namespace["reason"] == "namespace triton-dev does not exist in context fake-context"
    assert results(report, "k8s-pods")[0]["reason"] == "not checked: k8s-namespace failed"
    assert len(log.read_text().splitlines()) == 2  # current-context, then the namespace only


def test_objects_missing_from_thecluster(tmp_path):
    answers = cluster(healthy=True)
    del answers["servicemonitors.monitoring.coreos.com triton-dev -n monitoring"]
    bin_dir, _ = fake_kubectl(tmp_path, answers)
    report = as_json(doctor("--env", "dev", "--format", "json", path_dir=bin_dir))
    found = {r["object"]: r for r in results(report, "k8s-prometheus-selectors")}
    assert found["ServiceMonitor monitoring/triton-dev"]["reason"] == "not in the cluster"
    assert "kubectl apply -k out/dev" in found["ServiceMonitor monitoring/triton-dev"]["hint"]


# -- pure parts -----------------------------------------------------------------------------------

def test_zero_request_follows_the_metadata():
    from gen.doctor.triton import zero_request

    request = zero_request({"inputs": [{"name": "IMAGE", "datatype": "FP16", "shape": [-1, 3, 2]},
                                       {"name": "TEXT", "datatype": "BYTES", "shape": [2]},
                                       {"name": "FLAG", "datatype": "BOOL", "shape": [1]}]})
    assert request == {"inputs": [
        {"name": "IMAGE", "shape": [1, 3, 2], "datatype": "FP16", "data": [0] * 6},
        {"name": "TEXT", "shape": [2], "datatype": "BYTES", "data": ["", ""]},
        {"name": "FLAG", "shape": [1], "datatype": "BOOL", "data": [False]},
    ]}


def test_metrics_parser():
    from gen.doctor.metrics import parse

    text = ('# HELP nv_inference_count x\n# TYPE nv_inference_count counter\n'
            'nv_inference_count{model="a",version="1"} 3\n'
            'nv_inference_request_summary_us{model="a",quantile="0.5",version="1"} NaN\n'
            'nv_cpu_utilization 0.25\n')
    families = parse(text)
    assert families["nv_inference_count"] == [({"model": "a", "version": "1"}, 3.0)]
    assert families["nv_cpu_utilization"] == [({}, 0.25)]
    assert families["nv_inference_request_summary_us"][0][0]["quantile"] == "0.5"


def test_selector_mismatches():
    from gen.doctor.selectors import mismatches

    selector = {"matchLabels": {"release": "kps"},
                "matchExpressions": [{"key": "team", "operator": "In", "values": ["ml", "infra"]},
                                     {"key": "skip", "operator": "DoesNotExist"}]}
    assert mismatches(selector, {"release": "kps", "team": "ml"}) == []
    assert mismatches(selector, {"release": "x", "skip": "1"}) == [
        "label release is 'x', the selector wants 'kps'",
        "label team is missing, the selector wants one of ['ml', 'infra']",
        "label skip must not be set",
    ]
    assert mismatches({}, {"anything": "goes"}) == []
