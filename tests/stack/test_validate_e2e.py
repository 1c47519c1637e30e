"""`gen validate --prometheus-url` against real servers scraping a real Triton."""

from __future__ import annotations

import json

import pytest

from tests.conftest import copy_project, find_panel, run_gen

pytestmark = pytest.mark.e2e


def _validate(url: str, *args: str, cwd=None, env=None):
    from tests.conftest import REPO

    result = run_gen("validate", "--prometheus-url", url, "--env", "dev", "--format", "json", *args,
                     cwd=cwd or REPO, env=env)
    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    return result, report


def _live(report, check=None, severity=None):
    return [f for f in report["findings"] if f["check"].startswith("live")
            and (check is None or f["check"] == check) and (severity is None or f["severity"] == severity)]


def test_every_panel_returns_data_and_every_rule_evaluates(prometheus_dev):
    result, report = _validate(prometheus_dev.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["counts"]["error"] == 0, report["findings"]
    # Panels: only what needs a GPU, the response cache or a decoupled model's first-response
    # histogram is empty here, and that is information; the Pods row (cAdvisor and
    # kube-state-metrics shapes) and the tail-latency summaries have data.
    panels = _live(report, "live-panel")
    assert all(f["severity"] == "info" for f in panels), panels
    empty = sorted({f["object"].split(" / ", 1)[1].rsplit(" / ", 1)[0] for f in panels})
    # The error budget reads SLO windows recorded every 5 minutes or hourly: on a Prometheus
    # started a minute ago they may not exist yet, and the hint says so.
    budget = {"panel 'Error budget left (30d)'", "panel 'Error budget burn rate'", "panel 'Budget data covers'"}
    assert all("recorded every" in f["hint"] for f in panels if any(b in f["object"] for b in budget)), panels
    empty = [panel for panel in empty if panel not in budget]
    assert empty == ["panel 'Cache hit and miss time'", "panel 'Cache hit ratio'", "panel 'GPU energy per inference'",
                     "panel 'GPU memory used against total'", "panel 'GPU power'", "panel 'GPU utilization'",
                     "panel 'Time to first response p50 / p90 / p99'"], empty
    assert _live(report, "live-rule", "error") == [] and _live(report, "live-rule", "warning") == []
    assert _live(report, "live-variable") == []
    # Every query of the dev dashboard and rules ran.
    assert report["queries"] > 60
    # Prometheus keeps 15 days by default; the budget reads 30: said, with where it was read.
    (retention,) = _live(report, "live-retention")
    assert retention["severity"] == "warning", retention
    assert retention["message"].startswith("the server keeps 15d (/api/v1/status/runtimeinfo storageRetention)")
    assert "windows up to [30d]" in retention["message"] and "prometheusSpec.retention" in retention["hint"]
    # The models this Triton serves whose queue cap dev's settings do not know: each named.
    caps = {f["object"] for f in _live(report, "live-queue-caps")}
    assert caps and "dev: model simple_model" not in caps, caps
    assert all(f["severity"] == "warning" and "--write-queue-caps" in f["hint"]
               for f in _live(report, "live-queue-caps"))


def test_missing_namespace_label_is_an_error(prometheus_no_namespace):
    result, report = _validate(prometheus_no_namespace.url)
    assert result.returncode == 1, result.stdout + result.stderr
    (target,) = _live(report, "live-targets")
    assert target["severity"] == "error"
    assert target["message"] == "no scraped Triton target in the environment's namespace"
    assert "carry no namespace label" in target["hint"]
    missing = {f["object"] for f in _live(report, "live-metric", "error") if "not with namespace" in f["message"]}
    assert "dev: metric nv_inference_request_success" in missing
    # This Prometheus scrapes no cAdvisor / kube-state-metrics: a warning naming where they come from.
    kube = [f for f in _live(report, "live-metric") if f["object"].startswith("dev: metric container_")]
    assert kube and all(f["severity"] == "warning" and "kube-prometheus-stack" in f["message"] for f in kube)
    assert any(f["severity"] == "error" for f in _live(report, "live-variable"))



def test_the_summary_counts_what_is_printed_and_all_prints_the_folded(prometheus_no_namespace):
    from tests.conftest import REPO

    def blocks(stdout: str) -> list[str]:
        return [line for line in stdout.splitlines() if line.split(" ", 1)[0] in ("error", "warning", "info")]

    folded = run_gen("validate", "--prometheus-url", prometheus_no_namespace.url, "--env", "dev", cwd=REPO)
    every = run_gen("validate", "--prometheus-url", prometheus_no_namespace.url, "--env", "dev", "--all", cwd=REPO)
    assert folded.returncode == every.returncode == 1
    summary = folded.stdout.strip().splitlines()[-1]
    counts = summary.split(" (", 1)[0].split(", ")
    printed = sum(int(part.split()[0]) for part in counts[:3])
    assert printed == len(blocks(folded.stdout)), summary
    hidden = int(summary.split(" shown, ", 1)[1].split()[0])
    assert "--all shows them" in summary and hidden > 0
    assert len(blocks(every.stdout)) == printed + hidden
    assert "follows from: dev: Triton targets" in every.stdout
    assert " shown, " not in every.stdout.strip().splitlines()[-1]

def test_misnamed_metric_in_a_definition_is_found(prometheus_dev, tmp_path):
    project = copy_project(tmp_path / "project")
    triton = project / "dashboards" / "triton.py"
    text = triton.read_text()
    assert '"nv_inference_exec_count"' in text
    triton.write_text(text.replace('"nv_inference_exec_count"', '"nv_inference_exec_cnt"'))
    assert run_gen("dashboards", cwd=project).returncode == 0
    result, report = _validate(prometheus_dev.url, cwd=project)
    assert result.returncode == 1
    errors = [f for f in _live(report, severity="error")]
    assert {"object": "dev: metric nv_inference_exec_cnt", "message": "absent: no series has this name"} in [
        {"object": f["object"], "message": f["message"]} for f in errors
    ]
    (panel,) = [f for f in _live(report, "live-panel") if "Batching efficiency" in f["object"]]
    assert panel["severity"] == "warning" and "nv_inference_exec_cnt" in panel["hint"]


def test_victoria_metrics(victoria_metrics_dev):
    result, report = _validate(victoria_metrics_dev.url)
    assert result.returncode == 0, result.stdout + result.stderr
    panels = _live(report, "live-panel")
    assert all(f["severity"] == "info" for f in panels), [f for f in panels if f["severity"] != "info"]
    assert _live(report, "live-rule", "error") == []
    # VictoriaMetrics keeps a month by default (-retentionPeriod=1, read from /flags): enough.
    assert _live(report, "live-retention") == [], _live(report, "live-retention")


def test_table_output_and_summary(prometheus_dev):
    from tests.conftest import REPO

    result = run_gen("validate", "--prometheus-url", prometheus_dev.url, "--env", "dev", cwd=REPO)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # A block per finding (severity first, then indented query and hint lines), then the summary.
    assert all(line.split()[0] in ("info", "warning") or line.startswith(" " * 9) for line in lines[:-1])
    # The warnings are true: Prometheus keeps 15 days (the budget reads 30), and models without a
    # known queue cap (test_every_panel_returns_data_and_every_rule_evaluates checks them).
    assert lines[-1].startswith("0 errors, ")
    assert f"live against {prometheus_dev.url}" in lines[-1]


def test_bearer_token_for_a_secured_prometheus(secured_prometheus, tmp_path):
    url, token = secured_prometheus
    result, _ = _validate(url, env={"PROMETHEUS_TOKEN": ""})
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {url}: Prometheus answered 401")
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    result, report = _validate(url, "--bearer-token-file", str(token_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert token not in result.stdout + result.stderr


def test_unreachable_server_exit_2(tmp_path):
    from tests.stack.servers import free_port

    result, _ = _validate(f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2
    assert result.stderr.startswith("error: http://127.0.0.1:")
    assert "unreachable" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_custom_ca_for_a_tls_prometheus(tls_prometheus, tmp_path):
    url, token, ca = tls_prometheus
    environ = {"PROMETHEUS_TOKEN": token}
    result, _ = _validate(url, env=environ)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {url}: TLS verification failed")
    result, report = _validate(url, "--ca-cert", str(ca), env=environ)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["counts"]["error"] == 0
    result, _ = _validate(url, "--insecure", env=environ)
    assert result.returncode == 0


def test_raw_counter_and_too_short_window_are_errors(prometheus_dev, tmp_path):
    import yaml

    project = copy_project(tmp_path / "project")
    dashboard_path = project / "out/grafana/dev/triton-dev.json"
    model = json.loads(dashboard_path.read_text())
    pending = find_panel(model, "Pending requests")
    pending["targets"][0]["expr"] = 'sum by (model) (nv_inference_count{namespace=~"$namespace", model=~"$model"})'
    dashboard_path.write_text(json.dumps(model))
    rules_path = project / "out/dev/prometheusrule-triton.yaml"
    rules = yaml.safe_load(rules_path.read_text())
    rules["spec"]["groups"][0]["rules"][0]["expr"] = (
        'sum by (namespace, model) (rate(nv_inference_request_success{namespace="triton-dev"}[1s]))'
    )
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))
    result, report = _validate(prometheus_dev.url, cwd=project)
    assert result.returncode == 1
    (counter,) = _live(report, "live-counter")
    assert counter["object"] == "triton-dev / panel 'Pending requests' / A"
    assert counter["message"] == "nv_inference_count is a counter, used outside rate()/increase()"
    (window,) = _live(report, "live-range-window")
    assert window["object"] == "dev: record namespace_model:nv_inference_request_success:rate5m"
    assert window["message"].startswith("range [1s] is shorter than twice the scrape interval (1s)")


def test_empty_panel_names_the_selector_that_matches_nothing(prometheus_dev, tmp_path):
    project = copy_project(tmp_path / "project")
    dashboard_path = project / "out/grafana/dev/triton-dev.json"
    model = json.loads(dashboard_path.read_text())
    panel = find_panel(model, "Failures by reason")
    panel["targets"][0]["expr"] = panel["targets"][0]["expr"].replace('model=~"$model"', 'model=~"$model", reason="TIMEOUT"')
    dashboard_path.write_text(json.dumps(model))
    result, report = _validate(prometheus_dev.url, cwd=project)
    assert result.returncode == 0  # an empty panel is a warning
    (finding,) = [f for f in _live(report, "live-panel") if "Failures by reason" in f["object"]]
    assert finding["severity"] == "warning" and finding["message"] == "returns no data"
    assert finding["hint"].startswith('the selector nv_inference_request_failure{namespace=~"triton-dev",model=~".+",'
                                      'reason="TIMEOUT"} matches nothing')


# The 6h error ratio is recorded every 5 minutes: its first evaluation can land while validate
# runs, after a panel's query came back empty and before the explanation is looked up. Then the
# panel's emptiness is the rules starting, not "no traffic".
_BURN_6H = ('namespace_model:nv_inference_request_errors:ratio_rate6h{namespace="triton-dev"}\n'
            '/ on (namespace, model)\n'
            '(namespace_model:nv_inference_request_errors:slo_budget_ratio{namespace="triton-dev"} > 0)')


def _explain_on_samples(tmp_path, lines: list[str]) -> str:
    import requests

    from gen.settings import load_settings
    from gen.validate import inventory as inventory_mod
    from gen.validate.client import PrometheusClient
    from gen.validate.live import Context, _explain_empty
    from tests.conftest import REPO
    from tests.stack import servers

    with servers.victoria_metrics_server(tmp_path / "vm", []) as vm:
        requests.post(f"{vm.url}/api/v1/import/prometheus", data="\n".join(lines) + "\n", timeout=10).raise_for_status()
        requests.get(f"{vm.url}/internal/force_flush", timeout=10)
        servers.wait_for(vm.url, "namespace_model:nv_inference_request_errors:slo_budget_ratio", timeout=30)
        settings = load_settings(REPO / "environments.yaml")
        (env,) = settings.select("dev")
        ctx = Context(env, PrometheusClient(vm.url), inventory_mod.load(REPO / "out"))
        ctx.present = {"namespace_model:nv_inference_request_errors:ratio_rate6h": True,
                       "namespace_model:nv_inference_request_errors:slo_budget_ratio": True}
        assert not servers.query(vm.url, _BURN_6H), "the budget is 0: the query must come back empty"
        return _explain_empty(ctx, _BURN_6H)


def _samples(evaluations_ago_s: list[int]) -> list[str]:
    import time

    now_ms = int(time.time() * 1000)
    labels = '{namespace="triton-dev",model="m"}'
    lines = [f"namespace_model:nv_inference_request_errors:ratio_rate6h{labels} 0.5 {now_ms - ago * 1000}"
             for ago in evaluations_ago_s]
    lines += [f"namespace_model:nv_inference_request_errors:slo_budget_ratio{labels} 0 {now_ms - ago * 1000}"
              for ago in range(0, 700, 15)]
    return lines


def test_a_slow_record_evaluated_once_is_the_rules_starting_not_missing_traffic(tmp_path):
    hint = _explain_on_samples(tmp_path, _samples([20]))
    assert hint.startswith("optional until the first evaluations"), hint
    assert "evaluated once so far" in hint


def test_a_slow_record_evaluated_for_a_while_reads_as_no_traffic(tmp_path):
    hint = _explain_on_samples(tmp_path, _samples([620, 320, 20]))
    assert hint.startswith("the series exist but the query returns nothing now"), hint
