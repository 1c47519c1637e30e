"""`gen validate` without a server: the lint rules find what they promise on broken output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gen.validate import inventory, static
from gen.validate.promql_ast import output_labels
from gen.promql import parse
from tests.conftest import REPO, find_panel, run_gen


def test_committed_out_is_clean():
    result = run_gen("validate", "--format", "json", cwd=REPO)
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    # One true warning: prod's settings know no queue cap (the example has none to know).
    assert [(f["check"], f["object"]) for f in report["findings"]] == [("queue-caps", "prod: queue caps")]
    assert report["counts"] == {"error": 0, "warning": 1, "info": 0}
    assert report["ok"] is True


def test_queue_caps_unknown_is_said_and_a_caps_file_silences_it(project):
    (project / "queue-caps.yaml").write_text("prod:\n  resnet: 64\n")
    assert run_gen("build", cwd=project).returncode == 0
    report = json.loads(run_gen("validate", "--format", "json", cwd=project).stdout)
    assert [f for f in report["findings"] if f["check"] == "queue-caps"] == []


def _dashboard(project: Path) -> tuple[Path, dict]:
    path = project / "out/grafana/dev/triton-dev.json"
    return path, json.loads(path.read_text())


_panel = find_panel


def _findings(project: Path) -> tuple[int, list[dict]]:
    result = run_gen("validate", "--format", "json", cwd=project)
    return result.returncode, json.loads(result.stdout)["findings"]


BREAKAGES = [
    ("panel-datasource", lambda m: _panel(m, "Pending requests").update(datasource={"type": "prometheus", "uid": "P1809F7CD0C75ACF3"})),
    ("panel-units", lambda m: _panel(m, "Average queue time")["fieldConfig"]["defaults"].update(unit="\u03bcs")),
    ("panel-units", lambda m: _panel(m, "Average queue time")["fieldConfig"]["defaults"].pop("unit")),
    ("panel-title-description", lambda m: _panel(m, "Pending requests").pop("description")),
    ("panel-no-targets", lambda m: _panel(m, "Pending requests").update(targets=[])),
    ("target-promql", lambda m: _panel(m, "Pending requests")["targets"][0].update(expr="sum by (model) (")),
    ("target-rate-interval", lambda m: _panel(m, "Requests per second (RPS)")["targets"][0].update(
        expr='sum(rate(nv_inference_request_success{namespace=~"$namespace"}[5m]))')),
    ("template-variables-exist", lambda m: _panel(m, "Pending requests")["targets"][0].update(
        expr='sum(nv_inference_pending_request_count{namespace=~"$cluster"})')),
    ("template-on-time-change-reload", lambda m: m["templating"]["list"][2].update(refresh=1)),
    ("template-datasource", lambda m: m["templating"]["list"].pop(0)),
    ("template-label-promql", lambda m: m["templating"]["list"][2].update(query="label_values(nv_inference_count{, model)")),
    ("panel-ids-unique", lambda m: _panel(m, "Pending requests").update(id=_panel(m, "Batching efficiency")["id"])),
    ("panel-grid-overlap", lambda m: _panel(m, "Pending requests").update(gridPos=dict(_panel(m, "Batching efficiency")["gridPos"]))),
]


@pytest.mark.parametrize("check, breakage", BREAKAGES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(BREAKAGES)])
def test_dashboard_lint_rule_finds_the_breakage(project, check, breakage):
    path, model = _dashboard(project)
    breakage(model)
    path.write_text(json.dumps(model))
    code, findings = _findings(project)
    hits = [f for f in findings if f["check"] == check]
    assert hits, findings
    assert all(f["object"].startswith("triton-dev") for f in hits)
    assert code == (1 if any(f["severity"] == "error" for f in findings) else 0)


def _rules(project: Path) -> tuple[Path, dict]:
    path = project / "out/dev/prometheusrule-triton.yaml"
    return path, yaml.safe_load(path.read_text())


def _alert(document: dict, name: str) -> dict:
    return next(r for g in document["spec"]["groups"] for r in g["rules"] if r.get("alert") == name)


RULE_BREAKAGES = [
    ("alert-severity", lambda d: _alert(d, "TritonNodeCPUSaturated")["labels"].update(severity="page")),
    ("alert-annotations", lambda d: _alert(d, "TritonNodeCPUSaturated")["annotations"].pop("runbook_url")),
    ("alert-for", lambda d: _alert(d, "TritonNodeCPUSaturated").pop("for")),
    ("alert-name-camelcase", lambda d: _alert(d, "TritonNodeCPUSaturated").update(alert="triton_cpu_saturated")),
    ("alert-labels-kept", lambda d: _alert(d, "TritonNodeCPUSaturated").update(
        expr='max by (namespace) (nv_cpu_utilization{namespace="triton-dev"}) > 0.9')),
    ("target-promql", lambda d: _alert(d, "TritonNodeCPUSaturated").update(expr="max by (pod) (")),
]


@pytest.mark.parametrize("check, breakage", RULE_BREAKAGES, ids=[c for c, _ in RULE_BREAKAGES])
def test_rule_lint_finds_the_breakage(project, check, breakage):
    path, document = _rules(project)
    breakage(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    code, findings = _findings(project)
    hits = [f for f in findings if f["check"] == check]
    assert hits and hits[0]["object"].startswith("dev: alert"), findings


def test_aggregated_away_label_names_the_label(project):
    path, document = _rules(project)
    _alert(document, "TritonNodeCPUSaturated")["expr"] = 'max by (namespace) (nv_cpu_utilization{namespace="triton-dev"}) > 0.9'
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    code, findings = _findings(project)
    (finding,) = [f for f in findings if f["check"] == "alert-labels-kept"]
    assert code == 1
    assert finding["message"].startswith("annotations use $labels.pod, which the expression aggregates away")


@pytest.mark.parametrize("expr, labels", [
    ('sum by (namespace, model) (rate(x[5m]))', {"namespace", "model"}),
    ('absent(up{job="triton", namespace="a", pod=~"x"})', {"job", "namespace"}),
    ('a / on (model) b', {"model"}),
    ('sum(a) > 1', set()),
    ('x > 1', None),
    ('sum by (a, b) (x) and on (a) sum by (a) (y)', {"a", "b"}),
    ('sum by (a, b) (x) or sum by (a) (y)', {"a"}),
    ('label_replace(sum by (a) (x), "c", "$1", "a", "(.*)")', {"a", "c"}),
])
def test_output_labels(expr, labels):
    assert output_labels(parse(expr)) == labels


def test_table_output_lists_findings(project):
    path, model = _dashboard(project)
    _panel(model, "Pending requests")["fieldConfig"]["defaults"]["unit"] = "furlongs"
    path.write_text(json.dumps(model))
    result = run_gen("validate", "--env", "dev", cwd=project)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("error    triton-dev / panel 'Pending requests': ")
    assert "unit 'furlongs' is not a Grafana unit id" in " ".join(lines[:-1])
    assert all(line.startswith(" " * 9) for line in lines[1:-1])
    assert lines[-1].startswith("1 error, 0 warnings, 0 infos; static")


def test_table_never_cuts_a_hint_off_on_a_narrow_terminal():
    from gen.findings import Finding
    from gen.validate.report import table

    hint = "check the ServiceMonitor's release label against the Prometheus serviceMonitorSelector " * 3
    text = table([Finding("error", "dev: Triton targets", "no scraped Triton target", "up{job='triton'}", hint=hint,
                          check="live-targets")], width=40)
    assert " ".join(" ".join(text.split("hint:", 1)[1].split()).split()) == " ".join(hint.split())
    assert all(len(line) <= 60 or " " not in line.strip() for line in text.splitlines())


def test_findings_that_one_cause_explains_are_counted_under_it():
    from gen.findings import Finding
    from gen.validate.live import attribute_causes
    from gen.validate.report import summary, table

    cause = Finding("error", "dev: Triton targets (job triton, namespace triton-dev)",
                    "no scraped Triton target in the environment's namespace", hint="no Triton target at all: " * 4,
                    check="live-targets")
    echoes = [Finding("warning", f"triton-dev / panel 'P{i}' / A", "returns no data", check="live-panel")
              for i in range(60)] + [Finding("error", f"dev: metric m{i}", "absent", check="live-metric")
                                     for i in range(40)]
    other = Finding("error", "triton-dev / panel 'X'", "unit 'furlongs' is not a Grafana unit id", check="panel-units")
    findings = attribute_causes([cause, *echoes, other])
    assert sum(1 for f in findings if f.cause == cause.object) == 100
    text = table(findings, width=100)
    assert text.splitlines()[0].startswith("error    dev: Triton targets")
    assert "and 100 more findings that follow from this (40 metric, 60 panel)" in " ".join(text.split())
    assert "see them all with --all" in " ".join(text.split())
    assert "P17" not in text and "furlongs" in text
    # The summary counts what was printed, and says what was folded and how to see it.
    assert summary(findings) == "2 errors, 0 warnings, 0 infos shown, 100 more that follow from them folded (--all shows them)"
    everything = table(findings, width=100, everything=True)
    assert "P17" in everything and "follows from: dev: Triton targets" in everything
    assert "more findings that follow" not in everything
    assert summary(findings, everything=True) == "42 errors, 60 warnings, 0 infos"


def test_env_flag_limits_static_findings(project):
    path, model = _dashboard(project)
    _panel(model, "Pending requests")["fieldConfig"]["defaults"]["unit"] = "furlongs"
    path.write_text(json.dumps(model))
    assert run_gen("validate", "--env", "prod", cwd=project).returncode == 0
    assert run_gen("validate", "--env", "dev", cwd=project).returncode == 1


def test_inventory_reads_everything_in_out():
    inv = inventory.load(REPO / "out")
    assert sorted(d.uid for d in inv.dashboards) == ["triton-dev", "triton-prod"]
    assert {q.kind for q in inv.queries("dev")} == {"panel", "variable", "annotation", "alert", "record"}
    assert static.run(inv) == []


@pytest.mark.parametrize("text, seconds", [
    ("15d", 15 * 86400), ("1y2w", 365 * 86400 + 14 * 86400), ("10d or 50GiB", 10 * 86400),
    ("50GiB", None), ("1M", 31 * 86400), ("12h", 12 * 3600), ("", None),
])
def test_retention_as_servers_write_it(text, seconds):
    from gen.validate.live import retention_seconds

    assert retention_seconds(text) == seconds
