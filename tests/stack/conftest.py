"""One Triton for the whole session, with traffic flowing, and the Prometheus-compatible servers
that scrape it: a correct set-up, a broken one, and VictoriaMetrics."""

from __future__ import annotations

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
def prometheus_dev(triton, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("prometheus-dev")
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
def victoria_metrics_dev(triton, tmp_path_factory):
    """VictoriaMetrics scraping Triton, with vmalert recording the rules into it."""
    workdir = tmp_path_factory.mktemp("vm")
    rules = servers.rule_files_from_out(REPO / "out" / "dev", workdir / "rules")
    with servers.victoria_metrics_server(workdir, [(triton.metrics_target, TRITON_LABELS)]) as vm:
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
