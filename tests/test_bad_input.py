"""Bad input never gets through silently: each case here once did (issue 14's hostile sweep)."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import run_gen, snapshot

PANEL_DASHBOARD = """
from grafanalib.core import Dashboard, Target, TimeSeries, GridPos
def dashboard(env):
    return Dashboard(title='Extra', uid='extra-' + env.name, panels=[
        TimeSeries(title='Broken query', description='d', unit='short', gridPos=GridPos(h=8, w=12, x=0, y=0),
                   targets=[Target(expr={expr!r}, refId='A')]),
    ])
"""


@pytest.mark.parametrize("call", ["sys.exit()", "sys.exit(0)", "sys.exit(3)", "raise SystemExit", "raise GeneratorExit"])
@pytest.mark.parametrize("where", ["import", "call"])
def test_a_definition_that_exits_fails_the_build_with_file_and_line(project, call, where):
    if where == "import":
        source = f"import sys\n{call}\ndef dashboard(env):\n    return None\n"
        line = 2
    else:
        source = f"import sys\ndef dashboard(env):\n    {call}\n"
        line = 3
    (project / "dashboards/exits.py").write_text(source)
    before = snapshot(project / "out")

    result = run_gen("build", cwd=project)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert re.search(rf"^error: dashboards/exits\.py: .*\(line {line}\)", result.stderr), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(project / "out") == before


def test_an_exiting_definition_cannot_pass_the_freshness_gate_on_a_stale_out(project):
    (project / "out/dev/prometheusrule-triton.yaml").write_text("stale\n")
    (project / "alerts/exits.py").write_text("import sys\ndef rules(env):\n    sys.exit(0)\n")

    result = run_gen("build", "--check", cwd=project)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "alerts/exits.py" in result.stderr and "sys.exit(0)" in result.stderr


def test_what_a_definition_prints_stays_out_of_the_command_output(project):
    source = (project / "dashboards/triton.py").read_text()
    (project / "dashboards/triton.py").write_text(
        source.replace("def dashboard(env", "def _real(env")
        + "\n\nprint('import-time chatter')\n\n\ndef dashboard(env):\n    print('call-time chatter')\n"
          "    return _real(env)\n")

    result = run_gen("validate", "--format", "json", cwd=project)
    json.loads(result.stdout)  # stdout is exactly the command's JSON
    result = run_gen("build", "--check", cwd=project)

    assert result.returncode == 0, result.stderr
    assert "chatter" not in result.stdout
    assert "call-time chatter" in result.stderr


@pytest.mark.parametrize("expr, message", [
    ('sum(rate(nv_inference_request_success{model=~"$model"}[$__rate_interval])', "unclosed left parenthesis"),
    ("rate(nv_inference_request_success[5m]) +", "invalid promql query"),
    ('nv_inference_count{model="a"', "unexpected end of input"),
])
def test_a_panel_query_that_does_not_parse_is_refused_at_build_time(project, expr, message):
    (project / "dashboards/extra.py").write_text(PANEL_DASHBOARD.format(expr=expr))
    before = snapshot(project / "out")

    result = run_gen("dashboards", cwd=project)

    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith("error: dashboards/extra.py: dashboard() for environment 'dev': panel 'Broken query': "
                           "target A: expr: does not parse as PromQL: "), line
    assert message in line.lower(), line
    assert snapshot(project / "out") == before


def test_a_query_valid_only_after_substitution_builds(project):
    expr = 'sum by (model) (rate(nv_inference_request_success{model=~"$model"}[$__rate_interval]))'
    (project / "dashboards/extra.py").write_text(PANEL_DASHBOARD.format(expr=expr))
    result = run_gen("dashboards", cwd=project)
    assert result.returncode == 0, result.stderr


def test_a_variable_query_that_does_not_parse_is_refused(project):
    panels = (project / "dashboards/_panels.py").read_text()
    assert "label_values(" in panels
    (project / "dashboards/_panels.py").write_text(panels.replace("label_values(", "label_values({{", 1))

    result = run_gen("dashboards", cwd=project)

    assert result.returncode == 2, result.stderr
    assert re.search(r"^error: dashboards/triton\.py: dashboard\(\) for environment '\w+': variable '\w+': query: "
                     r"does not parse as PromQL", result.stderr), result.stderr


def test_two_panels_with_one_title_are_a_lint_warning(project):
    model_path = project / "out/grafana/dev/triton-dev.json"
    model = json.loads(model_path.read_text())
    titled = [p for p in model["panels"] if p.get("type") != "row" and p.get("title")]
    titled[1]["title"] = titled[0]["title"]
    model_path.write_text(json.dumps(model, indent=2))

    result = run_gen("validate", "--format", "json", cwd=project)

    found = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "panel-title-unique"]
    assert [f["severity"] for f in found] == ["warning"], result.stdout
    assert titled[0]["title"] in found[0]["message"]
