"""`gen pull` end to end against the Grafana emulator as Grafana 11 (legacy API), 12 and 13
(resource API): push, edit the dashboard as the UI saves it, pull the edit back into the
definition, and the build then equals what Grafana holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, run_gen
from tests.grafana_api_emulator import GrafanaEmulator

pytestmark = pytest.mark.e2e

TOKEN = "glsa_PullToken_0123456789abcdef"
ENVIRON = {"GRAFANA_TOKEN": TOKEN, "GRAFANA_USER": "", "GRAFANA_PASSWORD": "", "GRAFANA_URL": ""}
UID = "shared-triton-dev"  # tests/import_fixtures/shared_export.json imported, for dev


@pytest.fixture(params=["11", "12", "13"], ids=lambda v: f"grafana{v}")
def grafana(request):
    with GrafanaEmulator(tokens={TOKEN: "Editor"}, version=request.param) as emulator:
        yield emulator


@pytest.fixture
def imported(project: Path) -> Path:
    """The project with an imported dashboard beside triton.py, built and pushed as is."""
    result = run_gen("import", str(REPO / "tests/import_fixtures/shared_export.json"), "--name", "shared",
                     cwd=project)
    assert result.returncode == 0, result.stderr
    assert run_gen("build", cwd=project).returncode == 0
    return project


def gen(grafana, *args: str, cwd: Path):
    return run_gen(*args, "--grafana-url", grafana.url, cwd=cwd, env=ENVIRON)


def ui_edits(model: dict) -> None:
    """Three kinds of edit, as the dashboard editor saves them."""
    queue = next(p for p in model["panels"] if p.get("title") == "Average queue time")
    queue["gridPos"] = {**queue["gridPos"], "w": 12, "h": 10}  # resized
    queue["targets"][0]["expr"] = queue["targets"][0]["expr"].replace("[5m]", "[10m]")  # query changed
    pods = next(p for p in model["panels"] if p.get("title") == "Triton pods")
    pods["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] = 4  # threshold moved
    added = json.loads(json.dumps(pods))
    added.update(id=42, title="Models loaded", gridPos={"h": 6, "w": 6, "x": 18, "y": 0})
    added["targets"][0]["expr"] = "count(count by (model) (nv_inference_count))"
    model["panels"].insert(2, added)  # panel added


def test_ui_edits_come_back_as_a_change_to_the_definition(grafana, imported):
    project = imported
    pushed = gen(grafana, "push", "--env", "dev", cwd=project)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    # Nothing edited yet: nothing to pull.
    clean = gen(grafana, "pull", "--env", "dev", cwd=project)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "nothing to pull" in clean.stdout

    grafana.edit_in_ui(UID, ui_edits)
    before = (project / "dashboards/shared.py").read_text()
    shown = gen(grafana, "pull", "--env", "dev", cwd=project)
    assert shown.returncode == 1, shown.stdout + shown.stderr
    assert f"dev/{UID} (dashboards/shared.py): 4 change(s) made in Grafana" in shown.stdout
    assert "--- a/dashboards/shared.py" in shown.stdout and "+++ b/dashboards/shared.py" in shown.stdout
    diff_lines = [line for line in shown.stdout.splitlines() if line.startswith(("+", "-"))]
    assert any("[10m]" in line and line.startswith("+") for line in diff_lines)
    assert any("Models loaded" in line and line.startswith("+") for line in diff_lines)
    assert any("GridPos(h=10, w=12" in line and line.startswith("+") for line in diff_lines)
    assert any('"value": 4' in line and line.startswith("+") for line in diff_lines)
    assert (project / "dashboards/shared.py").read_text() == before  # printed only
    # The project's own dashboard was not edited: not mentioned.
    assert "dev/triton-dev " not in shown.stdout and "dashboards/triton.py" not in shown.stdout

    requests_before = len(grafana.write_requests())
    written = gen(grafana, "pull", "--env", "dev", "--write", cwd=project)
    assert written.returncode == 0, written.stdout + written.stderr
    assert "wrote dashboards/shared.py" in written.stdout
    assert len(grafana.write_requests()) == requests_before  # it never writes to Grafana
    # out/ is now stale, and the build makes it what Grafana holds.
    check = run_gen("build", "--check", cwd=project)
    assert check.returncode == 1 and f"out/grafana/dev/{UID}.json" in check.stdout, check.stdout
    assert run_gen("build", cwd=project).returncode == 0
    after = gen(grafana, "diff", "--env", "dev", cwd=project)
    assert after.returncode == 0, after.stdout + after.stderr


def test_a_computed_definition_is_not_patched_blindly(grafana, imported):
    """dashboards/triton.py builds its queries with helpers: a changed query has no literal in the
    file. The pull says so and gives the panel as code to paste; it writes nothing."""
    project = imported
    assert gen(grafana, "push", "--env", "dev", cwd=project).returncode == 0

    def edit(model):
        panel = next(p for p in model["panels"] if p.get("title") == "Failures by reason")
        panel["targets"][0]["expr"] = "sum by (model, reason) (rate(nv_inference_request_failure[10m]))"

    grafana.edit_in_ui("triton-dev", edit)
    before = (project / "dashboards/triton.py").read_text()
    result = gen(grafana, "pull", "--env", "dev", "--write", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dev/triton-dev (dashboards/triton.py): 1 change(s) made in Grafana" in result.stdout
    assert "the definition computes this panel (no literal to patch): paste this panel definition" in result.stdout
    assert "TimeSeries(" in result.stdout and "[10m]" in result.stdout
    assert (project / "dashboards/triton.py").read_text() == before


def test_bad_usage(project):
    result = run_gen("pull", cwd=project, env=ENVIRON)
    assert result.returncode == 2 and "pass --grafana-url URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
