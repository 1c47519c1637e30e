"""Alerting: the rendered PrometheusRules and ServiceMonitors, proven with promtool and the CRDs."""

from __future__ import annotations

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
    "TritonTargetDown",
    "TritonTargetAbsent",
    "TritonModelErrorRatioHigh",
    "TritonModelLatencyHigh",
    "TritonModelQueueTimeHigh",
    "TritonModelBacklogGrowing",
    "TritonCPUSaturated",
    "TritonModelNoSuccessfulInference",
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
                rule["expr"] = rule["expr"].replace("> 0.05", "> 0.5")
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
    recorded = {case["expr"] for test in dev["tests"] for case in test.get("promql_expr_test", [])}
    assert {r["record"] for r in built["dev"].recordings()} - recorded <= {
        "namespace_model:nv_inference_request_duration_us:rate5m",
        "namespace_model:nv_inference_queue_duration_us:rate5m",
    }


def test_alerts_are_the_promised_set_with_settings_applied(built):
    settings = load_settings(REPO / "environments.yaml")
    for env_name, item in built.items():
        env = settings.environments[env_name]
        alerts = {rule["alert"]: rule for rule in item.alerts()}
        assert list(alerts) == ALERTS
        for name, rule in alerts.items():
            assert rule["labels"]["severity"] in ("critical", "warning", "info")
            assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
            assert rule["annotations"]["runbook_url"] == f"{env.runbooks_url}#{name.lower()}"
            assert f'namespace="{env.namespace}"' in rule["expr"]
        error = env.thresholds["error_ratio"]
        assert alerts["TritonModelErrorRatioHigh"]["for"] == error.for_
        assert alerts["TritonModelErrorRatioHigh"]["labels"]["severity"] == error.severity
        assert alerts["TritonModelErrorRatioHigh"]["expr"].endswith(f"> {error.threshold:g}")
    assert built["prod"].alerts()[2]["labels"]["severity"] == "critical"
    assert built["dev"].alerts()[2]["labels"]["severity"] == "warning"


def test_every_runbook_link_has_a_section():
    text = (REPO / "docs" / "runbooks.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
               for line in text.splitlines() if line.startswith("## ")}
    assert {name.lower() for name in ALERTS} <= anchors


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
            'f"up{up} == 0"',
            'f"up{up} == == 0"',
            "alerts/triton.py: alert 'TritonTargetDown' (environment 'dev'): expr: does not parse as PromQL:",
        ),
        (
            '"TritonCPUSaturated",\n',
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
            '"TritonTargetDown",\n',
            '"triton_target_down",\n',
            "alerts/triton.py: alert 'triton_target_down' (environment 'dev'): alert: 'triton_target_down' is not "
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
    _edit(project / "environments.yaml", "threshold: 0.9", "threshold: ninety")
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
        "    return [Group('extra', [Alert('TritonCPUSaturated', 'vector(1)', env.thresholds['cpu_utilization'],\n"
        "        's', 'd', 'https://example.com/r')])]\n"
    )
    result = run_gen("alerts", cwd=project)
    assert result.returncode == 2
    assert "alert 'TritonCPUSaturated' (environment 'dev'): alert: duplicate name (also in alerts/extra.py)" in (
        result.stderr
    ) or "duplicate name (also in alerts/triton.py)" in result.stderr
