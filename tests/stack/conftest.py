"""One Triton for the whole session, with traffic flowing, and the Prometheus-compatible servers
that scrape it: a correct set-up, a broken one, and VictoriaMetrics."""

from __future__ import annotations

import contextlib
import time

import pytest

from tests.conftest import REPO
from tests.stack import servers

TRITON_LABELS = {"namespace": "triton-dev", "pod": "triton-0", "service": "triton"}


@pytest.fixture(scope="session")
def triton(tmp_path_factory):
    with servers.triton_server(tmp_path_factory.mktemp("triton")) as server:
        counts = servers.send_traffic(server.http_url, "simple_model", ok=20, failing=5)
        assert counts == {200: 20, 500: 5}, counts
        servers.send_traffic(server.http_url, "identity_model", ok=10, failing=0)
        with servers.Traffic(server.http_url):
            yield server


def _warm(url: str, selector: str) -> None:
    """Enough samples for rate() over a few seconds, and for the recording rules to have run."""
    servers.wait_for(url, f"nv_inference_request_success{selector}")
    time.sleep(6)


@pytest.fixture(scope="session")
def kubernetes_dev():
    """cAdvisor and kube-state-metrics as kube-prometheus-stack scrapes them, for Triton's pod
    triton-0 (and one other pod of the namespace): the dashboard's Pods row reads them."""
    from tests.stack import fleet

    shape = fleet.KubernetesShape(TRITON_LABELS["namespace"], [TRITON_LABELS["pod"]])
    with fleet.metrics_endpoint(shape.text) as endpoint:
        yield {"job_name": "kubelet", "scrape_interval": "1s", "honor_labels": True,
               "static_configs": [{"targets": [endpoint.target]}]}


@pytest.fixture(scope="session")
def prometheus_dev(triton, kubernetes_dev, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("prometheus-dev")
    rules = servers.rule_files_from_out(REPO / "out" / "dev", workdir / "rules")
    with servers.prometheus_server(workdir, [(triton.metrics_target, TRITON_LABELS)], rules,
                                   extra_jobs=[kubernetes_dev]) as prom:
        _warm(prom.url, '{namespace="triton-dev"}')
        servers.wait_for(prom.url, "namespace_model:nv_inference_request_success:rate5m")
        servers.wait_for_panel_data(prom.url, servers.DEEPEST_PANEL_QUERIES)
        yield prom


@pytest.fixture(scope="session")
def prometheus_dev_without_kubernetes(triton, tmp_path_factory):
    """Triton and the rules, but no cAdvisor or kube-state-metrics: a Prometheus outside
    kube-prometheus-stack."""
    workdir = tmp_path_factory.mktemp("prometheus-dev-no-kube")
    rules = servers.rule_files_from_out(REPO / "out" / "dev", workdir / "rules")
    with servers.prometheus_server(workdir, [(triton.metrics_target, TRITON_LABELS)], rules) as prom:
        _warm(prom.url, '{namespace="triton-dev"}')
        servers.wait_for(prom.url, "namespace_model:nv_inference_request_success:rate5m")
        yield prom


@pytest.fixture(scope="session")
def prometheus_no_namespace(triton, tmp_path_factory):
    """The silent failure: Triton scraped by a job that attaches no namespace label."""
    workdir = tmp_path_factory.mktemp("prometheus-broken")
    labels = {k: v for k, v in TRITON_LABELS.items() if k != "namespace"}
    rules = servers.rule_files_from_out(REPO / "out" / "dev", workdir / "rules")
    with servers.prometheus_server(workdir, [(triton.metrics_target, labels)], rules) as prom:
        _warm(prom.url, "")
        yield prom


@pytest.fixture(scope="session")
def victoria_metrics_dev(triton, kubernetes_dev, tmp_path_factory):
    """VictoriaMetrics scraping Triton, with vmalert recording the rules into it."""
    workdir = tmp_path_factory.mktemp("vm")
    rules = servers.rule_files_from_out(REPO / "out" / "dev", workdir / "rules")
    with servers.victoria_metrics_server(workdir, [(triton.metrics_target, TRITON_LABELS)],
                                         extra_jobs=[kubernetes_dev]) as vm:
        with servers.vmalert_server(workdir, vm.url, rules):
            _warm(vm.url, '{namespace="triton-dev"}')
            # Chained records (mean, ratio) appear once their inputs were written back.
            for record in ("namespace_model:nv_inference_request_duration_us:mean5m",
                           "namespace_model:nv_inference_queue_duration_us:mean5m",
                           "namespace_model:nv_inference_request_failures_per_request:ratio_rate5m",
                           # the SLO's ratios sit three records deep
                           "namespace_model:nv_inference_request_errors:ratio_rate1h",
                           "namespace_model:nv_inference_request_errors:slo_budget_ratio"):
                servers.wait_for(vm.url, record, timeout=90)
            servers.wait_for_panel_data(vm.url, servers.DEEPEST_PANEL_QUERIES)
            yield vm


@pytest.fixture(scope="session")
def secured_prometheus(prometheus_dev, tmp_path_factory):
    """prometheus_dev behind a bearer token (vmauth)."""
    token = "s3cr3t-prometheus-token"
    with servers.vmauth_server(tmp_path_factory.mktemp("vmauth"), prometheus_dev.url, token) as proxy:
        yield proxy.url, token


@pytest.fixture(scope="session")
def tls_prometheus(prometheus_dev, tmp_path_factory):
    """prometheus_dev behind HTTPS with a certificate from a private CA, and a bearer token."""
    from tests.tls import make_certificates

    certs = make_certificates(tmp_path_factory.mktemp("tls"))
    token = "tls-prometheus-token"
    with servers.vmauth_server(tmp_path_factory.mktemp("vmauth-tls"), prometheus_dev.url, token,
                               tls=(certs.cert, certs.key)) as proxy:
        yield proxy.url, token, certs.ca


# -- a fleet: two clusters behind one global view (tests/stack/fleet.py) -------------------------

FLEET_CLUSTERS = ("cluster-a", "cluster-b")


@pytest.fixture(scope="session")
def fleet_project(tmp_path_factory):
    """A copy of the project whose dev environment runs in two clusters, with the cluster label."""
    import yaml

    from tests.conftest import copy_project, run_gen

    project = copy_project(tmp_path_factory.mktemp("fleet") / "project")
    path = project / "environments.yaml"
    document = yaml.safe_load(path.read_text())
    document["defaults"]["cluster_label"] = "cluster"
    document["environments"]["dev"]["clusters"] = [
        {"name": name, "destination_server": f"https://{name}.example.com:6443"} for name in FLEET_CLUSTERS]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    result = run_gen("build", cwd=project)
    assert result.returncode == 0, result.stderr
    return project


@pytest.fixture(scope="session")
def global_view(fleet_project, tmp_path_factory):
    """Two clusters, each a Prometheus with external_labels {cluster: ...} scraping its own
    Triton-shaped target (and cAdvisor / kube-state-metrics), with the rules loaded, remote_writing
    into one VictoriaMetrics. cluster-b also runs another team's Triton in namespace team-x, which
    the dashboard's namespace picker must not offer."""
    from tests.stack import fleet

    workdir = tmp_path_factory.mktemp("global-view")
    with contextlib.ExitStack() as stack:
        vm = stack.enter_context(fleet.victoria_metrics_receiver(workdir / "vm"))
        for name in FLEET_CLUSTERS:
            triton = stack.enter_context(fleet.metrics_endpoint(fleet.TritonShape().text))
            kube = stack.enter_context(fleet.metrics_endpoint(
                fleet.KubernetesShape("triton-dev", ["triton-0"]).text))
            targets = [(triton.target, {"namespace": "triton-dev", "pod": "triton-0", "service": "triton"})]
            if name == "cluster-b":
                other = stack.enter_context(fleet.metrics_endpoint(fleet.TritonShape().text))
                targets.append((other.target, {"namespace": "team-x", "pod": "triton-0", "service": "triton"}))
            rules = servers.rule_files_from_out(fleet_project / "out" / "dev", workdir / name / "rules")
            config = fleet.cluster_config(name, targets, kube.target, rules, f"{vm.url}/api/v1/write")
            stack.enter_context(fleet.prometheus_with_config(workdir / name, config))
        for name in FLEET_CLUSTERS:
            servers.wait_for(vm.url, f'up{{job="triton", cluster="{name}", namespace="triton-dev"}}', timeout=90)
            servers.wait_for(vm.url, f'namespace_model:nv_inference_request_failures_per_request:ratio_rate5m'
                                     f'{{cluster="{name}"}}', timeout=90)
        # Range queries at the panels' 15 s step see the newest samples a little later than
        # instant queries: wait until they do, for raw and recorded series in both clusters.
        from gen.validate.client import PrometheusClient

        client = PrometheusClient(vm.url)
        deadline = time.monotonic() + 90
        for expr in ('sum by (cluster) (rate(nv_inference_request_success{namespace="triton-dev"}[1m]))',
                     'sum by (cluster) (up{job="triton", namespace="triton-dev"})',
                     'sum by (cluster) (namespace_model:nv_inference_request_success:rate5m)'):
            while len(client.query_range(expr, 900, 15)) < len(FLEET_CLUSTERS):
                assert time.monotonic() < deadline, f"no range data for {expr}"
                time.sleep(1)
        servers.wait_for_panel_data(vm.url, servers.DEEPEST_PANEL_QUERIES, series=len(FLEET_CLUSTERS), by="cluster")
        yield vm
