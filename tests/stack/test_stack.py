"""The harness itself: real Triton metrics reach Prometheus and VictoriaMetrics."""

from __future__ import annotations

import pytest

from tests.stack import servers

pytestmark = pytest.mark.e2e


def test_prometheus_scrapes_triton_with_namespace(prometheus_dev):
    ok = servers.query(prometheus_dev.url, 'nv_inference_request_success{namespace="triton-dev",model="simple_model"}')
    assert ok and float(ok[0]["value"][1]) >= 20
    failed = servers.query(prometheus_dev.url, 'nv_inference_request_failure{namespace="triton-dev",model="simple_model",reason="BACKEND"}')
    assert failed and float(failed[0]["value"][1]) >= 5
    assert servers.query(prometheus_dev.url, 'rate(nv_inference_request_success{namespace="triton-dev"}[5s])')
    models = {s["metric"]["model"] for s in servers.query(prometheus_dev.url, "nv_inference_count")}
    assert models == {"simple_model", "identity_model"}


def test_broken_prometheus_has_no_namespace(prometheus_no_namespace):
    series = servers.query(prometheus_no_namespace.url, "nv_inference_request_success")
    assert series and all("namespace" not in s["metric"] for s in series)


def test_victoria_metrics_scrapes_triton(victoria_metrics_dev):
    assert servers.query(victoria_metrics_dev.url, 'nv_inference_request_success{namespace="triton-dev"}')
