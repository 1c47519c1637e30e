"""A fake `kubectl` for the tests: an executable script put first on PATH that answers
`kubectl --context C get ARGS -o json` with recorded objects (a NotFound error otherwise),
`kubectl config current-context` with "fake-context", and logs every call. No cluster exists on
these machines; the doctor runs the real subprocess path against it."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

from tests.conftest import REPO

SAVED = REPO / "tests" / "doctor"


def _pod(name: str, ready: bool = True, restarts: int = 0, waiting: str | None = None, last: str | None = None):
    container = {"name": "triton", "ready": ready, "restartCount": restarts,
                 "state": {"waiting": {"reason": waiting}} if waiting else {"running": {}}}
    if last:
        container["lastState"] = {"terminated": {"reason": last, "exitCode": 137}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "triton-dev",
                                                            "labels": {"app": "triton"}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [container]}}


def _out_object(path: str) -> dict:
    import yaml

    return yaml.safe_load((REPO / "out" / path).read_text())


def cluster(healthy: bool, pods: list[str] | None = None) -> dict[str, dict]:
    """Recorded `kubectl get ... -o json` answers, keyed by the arguments after `get`."""
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "triton", "namespace": "triton-dev", "labels": {"app": "triton"}},
               "spec": {"selector": {"app": "triton"}, "ports": [
                   {"name": "http", "port": 8000, "targetPort": 8000},
                   {"name": "grpc", "port": 8001, "targetPort": 8001},
                   {"name": "metrics" if healthy else "prom", "port": 8002, "targetPort": 8002}]}}
    pods = [_pod(name) for name in pods or ["triton-7d9f-abcde"]] + ([] if healthy else [
        _pod("triton-7d9f-fghij", ready=False, restarts=4, waiting="CrashLoopBackOff", last="OOMKilled")])
    monitor = _out_object("dev/servicemonitor-triton.yaml")
    if not healthy:
        monitor["metadata"]["labels"]["release"] = "monitoring-prod"
    configmap = _out_object("dev/dashboard-triton.yaml")
    if not healthy:
        del configmap["metadata"]["labels"]["grafana_dashboard"]
    grafana = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "monitoring-dev-grafana", "namespace": "monitoring",
                            "labels": {"app.kubernetes.io/name": "grafana"}},
               "spec": {"template": {"spec": {"containers": [
                   {"name": "grafana-sc-dashboard", "env": [
                       {"name": "LABEL", "value": "grafana_dashboard"}, {"name": "LABEL_VALUE", "value": "1"},
                       {"name": "NAMESPACE", "value": "ALL"}, {"name": "FOLDER", "value": "/tmp/dashboards"}]},
                   {"name": "grafana", "env": []}]}}}}
    prometheus = __import__("yaml").safe_load((SAVED / "prometheus-monitoring-dev.yaml").read_text())

    def listing(*items):
        return {"apiVersion": "v1", "kind": "List", "items": list(items)}

    return {
        "namespace triton-dev": {"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": "triton-dev", "labels": {"kubernetes.io/metadata.name": "triton-dev"}}},
        "namespace monitoring": {"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": "monitoring", "labels": {"kubernetes.io/metadata.name": "monitoring"}}},
        "services -n triton-dev -l app=triton": listing(service),
        "pods -n triton-dev -l app=triton": listing(*pods),
        "prometheuses.monitoring.coreos.com --all-namespaces": listing(prometheus),
        "servicemonitors.monitoring.coreos.com triton-dev -n monitoring": monitor,
        "prometheusrules.monitoring.coreos.com triton-rules-dev -n monitoring": _out_object(
            "dev/prometheusrule-triton.yaml"),
        "configmap grafana-dashboard-triton-dev -n monitoring": configmap,
        "deployments --all-namespaces -l app.kubernetes.io/name=grafana": listing(grafana),
    }


FAKE_KUBECTL = """#!{python}
import json, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
if args[:2] == ["config", "current-context"]:
    print("fake-context")
    sys.exit(0)
assert args[:2] == ["--context", "kind-triton"] or args[:2] == ["--context", "fake-context"], args
rest = args[3:-2]  # after `--context C get`, before `-o json`
answers = json.load(open({data!r}))
key = " ".join(rest)
if key not in answers:
    kind, name = (rest + ["", ""])[:2]
    sys.stderr.write(f'Error from server (NotFound): {{kind}} "{{name}}" not found\\n')
    sys.exit(1)
print(json.dumps(answers[key]))
"""


def fake_kubectl(tmp_path: Path, answers: dict) -> tuple[Path, Path]:
    directory = tmp_path / "bin"
    directory.mkdir()
    data, log = tmp_path / "answers.json", tmp_path / "kubectl.log"
    data.write_text(json.dumps(answers))
    script = directory / "kubectl"
    script.write_text(FAKE_KUBECTL.format(python=sys.executable, log=str(log), data=str(data)))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return directory, log
