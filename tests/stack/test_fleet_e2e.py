"""A fleet behind one global view: two Prometheus servers, each labelling its cluster
(external_labels) and remote_writing into one VictoriaMetrics. `gen validate` against the global
view finds both clusters' targets and data for every panel, with the cluster variable at All and
at each cluster; through a path prefix and a tenant header, as VictoriaMetrics cluster and Mimir
serve it."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import run_gen
from tests.stack import fleet, servers
from tests.stack.conftest import FLEET_CLUSTERS

pytestmark = pytest.mark.e2e


def _validate(project, url: str, *args: str, env=None):
    result = run_gen("validate", "--prometheus-url", url, "--env", "dev", "--format", "json", *args,
                     cwd=project, env=env)
    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    return result, report


def _live(report, check=None, severity=None):
    return [f for f in report["findings"] if f["check"].startswith("live")
            and (check is None or f["check"] == check) and (severity is None or f["severity"] == severity)]


def test_global_view_holds_both_clusters(global_view):
    for name in FLEET_CLUSTERS:
        series = servers.query(global_view.url, f'nv_inference_request_success{{cluster="{name}"}}')
        assert series and {s["metric"]["namespace"] for s in series} <= {"triton-dev", "team-x"}
        # recorded by each cluster's Prometheus, labelled on the way out
        assert servers.query(global_view.url, f'namespace_model:nv_inference_request_success:rate5m{{cluster="{name}"}}')


def _not_rules(report, severity):
    """Findings other than the alert rules' static lint (alerts/ has its own tests)."""
    return [f for f in report["findings"] if f["severity"] == severity and ": alert " not in f["object"]]


def test_validate_finds_both_clusters_and_data_for_every_panel(global_view, fleet_project):
    result, report = _validate(fleet_project, global_view.url)
    assert report is not None, result.stderr
    # True warnings aside: the retention (15 days, the budget reads 30) and models without a known
    # queue cap, which tests/stack/test_validate_e2e.py checks.
    warnings = [f for f in _not_rules(report, "warning") if f["check"] not in ("live-retention", "live-queue-caps")]
    assert _not_rules(report, "error") == [] and warnings == [], report["findings"]
    (targets,) = _live(report, "live-targets")
    assert targets["message"] == "Triton targets in 2 cluster(s): cluster-a, cluster-b"
    # Panels: every one has data at All and at each cluster; only optional series (GPU, response
    # cache, the first-response histogram) are absent, and that is information.
    panels = _live(report, "live-panel")
    assert panels and all(f["severity"] == "info" for f in panels), panels
    # The error budget reads SLO windows recorded every 5 minutes or hourly: not there yet either.
    assert all(any(word in f["object"] for word in ("GPU", "Cache", "first response", "Error budget", "Budget data"))
               for f in panels), panels
    # The same panels are empty at All and at each cluster, but for records that one cluster's
    # Prometheus has evaluated and the other's not yet (their groups start at their own offsets).
    settled = [f for f in panels if not f["hint"].startswith("optional until the first evaluation")]
    at_all = {f["object"] for f in settled if "(cluster=" not in f["object"]}
    for name in FLEET_CLUSTERS:
        suffix = f" (cluster={name})"
        assert {f["object"][: -len(suffix)] for f in settled if f["object"].endswith(suffix)} == at_all, name
    # Each panel query ran three times: All, cluster-a, cluster-b.
    dashboard = json.loads((fleet_project / "out/grafana/dev/triton-dev.json").read_text())
    from gen.render.grafana_json import iter_panels

    panel_queries = sum(len(p.get("targets") or []) for p in iter_panels(dashboard) if p["type"] != "row")
    assert report["queries"] >= 3 * panel_queries
    assert _live(report, "live-variable") == []


def test_a_listed_cluster_without_targets_is_an_error(global_view, fleet_project, tmp_path):
    from tests.conftest import copy_project

    project = copy_project(tmp_path / "project")
    (project / "environments.yaml").write_text((fleet_project / "environments.yaml").read_text())
    path = project / "environments.yaml"
    document = yaml.safe_load(path.read_text())
    document["environments"]["dev"]["clusters"].append(
        {"name": "cluster-c", "destination_server": "https://cluster-c.example.com:6443"})
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    assert run_gen("build", cwd=project).returncode == 0
    result, report = _validate(project, global_view.url)
    assert result.returncode == 1
    errors = {f["message"] for f in _live(report, severity="error")}
    assert "cluster cluster-c (listed in the settings) has no Triton target" in errors
    assert any(m.startswith("does not offer the cluster(s) cluster-c") for m in errors)


def test_the_namespace_picker_offers_only_the_environments_namespace(global_view, fleet_project):
    """Another team's Triton (team-x) is in the global view; the picker, and so the overview's
    recording rules, stay on the environment's namespace."""
    assert servers.query(global_view.url, 'nv_inference_count{namespace="team-x"}')
    dashboard = json.loads((fleet_project / "out/grafana/dev/triton-dev.json").read_text())
    (namespace,) = [v for v in dashboard["templating"]["list"] if v["name"] == "namespace"]
    selector = namespace["query"][len("label_values("):-len(", namespace)")].replace('=~"$cluster"', '=~".*"')
    import urllib.parse
    import urllib.request

    url = f"{global_view.url}/api/v1/label/namespace/values?" + urllib.parse.urlencode({"match[]": selector})
    with urllib.request.urlopen(url, timeout=10) as response:
        assert json.load(response)["data"] == ["triton-dev"]


def test_path_prefix_and_tenant_header(global_view, fleet_project):
    tenant = "tenant-secret-42"
    with fleet.tenant_proxy(global_view.url, tenant) as proxy:
        result, _ = _validate(fleet_project, proxy.url)
        assert result.returncode == 2
        assert result.stderr.startswith(f"error: {proxy.url}: Prometheus answered 401")
        # a wrong tenant: the server echoes it back; gen prints neither it nor the right one
        result, _ = _validate(fleet_project, proxy.url, "--header", f"X-Scope-OrgID={tenant}-wrong")
        assert result.returncode == 2 and tenant not in result.stdout + result.stderr
        result, report = _validate(fleet_project, proxy.url, "--header", f"X-Scope-OrgID={tenant}")
        assert report is not None, result.stderr
        assert _not_rules(report, "error") == []
        assert tenant not in result.stdout + result.stderr
        assert report["prometheus_url"] == proxy.url
        # every API call went through the prefix with the tenant
        served = [r for r in proxy.requests if r["tenant"] == tenant]
        assert served and all(r["path"].startswith("/select/0/prometheus/api/v1/") for r in served)
        # without the prefix: one line saying where the API is expected
        result, _ = _validate(fleet_project, proxy.url.rsplit("/select", 1)[0], "--header", f"X-Scope-OrgID={tenant}")
        assert result.returncode == 2
        assert "is a path prefix missing" in result.stderr and len(result.stderr.strip().splitlines()) == 1
