"""A fleet: an environment in several clusters behind one global view. Settings (`cluster_label`,
`clusters`), the dashboard's cluster variable and grouping, the ApplicationSet per cluster, and
the Prometheus client's options for a global view (path prefix, tenant headers)."""

from __future__ import annotations

from pathlib import Path

import promql_parser as pp
import pytest
import yaml

from gen.errors import UserError
from gen.promql import parse_grafana
from gen.render.dashboards import build_dashboards
from gen.render.grafana_json import iter_panels
from gen.settings import load_settings
from gen.validate import promql_ast
from gen.secrets import scrub
from gen.validate.client import Auth, parse_headers
from tests import crd_schemas
from tests.conftest import REPO, run_gen
from tests.golden import fleet_settings

CLUSTERS = [
    {"name": "eu-west", "destination_server": "https://eu-west.example.com:6443"},
    {"name": "us-east", "destination_server": "https://us-east.example.com:6443",
     "monitoring_namespace": "observability", "prometheus_release": "kube-prometheus-stack"},
]


def _settings(tmp_path: Path, mutate) -> Path:
    document = yaml.safe_load((REPO / "environments.yaml").read_text())
    mutate(document)
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _fleet(document: dict) -> None:
    document["defaults"]["cluster_label"] = "cluster"
    document["environments"]["prod"]["clusters"] = CLUSTERS


# -- settings -----------------------------------------------------------------------------------

def test_cluster_label_is_off_by_default_and_allowed_in_defaults(tmp_path):
    settings = load_settings(REPO / "environments.yaml")
    assert all(env.cluster_label is None and env.clusters == () for env in settings.environments.values())
    fleet = load_settings(_settings(tmp_path, _fleet))
    dev, prod = fleet.environments["dev"], fleet.environments["prod"]
    assert dev.cluster_label == prod.cluster_label == "cluster"
    assert dev.clusters == ()
    assert prod.cluster_names == ["eu-west", "us-east"]
    eu, us = prod.clusters
    # a cluster inherits the environment's values unless it sets its own
    assert (eu.monitoring_namespace, eu.prometheus_release) == ("monitoring", "monitoring-prod")
    assert (us.monitoring_namespace, us.prometheus_release) == ("observability", "kube-prometheus-stack")


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["defaults"].update(cluster_label="k8s-cluster"),
     "environments.yaml: defaults.cluster_label: 'k8s-cluster' must be a Prometheus label name"),
    (lambda d: d["environments"]["dev"].update(cluster_label=3),
     "environments.yaml: environments.dev.cluster_label: 3 is not of type 'string'"),
    (lambda d: d["environments"]["prod"].update(clusters=[{"name": "eu-west"}]),
     "environments.yaml: environments.prod.clusters[0]: 'destination_server' is a required property"),
    (lambda d: d["environments"]["prod"].update(clusters=[{"name": "EU", "destination_server": "https://a"}]),
     "environments.yaml: environments.prod.clusters[0].name: 'EU' must be a lowercase DNS label"),
    (lambda d: d["environments"]["prod"].update(clusters=[CLUSTERS[0], CLUSTERS[0]]),
     "environments.yaml: environments.prod.clusters[1].name: 'eu-west' is listed twice"),
    (lambda d: d["environments"]["prod"].update(clusters=[{**CLUSTERS[0], "region": "eu"}]),
     "environments.yaml: environments.prod.clusters[0]: 'region' is not allowed"),
])
def test_bad_fleet_settings_are_one_line_errors(tmp_path, mutate, expected):
    path = _settings(tmp_path, mutate)
    with pytest.raises(UserError) as caught:
        load_settings(path)
    assert caught.value.message.startswith(expected), caught.value.message


# -- the dashboard with a cluster label ---------------------------------------------------------

@pytest.fixture(scope="module")
def fleet_model():
    (built,) = build_dashboards(fleet_settings())
    return built.model


def _targets(model):
    for panel in iter_panels(model):
        for target in panel.get("targets") or []:
            yield panel, target


def test_cluster_variable(fleet_model):
    variables = {v["name"]: v for v in fleet_model["templating"]["list"]}
    assert list(variables) == ["datasource", "cluster", "namespace", "model", "version"]
    cluster = variables["cluster"]
    assert cluster["query"] == 'label_values(nv_inference_count{namespace="triton-prod"}, cluster)'
    assert cluster["multi"] is True and cluster["includeAll"] is True and cluster["refresh"] == 2
    # All matches series without the label too: a cluster's own Prometheus stores no external labels
    assert cluster["allValue"] == ".*"
    for name in ("namespace", "model", "version"):
        assert 'cluster=~"$cluster"' in variables[name]["query"], name


def test_every_selector_filters_by_cluster(fleet_model):
    exprs = [t["expr"] for _, t in _targets(fleet_model)]
    exprs += [a["expr"] for a in fleet_model["annotations"]["list"] if "expr" in a]
    assert len(exprs) > 40
    for expr in exprs:
        for selector in promql_ast.selectors(parse_grafana(expr, {"cluster": "CLUSTER"})):
            matchers = {(m.name, m.value) for m in selector.matchers.matchers}
            assert ("cluster", "CLUSTER") in matchers, (expr, str(selector))


def test_every_aggregation_and_join_keeps_the_cluster(fleet_model):
    """Two clusters' series are never added into one, and joins match within a cluster."""
    for panel, target in _targets(fleet_model):
        ast = parse_grafana(target["expr"])
        for node, _ in promql_ast.walk(ast):
            if isinstance(node, pp.AggregateExpr):
                labels = list(node.modifier.labels) if node.modifier else []
                assert labels and labels[0] == "cluster", (panel["title"], target["expr"])
            if isinstance(node, pp.BinaryExpr) and node.modifier and node.modifier.matching:
                assert "cluster" in node.modifier.matching.labels, (panel["title"], target["expr"])
        if target["format"] != "table":  # a table shows the cluster as a column
            assert target["legendFormat"].startswith("{{cluster}}"), panel["title"]


def test_fleet_output_passes_static_validation(tmp_path):
    project = tmp_path / "project"
    from tests.conftest import copy_project

    copy_project(project)
    (project / "environments.yaml").write_text(_settings(tmp_path, _fleet).read_text())
    result = run_gen("build", cwd=project)
    assert result.returncode == 0, result.stderr
    result = run_gen("validate", "--format", "json", cwd=project)
    import json

    report = json.loads(result.stdout)
    # The dashboards, Argo CD objects and manifests; the alert rules (alerts/) are checked by
    # their own tests.
    ours = [f for f in report["findings"] if f["severity"] != "info" and ": alert " not in f["object"]
            and f["check"] != "queue-caps"]  # true: the fleet's settings know no queue cap
    assert ours == [], ours


# -- Argo CD ------------------------------------------------------------------------------------

def test_applicationset_has_an_element_per_environment_and_cluster(tmp_path, project):
    (project / "environments.yaml").write_text(_settings(tmp_path, _fleet).read_text())
    result = run_gen("build", cwd=project)
    assert result.returncode == 0, result.stderr
    appset = yaml.safe_load((project / "out/argocd/applicationset.yaml").read_text())
    elements = appset["spec"]["generators"][0]["list"]["elements"]
    assert [(e["env"], e["cluster"], e["name"], e["server"], e["namespace"], e["release"]) for e in elements] == [
        ("dev", "", "triton-obs-dev", "https://kubernetes.default.svc", "monitoring", "monitoring-dev"),
        ("prod", "eu-west", "triton-obs-prod-eu-west", "https://eu-west.example.com:6443", "monitoring",
         "monitoring-prod"),
        ("prod", "us-east", "triton-obs-prod-us-east", "https://us-east.example.com:6443", "observability",
         "kube-prometheus-stack"),
    ]
    assert all(e["path"] == f"out/{e['env']}" for e in elements)
    template = appset["spec"]["template"]
    assert template["metadata"]["name"] == "{{.name}}"
    kustomize = template["spec"]["source"]["kustomize"]
    assert kustomize["namespace"] == "{{.namespace}}"
    assert {p["target"]["kind"] for p in kustomize["patches"]} == {"PrometheusRule", "ServiceMonitor"}
    assert all("value: {{.release}}" in p["patch"] for p in kustomize["patches"])
    assert crd_schemas.errors(appset) == []

    # The same as plain Applications: one per cluster, with the cluster's values where they differ
    apps = list(yaml.safe_load_all((project / "out/argocd/applications/prod.yaml").read_text()))
    assert [a["metadata"]["name"] for a in apps] == ["triton-obs-prod-eu-west", "triton-obs-prod-us-east"]
    assert [a["metadata"]["labels"]["triton-obs/cluster"] for a in apps] == ["eu-west", "us-east"]
    eu, us = apps
    assert "kustomize" not in eu["spec"]["source"]
    assert eu["spec"]["destination"] == {"server": "https://eu-west.example.com:6443", "namespace": "monitoring"}
    assert us["spec"]["destination"] == {"server": "https://us-east.example.com:6443", "namespace": "observability"}
    patch = yaml.safe_load(us["spec"]["source"]["kustomize"]["patches"][0]["patch"])
    assert patch == [{"op": "replace", "path": "/metadata/labels/release", "value": "kube-prometheus-stack"}]
    for app in apps:
        assert crd_schemas.errors(app) == []
    assert run_gen("build", "--check", cwd=project).returncode == 0


# -- the client for a global view ---------------------------------------------------------------

def test_headers_parse_and_never_show_their_values():
    assert parse_headers(["X-Scope-OrgID=team-a", "X-Extra=a=b"]) == (("X-Scope-OrgID", "team-a"),
                                                                      ("X-Extra", "a=b"))
    for bad, message in [
        ("secret-without-name", "--header #1: expected NAME=VALUE"),
        ("Bad Name=top-secret", "--header #1: 'Bad Name' is not a valid HTTP header name"),
        ("X-Scope-OrgID=", "--header #1: the value of 'X-Scope-OrgID' is empty"),
        ("Host=top-secret", "--header #1: 'Host' is set by gen itself"),
        ("Authorization=Bearer top-secret", "--header #1: 'Authorization' is set by gen itself"),
    ]:
        with pytest.raises(UserError) as caught:
            parse_headers([bad])
        assert caught.value.message.startswith(message)
        assert "secret" not in caught.value.message.replace("secret-without", "")
    auth = Auth(headers=parse_headers(["X-Scope-OrgID=tenant-42"]))
    assert "tenant-42" not in repr(auth) and "X-Scope-OrgID" in repr(auth)
    # registered as a secret: scrubbed from anything gen prints, a server's echo included
    assert scrub("no or unknown org id: 'tenant-42'") == "no or unknown org id: '***'"


def test_bad_header_option_is_exit_2_without_the_value():
    result = run_gen("validate", "--prometheus-url", "http://127.0.0.1:9", "--header", "s3cr3t-value",
                     cwd=REPO)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --header #1: expected NAME=VALUE (for example X-Scope-OrgID=team-a)"
    assert "s3cr3t" not in result.stdout + result.stderr
