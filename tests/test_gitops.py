"""GitOps: out/ complete and valid for Argo CD and kubectl, for every environment, including one
added by a test."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gen import manifests_check
from gen.manifests_check import Manifest
from gen.settings import load_settings
from tests import crd_schemas
from tests.conftest import REPO, run_gen, snapshot

STAGING = {
    "namespace": "triton-staging",
    "prometheus_release": "monitoring-staging",
    "grafana": {"folder_uid": "triton-staging", "folder_title": "Triton (staging)"},
    "argocd": {"destination_server": "https://staging.example.com:6443"},
}


def _add_environment(project: Path, name: str, entry: dict) -> None:
    path = project / "environments.yaml"
    document = yaml.safe_load(path.read_text())
    document["environments"][name] = entry
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _objects(directory: Path) -> list[dict]:
    return [
        doc
        for path in sorted(directory.rglob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
    ]


def _kustomize(directory: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # kubectl writes an AlertmanagerConfig's `matchType: =` bare, which PyYAML reads as YAML 1.1's
    # value tag and refuses; every YAML 1.2 reader takes it as the string "=".
    return list(yaml.safe_load_all(re.sub(r": =$", ": '='", result.stdout, flags=re.M)))


@pytest.fixture
def staging(project):
    _add_environment(project, "staging", STAGING)
    result = run_gen("build", cwd=project)
    assert result.returncode == 0, result.stderr
    return project


def test_third_environment_is_complete(staging):
    out = staging / "out"
    assert sorted(p.name for p in (out / "staging").iterdir()) == [
        "alertmanagerconfig-triton.yaml",
        "dashboard-triton.yaml",
        "kustomization.yaml",
        "prometheusrule-triton.yaml",
        "servicemonitor-triton.yaml",
    ]
    assert (out / "grafana/staging/triton-staging.json").is_file()
    app = yaml.safe_load((out / "argocd/applications/staging.yaml").read_text())
    assert app["spec"]["source"]["path"] == "out/staging"
    assert app["spec"]["destination"] == {"server": "https://staging.example.com:6443", "namespace": "monitoring"}
    appset = yaml.safe_load((out / "argocd/applicationset.yaml").read_text())
    elements = appset["spec"]["generators"][0]["list"]["elements"]
    assert [e["env"] for e in elements] == ["dev", "prod", "staging"]
    rule = yaml.safe_load((out / "staging/prometheusrule-triton.yaml").read_text())
    assert rule["metadata"]["labels"]["release"] == "monitoring-staging"
    assert all('namespace="triton-staging"' in r["expr"] for g in rule["spec"]["groups"] for r in g["rules"])
    monitor = yaml.safe_load((out / "staging/servicemonitor-triton.yaml").read_text())
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == ["triton-staging"]
    assert run_gen("build", "--check", cwd=staging).returncode == 0


def test_third_environment_is_valid(staging):
    out = staging / "out"
    documents = _objects(out / "staging") + _objects(out / "argocd")
    kinds = sorted(doc["kind"] for doc in documents)
    assert kinds == ["AlertmanagerConfig", "Application", "Application", "Application", "ApplicationSet",
                     "ConfigMap", "PrometheusRule", "ServiceMonitor"]
    for doc in documents:
        if crd_schemas.is_custom_resource(doc):
            assert crd_schemas.errors(doc) == [], doc["kind"]
    settings = load_settings(staging / "environments.yaml")
    findings = manifests_check.run(manifests_check.load(out), settings)
    assert [f for f in findings if f.severity != "info"] == []
    built = _kustomize(out / "staging")
    assert sorted((d["kind"], d["metadata"]["name"]) for d in built) == [
        ("AlertmanagerConfig", "triton-staging"),
        ("ConfigMap", "grafana-dashboard-triton-staging"),
        ("PrometheusRule", "triton-rules-staging"),
        ("ServiceMonitor", "triton-staging"),
    ]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_committed_environment_builds_with_kubectl_kustomize(env):
    built = _kustomize(REPO / "out" / env)
    on_disk = _objects(REPO / "out" / env)
    assert sorted(d["metadata"]["name"] for d in built) == sorted(d["metadata"]["name"] for d in on_disk)
    assert len(built) == 4


def test_committed_out_is_valid():
    out = REPO / "out"
    documents = _objects(out)
    assert documents
    for doc in documents:
        if crd_schemas.is_custom_resource(doc):
            assert crd_schemas.errors(doc) == [], (doc["kind"], doc["metadata"]["name"])
    findings = manifests_check.run(manifests_check.load(out), load_settings(REPO / "environments.yaml"))
    assert [f for f in findings if f.severity != "info"] == []


def test_applications_sync_automatically_server_side():
    settings = load_settings(REPO / "environments.yaml")
    for name, env in settings.environments.items():
        app = yaml.safe_load((REPO / f"out/argocd/applications/{name}.yaml").read_text())
        spec = app["spec"]
        assert app["metadata"]["namespace"] == settings.argocd.namespace
        assert spec["source"] == {
            "repoURL": settings.argocd.repo_url,
            "targetRevision": settings.argocd.target_revision,
            "path": f"out/{name}",
        }
        assert spec["destination"]["namespace"] == env.monitoring_namespace
        assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        assert "ServerSideApply=true" in spec["syncPolicy"]["syncOptions"]


def test_gen_dashboards_alone_keeps_the_kustomization_whole(project):
    (project / "out/dev/kustomization.yaml").unlink()
    result = run_gen("dashboards", "--env", "dev", cwd=project)
    assert result.returncode == 0, result.stderr
    kustomization = yaml.safe_load((project / "out/dev/kustomization.yaml").read_text())
    assert kustomization["resources"] == [
        "alertmanagerconfig-triton.yaml", "dashboard-triton.yaml", "prometheusrule-triton.yaml",
        "servicemonitor-triton.yaml",
    ]
    assert run_gen("build", "--check", cwd=project).returncode == 0


def test_removed_environment_leaves_nothing_behind(project):
    path = project / "environments.yaml"
    document = yaml.safe_load(path.read_text())
    del document["environments"]["prod"]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    result = run_gen("build", cwd=project)
    assert result.returncode == 0, result.stderr
    remaining = snapshot(project / "out")
    assert not [p for p in remaining if "prod" in p], sorted(remaining)
    appset = yaml.safe_load((project / "out/argocd/applicationset.yaml").read_text())
    assert [e["env"] for e in appset["spec"]["generators"][0]["list"]["elements"]] == ["dev"]


BIG_DASHBOARD = '''
from dashboards._panels import COUNT, Row, layout, target, timeseries, variables
from grafanalib.core import Dashboard

PANELS = {panels}


def dashboard(env):
    panels = [
        timeseries(f"Panel {{i}}", "x" * 4000, [target('sum(nv_inference_count{{namespace=~"$namespace"}})')], COUNT)
        for i in range(PANELS)
    ]
    return Dashboard(title=f"Big ({{env.name}})", uid=f"big-{{env.name}}", templating=variables(env),
                     panels=layout([Row("All", panels)]))
'''


def test_configmap_over_1_mib_is_an_error_naming_the_dashboard(project):
    (project / "dashboards" / "big.py").write_text(BIG_DASHBOARD.format(panels=300))
    before = snapshot(project / "out")
    result = run_gen("build", cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: out/dev/dashboard-big.yaml: dashboard 'big' (environment 'dev'): its ConfigMap is"
    ), result.stderr
    assert "over Kubernetes' 1 MiB limit" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(project / "out") == before


def test_configmap_over_256_kib_warns_about_server_side_apply(project):
    (project / "dashboards" / "big.py").write_text(BIG_DASHBOARD.format(panels=80))
    result = run_gen("dashboards", "--env", "dev", cwd=project)
    assert result.returncode == 0, result.stderr
    size = (project / "out/dev/dashboard-big.yaml").stat().st_size
    assert 256 * 1024 < size < 1024 * 1024
    assert "warning: out/dev/dashboard-big.yaml: dashboard 'big' (environment 'dev'): its ConfigMap is" in result.stderr
    assert "apply it server-side" in result.stderr


def _manifest(path: str, kind: str, name: str, namespace: str = "monitoring", labels=None) -> Manifest:
    document = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": namespace,
                                                               "labels": labels or {}}}
    return Manifest(path, document, 100)


def test_collisions_between_environments_on_one_cluster():
    settings = load_settings(REPO / "environments.yaml")  # dev and prod share the in-cluster server
    same = [_manifest("dev/a.yaml", "ConfigMap", "common"), _manifest("prod/a.yaml", "ConfigMap", "common")]
    findings = manifests_check.check_collisions(same, settings)
    assert [f.message for f in findings] == [
        "collides with out/dev/a.yaml (same kind, namespace and name in one cluster)"
    ]
    other_namespace = [_manifest("dev/a.yaml", "ConfigMap", "common"),
                       _manifest("prod/a.yaml", "ConfigMap", "common", namespace="other")]
    assert manifests_check.check_collisions(other_namespace, settings) == []


def test_invalid_names_and_labels_are_found():
    bad = [
        _manifest("dev/a.yaml", "ConfigMap", "Not_Valid"),
        _manifest("dev/b.yaml", "ConfigMap", "ok", labels={"release": "x" * 64, "bad key!": "v"}),
    ]
    messages = [f.message for f in manifests_check.check_names(bad)]
    assert messages[0].startswith("metadata.name 'Not_Valid' is not a valid Kubernetes name")
    assert any(m.startswith("label release: value") for m in messages)
    assert "label key 'bad key!' is not valid" in messages


def test_core_kinds_checked_against_kubernetes_schemas():
    bad = Manifest("dev/a.yaml", {"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "a", "namespace": "monitoring"}, "data": {"k": 1}}, 10)
    (finding,) = manifests_check.check_schema([bad])
    assert finding.severity == "error" and finding.message.startswith("data.k: 1 is not of type")
