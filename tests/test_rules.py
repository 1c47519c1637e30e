"""Alerting: the rendered PrometheusRules and ServiceMonitors, proven with promtool and the CRDs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gen.render import rules as rules_build
from gen.settings import load_settings
from tests import crd_schemas
from tests.conftest import REPO, require_binary, run_gen, snapshot

PROMTOOL_TESTS = REPO / "tests" / "promtool"
ALERTS = [
    "TritonTargetAbsent",
    "TritonReplicasMissing",
    "TritonKubeStateMetricsAbsent",
    "TritonModelErrorRatioHigh",
    "TritonModelErrorBudgetBurn",
    "TritonModelNoSuccessfulInference",
    "TritonModelUnavailable",
    "TritonModelLatencyHigh",
    "TritonModelQueueTimeHigh",
    "TritonModelBacklogHigh",
    "TritonModelBacklogSecondsHigh",
    "TritonModelQueueNearFull",
    "TritonNodeCPUSaturated",
    "TritonPodCPUThrottled",
    "TritonPodMemoryNearLimit",
    "TritonPodRestarting",
    "TritonPodOOMKilled",
]


@pytest.fixture(scope="module")
def built():
    return {item.env.name: item for item in rules_build.build_rules(load_settings(REPO / "environments.yaml"))}


def _rules_dir(tmp_path: Path, item) -> Path:
    """The environment's rules as a plain rules file, with the promtool tests beside it."""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules_build.rules_file(item), sort_keys=False))
    for test in PROMTOOL_TESTS.glob("*.test.yaml"):
        shutil.copy(test, tmp_path / test.name)
    return tmp_path


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([require_binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_promtool_check_rules(env, built, tmp_path):
    directory = _rules_dir(tmp_path, built[env])
    result = _promtool("check", "rules", "rules.yaml", cwd=directory)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(built[env].alerts()) + len(built[env].recordings())} rules found" in result.stdout


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_promtool_unit_tests(env, built, tmp_path):
    directory = _rules_dir(tmp_path, built[env])
    result = _promtool("test", "rules", f"{env}.test.yaml", cwd=directory)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_can_fail(built, tmp_path):
    """The unit tests see the thresholds: a dev threshold raised above the test's error ratio makes
    them fail."""
    item = built["dev"]
    directory = _rules_dir(tmp_path, item)
    rules = yaml.safe_load((directory / "rules.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "TritonModelErrorRatioHigh":
                rule["expr"] = rule["expr"].replace("> 0.05", "> 1")
    (directory / "rules.yaml").write_text(yaml.safe_dump(rules))
    result = _promtool("test", "rules", "dev.test.yaml", cwd=directory)
    assert result.returncode != 0
    assert "TritonModelErrorRatioHigh" in result.stdout + result.stderr


def _alerts_tested_firing(test_file: Path) -> set[str]:
    document = yaml.safe_load(test_file.read_text())
    return {
        case["alertname"]
        for test in document["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }


def test_unit_tests_cover_every_alert_and_recording_rule(built):
    dev = yaml.safe_load((PROMTOOL_TESTS / "dev.test.yaml").read_text())
    assert _alerts_tested_firing(PROMTOOL_TESTS / "dev.test.yaml") == {r["alert"] for r in built["dev"].alerts()}
    silent = {
        case["alertname"]
        for test in dev["tests"]
        if test["name"] in ("healthy traffic", "no traffic")
        for case in test["alert_rule_test"]
        if case["exp_alerts"] == []
    }
    assert silent == set(ALERTS)
    tested = " ".join(case["expr"] for test in dev["tests"] for case in test.get("promql_expr_test", []))
    recorded = set(re.findall(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", tested))
    assert {r["record"] for r in built["dev"].recordings()} <= recorded


def test_alerts_are_the_promised_set_with_settings_applied(built):
    settings = load_settings(REPO / "environments.yaml")
    for env_name, item in built.items():
        env = settings.environments[env_name]
        alerts = {rule["alert"]: rule for rule in item.alerts()}
        # The queue alert exists where the settings know a model's queue cap (dev's example).
        has_caps = any(model.max_queue_size for model in env.models.values())
        # Beside kube-prometheus-stack's rules, what they say already is left out (prod).
        upstream = {"TritonPodCPUThrottled", "TritonPodRestarting"} if env.kubernetes_mixin_alerts else set()
        assert list(alerts) == [a for a in ALERTS if (has_caps or a != "TritonModelQueueNearFull")
                                and a not in upstream]
        for rule in item.alerts():
            name = rule["alert"]
            assert rule["labels"]["severity"] in ("critical", "warning", "info")
            assert rule["labels"]["environment"] == env_name
            assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
            assert rule["annotations"]["runbook_url"] == f"{env.runbooks_url}#{name.lower()}"
            assert f'namespace="{env.namespace}"' in rule["expr"]
        error = env.thresholds["error_ratio"]
        assert alerts["TritonModelErrorRatioHigh"]["for"] == error.for_
        assert alerts["TritonModelErrorRatioHigh"]["labels"]["severity"] == error.severity
        assert f"> {error.threshold:g}\n" in alerts["TritonModelErrorRatioHigh"]["expr"]
        assert alerts["TritonModelErrorRatioHigh"]["expr"].endswith(f">= {error.min_failures}")
    # dev pages nobody: nothing above warning; prod pages on the fast burn and a dead model.
    assert {r["labels"]["severity"] for r in built["dev"].alerts()} == {"warning", "info"}
    prod = {(r["alert"], r["labels"].get("burn_rate")): r["labels"]["severity"] for r in built["prod"].alerts()}
    assert prod[("TritonModelErrorBudgetBurn", "fast")] == "critical"
    assert prod[("TritonModelErrorBudgetBurn", "slow")] == "warning"
    assert prod[("TritonModelNoSuccessfulInference", None)] == "critical"
    assert prod[("TritonModelErrorRatioHigh", None)] == "warning"


def _runbook_sections() -> dict[str, str]:
    """docs/runbooks.md's `## ` sections by their anchor, as GitHub makes it."""
    text = (REPO / "docs" / "runbooks.md").read_text()
    sections: dict[str, str] = {}
    for chunk in text.split("\n## ")[1:]:
        title, _, body = chunk.partition("\n")
        sections[re.sub(r"[^a-z0-9 -]", "", title.strip().lower()).replace(" ", "-")] = body
    return sections


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_runbook_link_has_a_section(env, built):
    """Every rendered runbook_url points at a section that says what it means, how to confirm it
    on the dashboard, what to do, and when it is not Triton's fault."""
    sections = _runbook_sections()
    for rule in built[env].alerts():
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in sections, rule["alert"]
        for part in ("**What it means.**", "**Confirm on the dashboard.**", "**What to do.**",
                     "**When it is not Triton's fault.**"):
            assert part in sections[anchor], (rule["alert"], part)
    assert {name.lower() for name in ALERTS} <= set(sections)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_manifests_match_the_crds_and_carry_the_release_label(env):
    settings = load_settings(REPO / "environments.yaml")
    environment = settings.environments[env]
    for name in ("prometheusrule-triton.yaml", "servicemonitor-triton.yaml"):
        document = yaml.safe_load((REPO / "out" / env / name).read_text())
        assert crd_schemas.errors(document) == []
        assert document["metadata"]["labels"]["release"] == environment.prometheus_release
        assert document["metadata"]["namespace"] == environment.monitoring_namespace


def test_service_monitor_selects_triton_from_settings():
    monitor = yaml.safe_load((REPO / "out" / "prod" / "servicemonitor-triton.yaml").read_text())
    assert monitor["metadata"]["labels"]["release"] == "monitoring-prod"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["triton-prod"]}
    assert monitor["spec"]["selector"] == {"matchLabels": {"app": "triton"}}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics" and endpoint["interval"] == "15s"
    assert {"action": "replace", "targetLabel": "job", "replacement": "triton"} in endpoint["relabelings"]


def test_crd_validation_catches_a_bad_manifest():
    monitor = yaml.safe_load((REPO / "out" / "dev" / "servicemonitor-triton.yaml").read_text())
    monitor["spec"]["endpoints"][0]["interval"] = "15 seconds"
    assert any("interval" in error for error in crd_schemas.errors(monitor))


def test_gen_alerts_renders_and_checks(project):
    (project / "out" / "dev" / "prometheusrule-triton.yaml").unlink()
    check = run_gen("alerts", "--check", cwd=project)
    assert check.returncode == 1
    assert "missing: out/dev/prometheusrule-triton.yaml" in check.stdout
    result = run_gen("alerts", "--env", "dev", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "wrote out/dev/prometheusrule-triton.yaml"
    assert run_gen("build", "--check", cwd=project).returncode == 0
    assert (project / "out/dev/prometheusrule-triton.yaml").read_bytes() == (
        REPO / "out/dev/prometheusrule-triton.yaml"
    ).read_bytes()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (
            'f"{PENDING}{ns} > {number(t[\'pending_requests\'].threshold)}"',
            'f"{PENDING}{ns} > > 1"',
            "alerts/triton.py: alert 'TritonModelBacklogHigh' (environment 'dev'): expr: does not parse as PromQL:",
        ),
        (
            '"TritonNodeCPUSaturated",\n',
            '"TritonModelLatencyHigh",\n',
            "alerts/triton.py: alert 'TritonModelLatencyHigh' (environment 'dev'): alert: duplicate name "
            "(in the same file)",
        ),
        (
            'Recording(SUCCESS_RATE, ',
            'Recording("success_rate", ',
            "alerts/triton.py: recording rule 'success_rate' (environment 'dev'): record: 'success_rate' is not "
            "named level:metric:operations",
        ),
        (
            '"TritonTargetAbsent",\n',
            '"triton_target_absent",\n',
            "alerts/triton.py: alert 'triton_target_absent' (environment 'dev'): alert: 'triton_target_absent' is not "
            "a CamelCase name",
        ),
    ],
)
def test_bad_rule_is_named_exit_2_nothing_written(project, old, new, expected):
    _edit(project / "alerts" / "triton.py", old, new)
    before = snapshot(project / "out")
    result = run_gen("build", cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {expected}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(project / "out") == before


def test_threshold_of_the_wrong_type_exit_2_nothing_written(project):
    _edit(project / "environments.yaml", "threshold: 0.9\n", "threshold: ninety\n")
    before = snapshot(project / "out")
    result = run_gen("alerts", cwd=project)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: environments.yaml: defaults.thresholds.cpu_utilization.threshold: 'ninety' is not of type 'number'"
    )
    assert snapshot(project / "out") == before


def test_duplicate_alert_across_files(project):
    extra = project / "alerts" / "extra.py"
    extra.write_text(
        "from alerts._rules import Alert, Group\n\n"
        "def rules(env):\n"
        "    return [Group('extra', [Alert('TritonNodeCPUSaturated', 'vector(1)', env.thresholds['cpu_utilization'],\n"
        "        's', 'd', 'https://example.com/r')])]\n"
    )
    result = run_gen("alerts", cwd=project)
    assert result.returncode == 2
    assert "alert 'TritonNodeCPUSaturated' (environment 'dev'): alert: duplicate name (also in alerts/extra.py)" in (
        result.stderr
    ) or "duplicate name (also in alerts/triton.py)" in result.stderr


# -- Alertmanager ---------------------------------------------------------------------------------

def _alertmanager_config(env: str) -> dict:
    return yaml.safe_load((REPO / "out" / env / "alertmanagerconfig-triton.yaml").read_text())


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_alertmanager_config_matches_the_crd_and_amtool_accepts_it(env, tmp_path):
    from gen.render.alertmanager import alertmanager_yaml

    environment = load_settings(REPO / "environments.yaml").environments[env]
    document = _alertmanager_config(env)
    assert crd_schemas.errors(document) == []
    assert document["metadata"]["labels"]["release"] == environment.prometheus_release
    # The operator scopes it to its namespace: the one the alerts carry.
    assert document["metadata"]["namespace"] == environment.namespace
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager_yaml(document)))
    result = subprocess.run([require_binary("amtool"), "check-config", str(config)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # Beside kube-prometheus-stack's rules, two more: ours holds back their replica alerts.
    expected = 3 + (2 if environment.kubernetes_mixin_alerts else 0)
    assert "SUCCESS" in result.stdout and f"{expected} inhibit rules" in result.stdout


def test_amtool_check_can_fail(tmp_path):
    from gen.render.alertmanager import alertmanager_yaml

    document = _alertmanager_config("prod")
    document["spec"]["route"]["routes"][0]["receiver"] = "nobody"
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager_yaml(document)))
    result = subprocess.run([require_binary("amtool"), "check-config", str(config)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "nobody" in result.stdout + result.stderr


@pytest.mark.parametrize("labels, receiver", [
    ({"severity": "critical"}, "triton-page"),
    ({"severity": "warning"}, "triton-ticket"),
    ({"severity": "info"}, "triton-null"),
])
def test_routes_by_severity_to_the_receivers_of_the_settings(labels, receiver, tmp_path):
    """amtool's own router: an alert of prod's Triton goes where the settings say."""
    from gen.render.alertmanager import alertmanager_yaml

    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager_yaml(_alertmanager_config("prod"))))
    alert = {"alertname": "TritonModelErrorBudgetBurn", "environment": "prod", "namespace": "triton-prod",
             "model": "m", **labels}
    result = subprocess.run([require_binary("amtool"), "config", "routes", "test", f"--config.file={config}",
                             *[f"{k}={v}" for k, v in alert.items()]], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == f"triton-prod/triton-prod/{receiver}", result.stdout + result.stderr
    # Another environment's alert is not this configuration's.
    other = subprocess.run([require_binary("amtool"), "config", "routes", "test", f"--config.file={config}",
                            *[f"{k}={v}" for k, v in {**alert, "environment": "dev", "namespace": "triton-dev"}.items()]],
                           capture_output=True, text=True, timeout=60)
    assert other.stdout.strip() == "null"


def test_receivers_and_inhibitions_follow_the_settings():
    spec = _alertmanager_config("prod")["spec"]
    assert {r["name"] for r in spec["receivers"]} == {"triton-page", "triton-ticket", "triton-null"}
    page = next(r for r in spec["receivers"] if r["name"] == "triton-page")
    # The URL stays in a Secret: nothing secret in the repository.
    assert page["webhookConfigs"] == [{"urlSecret": {"name": "triton-alerting", "key": "page-url"}, "sendResolved": True}]
    absent, replicas, critical, mismatch, not_ready = spec["inhibitRules"]
    assert absent["sourceMatch"][0] == {"name": "alertname", "value": "TritonTargetAbsent", "matchType": "="}
    assert absent["targetMatch"][0] == {"name": "model", "value": ".+", "matchType": "=~"}
    assert replicas["targetMatch"][0]["value"] == "TritonReplicasMissing"
    # Per object, not per alert name: the page holds back every ticket of the same model.
    assert critical["equal"] == ["environment", "namespace", "model", "pod", "container"]
    # prod runs beside kube-prometheus-stack's rules: a Triton pod that is not Ready fires theirs
    # too; TritonReplicasMissing, which names the models, holds them back (theirs carry no environment).
    for rule, upstream in ((mismatch, "KubeDeploymentReplicasMismatch"), (not_ready, "KubePodNotReady")):
        assert rule["sourceMatch"][0]["value"] == "TritonReplicasMissing"
        assert rule["targetMatch"][0] == {"name": "alertname", "value": upstream, "matchType": "="}
        assert rule["equal"] == ["namespace"]
    assert mismatch["targetMatch"][1] == {"name": "deployment", "value": "triton", "matchType": "="}
    assert not_ready["targetMatch"][1] == {"name": "pod", "value": "triton-.+", "matchType": "=~"}
    dev = _alertmanager_config("dev")["spec"]
    assert len(dev["inhibitRules"]) == 3


# -- a fleet: cluster_label -------------------------------------------------------------------------

def _fleet_project(project: Path) -> None:
    document = yaml.safe_load((project / "environments.yaml").read_text())
    document["defaults"]["cluster_label"] = "cluster"
    (project / "environments.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


FLEET_TEST = """
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - name: one cluster of two loses Triton, the other fails requests
    interval: 1m
    input_series:
      - series: 'up{job="triton", cluster="eu", namespace="triton-prod", pod="triton-0"}'
        values: '1x5 0x20'
      - series: 'up{job="triton", cluster="us", namespace="triton-prod", pod="triton-0"}'
        values: '1x25'
      - series: 'nv_inference_request_success{cluster="us", namespace="triton-prod", pod="triton-0", model="m", version="1"}'
        values: '0+588x25'
      - series: 'nv_inference_request_failure{cluster="us", namespace="triton-prod", pod="triton-0", model="m", version="1", reason="BACKEND"}'
        values: '0+12x25'
      - series: 'nv_inference_request_success{cluster="eu", namespace="triton-prod", pod="triton-0", model="m", version="1"}'
        values: '0+600x25'
    alert_rule_test:
      - eval_time: 15m
        alertname: TritonTargetAbsent
        exp_alerts:
          - exp_labels: {severity: critical, environment: prod, cluster: eu, namespace: triton-prod}
            exp_annotations:
              summary: No Triton target is up in triton-prod
              description: "Prometheus (monitoring-prod) scrapes no Triton target that is up (job triton) in triton-prod (the alert's cluster label names the cluster; none means no cluster has a Triton target up): Triton is down or not running, or the ServiceMonitor is not selected (label release=monitoring-prod) or does not match the Service (app=triton, port metrics). Every model alert of the namespace is inhibited meanwhile."
              runbook_url: https://github.com/example-org/triton-obs/blob/main/docs/runbooks.md#tritontargetabsent
      - eval_time: 20m
        alertname: TritonModelErrorRatioHigh
        exp_alerts:
          - exp_labels: {severity: warning, environment: prod, cluster: us, namespace: triton-prod, model: m}
            exp_annotations:
              summary: Model m in us/triton-prod fails 2% of requests
              description: "2% of inference requests to model m in us/triton-prod failed over the last 5m (threshold 1.00%, at least 20 failures; client cancellations are not counted). Requests refused because the queue is full are not counted by Triton at all: see the overload alerts. See the failure reasons on the Triton dashboard."
              runbook_url: https://github.com/example-org/triton-obs/blob/main/docs/runbooks.md#tritonmodelerrorratiohigh
    promql_expr_test:
      - expr: namespace_model:nv_inference_request_success:rate5m
        eval_time: 10m
        exp_samples:
          - labels: 'namespace_model:nv_inference_request_success:rate5m{cluster="eu", namespace="triton-prod", model="m"}'
            value: 10
          - labels: 'namespace_model:nv_inference_request_success:rate5m{cluster="us", namespace="triton-prod", model="m"}'
            value: 9.8
"""


def test_cluster_label_keeps_clusters_apart_in_every_rule(project, tmp_path):
    """With cluster_label set, every aggregation and match keeps the cluster, alerts carry it and
    name it, and Alertmanager groups and inhibits within a cluster."""
    _fleet_project(project)
    assert run_gen("build", cwd=project).returncode == 0
    rule = yaml.safe_load((project / "out/prod/prometheusrule-triton.yaml").read_text())
    for group in rule["spec"]["groups"]:
        for item in group["rules"]:
            clauses = re.findall(r"\b(?:by|on) \(([^)]*)\)", item["expr"])
            assert all(c.split(", ")[0] == "cluster" for c in clauses if c), (item, clauses)
    amc = yaml.safe_load((project / "out/prod/alertmanagerconfig-triton.yaml").read_text())
    assert "cluster" in amc["spec"]["route"]["groupBy"]
    assert all("cluster" in rule["equal"] for rule in amc["spec"]["inhibitRules"])
    assert crd_schemas.errors(amc) == []
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    (tmp_path / "fleet.test.yaml").write_text(FLEET_TEST)
    result = _promtool("test", "rules", "fleet.test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cluster_label_must_be_a_label_name(project):
    _edit(project / "environments.yaml", "  # cluster_label: cluster", "  cluster_label: 'my-cluster'")
    result = run_gen("alerts", cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith("error: environments.yaml: defaults.cluster_label: 'my-cluster' must be a Prometheus label name")


# -- the alerting settings ---------------------------------------------------------------------------

@pytest.mark.parametrize("old, new, where, what", [
    ("    availability: 0.999     #", "    availability: 1     #", "defaults.slo.availability", "must be at most"),
    ("      threshold: 0.8\n", "      threshold: 1.5\n", "defaults.thresholds.queue_full.threshold", "must be at most 1"),
    ("      min_failures: 10      # and at least this many failures", "      min_failures: 0      # and at least this many failures",
     "defaults.thresholds.error_ratio.min_failures", "must be at least 1"),
    ("      min_history: 0.25 ", "      min_history: 2 ", "defaults.thresholds.slo_page.min_history", "must be at most 1"),
    ("    max_severity: warning ", "    max_severity: page ", "environments.dev.max_severity", "'page'"),
])
def test_bad_alerting_setting_exit_2_nothing_written(project, old, new, where, what):
    _edit(project / "environments.yaml", old, new)
    before = snapshot(project / "out")
    result = run_gen("alerts", cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: environments.yaml: {where}: "), result.stderr
    assert what in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(project / "out") == before


def test_a_webhook_url_with_credentials_is_refused(project):
    _edit(project / "environments.yaml", "        name: triton-null ",
          "        name: triton-null\n        webhook_url: https://user:token@hooks.example.com/x ")
    result = run_gen("alerts", cwd=project)
    assert result.returncode == 2
    assert "defaults.alertmanager.receivers.info.webhook_url" in result.stderr
    assert "token@" not in result.stderr.replace("user:token@hooks.example.com", "")


def test_one_receiver_name_with_two_integrations_is_an_error(project):
    _edit(project / "environments.yaml", "        name: triton-ticket\n", "        name: triton-page\n")
    result = run_gen("alerts", cwd=project)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: environments.yaml: environments.dev.alertmanager.receivers.warning.name: 'triton-page' is used "
        "by another severity with a different integration"
    )


def test_per_model_objectives_become_rules(project):
    """A model's own availability and latency objective: a budget series and a latency branch of
    its own; the default applies to every other model."""
    item = {b.env.name: b for b in rules_build.build_rules(load_settings(project / "environments.yaml"))}["dev"]
    records = {r["record"]: r["expr"] for r in item.recordings()}
    budget = records["namespace_model:nv_inference_request_errors:slo_budget_ratio"]
    assert '(1 - 0.999) * group by (namespace, model) (namespace_model:nv_inference_requests:rate5m{namespace="triton-dev", model!~"simple_model"})' in budget
    assert '(1 - 0.99) * group by (namespace, model) (namespace_model:nv_inference_requests:rate5m{namespace="triton-dev", model="simple_model"})' in budget
    latency = next(r["expr"] for r in item.alerts() if r["alert"] == "TritonModelLatencyHigh")
    assert 'model!~"simple_model"} / 1000000 > 0.5' in latency and 'model="simple_model"} / 1000000 > 1' in latency


def test_model_names_are_escaped_in_regexes():
    from alerts._rules import model_regex

    assert model_regex(["a.b", "c+d"]) == "a\\\\.b|c\\\\+d"


SUMMARY_AND_REPLICAS_TEST = """
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - name: p99 from the summary, a fixed number of replicas
    interval: 1m
    input_series:
      - series: 'nv_inference_request_summary_us{namespace="triton-prod", pod="triton-0", model="m", version="1", quantile="0.99"}'
        values: '300000x20'
      - series: 'nv_inference_request_summary_us{namespace="triton-prod", pod="triton-1", model="m", version="1", quantile="0.99"}'
        values: '200000x20'
      - series: 'nv_inference_request_summary_us{namespace="triton-prod", pod="triton-0", model="m", version="1", quantile="0.5"}'
        values: '900000x20'
      - series: 'up{job="triton", namespace="triton-prod", pod="triton-0"}'
        values: '1x20'
      - series: 'nv_inference_request_success{namespace="triton-prod", pod="triton-0", model="m", version="1"}'
        values: '0+60x20'
    alert_rule_test:
      - eval_time: 15m
        alertname: TritonModelLatencyHigh
        exp_alerts:
          - exp_labels: {severity: warning, environment: prod, namespace: triton-prod, model: m}
            exp_annotations:
              summary: Model m in triton-prod takes 300ms per request
              description: "The p99 latency of model m in triton-prod is 300ms (p99 of Triton's summary (summary_latencies), the slowest pod), above its objective (default 0.25s; per model in environments.yaml `models:`). Time inside Triton only: queue plus compute."
              runbook_url: https://github.com/example-org/triton-obs/blob/main/docs/runbooks.md#tritonmodellatencyhigh
      - eval_time: 15m
        alertname: TritonReplicasMissing
        exp_alerts:
          - exp_labels: {severity: warning, environment: prod, namespace: triton-prod, model: m}
            exp_annotations:
              summary: Model m in triton-prod is served by 2 pod(s) fewer than expected
              description: "2 of the Triton pods expected in triton-prod (3 (triton.expected_replicas)) do not serve model m: they are missing, down, or up without the model (without kube-state-metrics, readiness is not known). Its capacity is down by that many pods, and the others take its traffic."
              runbook_url: https://github.com/example-org/triton-obs/blob/main/docs/runbooks.md#tritonreplicasmissing
"""


def test_summary_latencies_and_expected_replicas(project, tmp_path):
    """With `triton.summary_latencies`, the latency objective reads the summary's p99 (the slowest
    pod); with `triton.expected_replicas`, the missing pods are counted against it, without
    kube-state-metrics."""
    _edit(project / "environments.yaml", "    summary_latencies: false", "    summary_latencies: true\n    expected_replicas: 3")
    assert run_gen("alerts", "--env", "prod", cwd=project).returncode == 0
    rule = yaml.safe_load((project / "out/prod/prometheusrule-triton.yaml").read_text())
    assert "kube_deployment_spec_replicas" not in (project / "out/prod/prometheusrule-triton.yaml").read_text()
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    (tmp_path / "t.test.yaml").write_text(SUMMARY_AND_REPLICAS_TEST)
    result = _promtool("test", "rules", "t.test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_with_a_cluster_label_the_static_lint_finds_nothing(project):
    """Every alert text reads only labels its expression keeps, TritonTargetAbsent's absent()
    branch included (it keeps no cluster label)."""
    _edit(project / "environments.yaml", "  # cluster_label: cluster", "  cluster_label: cluster")
    assert run_gen("build", cwd=project).returncode == 0
    result = run_gen("validate", "--format", "json", cwd=project)
    findings = json.loads(result.stdout)["findings"]
    assert result.returncode == 0, findings
    assert [f for f in findings if f["severity"] != "info" and f["check"] != "queue-caps"] == [], findings


# -- a full queue where the settings hold no cap: the caps file -------------------------------------

QUEUE_FULL_TEST = """
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - name: a queue at its cap in prod
    interval: 1m
    input_series:
      - series: 'nv_inference_pending_request_count{namespace="triton-prod", pod="triton-0", model="resnet", version="1"}'
        values: '10x5 64x20'
      - series: 'nv_inference_pending_request_count{namespace="triton-prod", pod="triton-0", model="bert", version="1"}'
        values: '64x25'
    alert_rule_test:
      - {eval_time: 5m, alertname: TritonModelQueueNearFull, exp_alerts: []}
      - eval_time: 15m
        alertname: TritonModelQueueNearFull
        exp_alerts:
          - exp_labels: {severity: critical, environment: prod, namespace: triton-prod, model: resnet}
            exp_annotations:
              summary: The queue of model resnet in triton-prod is 100% full
              description: "A Triton pod holds 100% of model resnet's max_queue_size pending in triton-prod (threshold 80%). Requests that find the queue full get HTTP 503 and are counted in no Triton metric: clients see errors that the error-ratio and SLO alerts cannot see."
              runbook_url: https://github.com/example-org/triton-obs/blob/main/docs/runbooks.md#tritonmodelqueuenearfull
"""


def _queue_full_promtool(project: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    rule = yaml.safe_load((project / "out/prod/prometheusrule-triton.yaml").read_text())
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    (tmp_path / "q.test.yaml").write_text(QUEUE_FULL_TEST)
    return _promtool("test", "rules", "q.test.yaml", cwd=tmp_path)


def test_a_full_queue_in_prod_pages_with_the_cap_from_the_caps_file(project, tmp_path):
    """prod has no `models:`: without a cap no queue rule existed, and a queue full at 64 (503s,
    counted nowhere) paged nobody. The caps file gen doctor writes gives the cap."""
    before = _queue_full_promtool(project, tmp_path)
    assert before.returncode != 0  # no rule, nothing fires: the case the caps file fixes
    (project / "queue-caps.yaml").write_text("prod:\n  resnet: 64\n")
    assert run_gen("build", cwd=project).returncode == 0
    after = _queue_full_promtool(project, tmp_path)
    assert after.returncode == 0, after.stdout + after.stderr
    # bert's cap is unknown: no rule reads it, and validate says so (test_validate_static).
    assert "bert" not in (project / "out/prod/prometheusrule-triton.yaml").read_text()
    # The dashboard shows the fill of the capped queue too.
    assert "{{model}} (cap 64)" in (project / "out/grafana/prod/triton-prod.json").read_text()


def test_gen_alerts_takes_a_caps_file_and_the_settings_cap_wins(project, tmp_path):
    caps = tmp_path / "caps.yaml"
    caps.write_text("prod:\n  resnet: 64\ndev:\n  simple_model: 12345\n")
    result = run_gen("alerts", "--queue-caps", str(caps), cwd=project)
    assert result.returncode == 0, result.stderr
    prod = (project / "out/prod/prometheusrule-triton.yaml").read_text()
    assert 'namespace_model:nv_inference_pending_request_count:max{namespace="triton-prod", model="resnet"} / 64' in prod
    dev = (project / "out/dev/prometheusrule-triton.yaml").read_text()
    # dev's settings say simple_model's cap is 64: the settings win over a file.
    assert "/ 64 >= 0.8" in dev and "12345" not in dev


@pytest.mark.parametrize("text, message", [
    ("prod: [resnet]\n", "queue-caps.yaml: prod: expected a mapping of model names to max_queue_size"),
    ("prod:\n  resnet: 0\n", "queue-caps.yaml: prod.resnet: max_queue_size must be a whole number from 1 to 1000000000, got 0"),
    ("prod:\n  resnet: '64'\n", "queue-caps.yaml: prod.resnet: max_queue_size must be a whole number"),
    ("prod: {resnet: 64\n", "queue-caps.yaml: not valid YAML at line"),
])
def test_a_bad_caps_file_is_one_line_and_exit_2(project, text, message):
    (project / "queue-caps.yaml").write_text(text)
    before = (project / "out/prod/prometheusrule-triton.yaml").read_bytes()
    result = run_gen("build", cwd=project)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert (project / "out/prod/prometheusrule-triton.yaml").read_bytes() == before
