"""`gen import`: dashboard JSON from elsewhere becomes a definition that renders it again.

The round trip is checked through the real build: import, `gen build`, then the dashboard in
out/grafana/ compared with the input (after Grafana's migrations, in the normal form) by gen
diff's semantic comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_project, run_gen

FIXTURES = REPO / "tests" / "import_fixtures"
EXTERNAL = ["grafana6_graph_singlestat.json", "shared_export.json", "api_answer.json"]


def _expected(path: Path, env_variables: bool = False) -> dict:
    from gen.importer import migrate, read

    return migrate.migrate(read.read(path), [], datasource_uid="${datasource}" if env_variables else None)


def _differences(expected: dict, rendered: dict) -> list[str]:
    from gen.diff.semantic import diff_dashboards, format_change

    expected = {**expected, "uid": rendered["uid"]}
    return [line for change in diff_dashboards(expected, rendered) for line in format_change(change)]


def _import(project: Path, file: Path, *args: str):
    result = run_gen("import", str(file), *args, cwd=project)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.parametrize("fixture", EXTERNAL)
def test_a_dashboard_made_elsewhere_round_trips_through_the_build(fixture, tmp_path):
    project = copy_project(tmp_path / "project")
    result = _import(project, FIXTURES / fixture, "--name", "imported")
    assert result.returncode == 0, result.stderr
    assert "round-trips for environment dev" in result.stdout
    assert "does not round-trip" not in result.stderr
    built = run_gen("build", cwd=project)
    assert built.returncode == 0, built.stderr
    source = json.loads((FIXTURES / fixture).read_text())
    uid = (source.get("dashboard") or source)["uid"]
    rendered = json.loads((project / "out/grafana/dev" / f"{uid}-dev.json").read_text())
    assert _differences(_expected(FIXTURES / fixture), rendered) == []
    # The definition is Python a person can read: grafanalib classes, no JSON blob.
    code = (project / "dashboards/imported.py").read_text()
    compile(code, "imported.py", "exec")
    assert "def dashboard(env: Environment):" in code and "from grafanalib.core import" in code
    assert "json.loads" not in code


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_dashboard_this_project_renders_round_trips(env, tmp_path):
    from gen.importer.run import import_dashboard
    from gen.settings import load_settings

    project = copy_project(tmp_path / "project")
    rendered_file = REPO / "out/grafana" / env / f"triton-{env}.json"
    result = import_dashboard(load_settings(project / "environments.yaml"), rendered_file, "again", False, False)
    assert result.differences == [] and result.warnings == []
    code = result.path.read_text()
    # The project's own panels come back as grafanalib's classes.
    assert code.count("TimeSeries(") > 20 and code.count("Stat(") >= 6 and "Table(" in code
    assert "RowPanel(" in code


def test_old_angular_panels_are_migrated_as_grafana_does(tmp_path):
    project = copy_project(tmp_path / "project")
    assert _import(project, FIXTURES / "grafana6_graph_singlestat.json", "--name", "g6").returncode == 0
    code = (project / "dashboards/g6.py").read_text()
    assert "TimeSeries(" in code and "Stat(" in code
    assert '"type": "graph"' not in code and '"type": "singlestat"' not in code
    expected = _expected(FIXTURES / "grafana6_graph_singlestat.json")
    graph = next(p for p in expected["panels"] if p["title"] == "Inferences per second")
    assert graph["type"] == "timeseries" and graph["fieldConfig"]["defaults"]["unit"] == "reqps"
    assert graph["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"] == "normal"
    assert graph["options"]["legend"]["displayMode"] == "table"
    stat = next(p for p in expected["panels"] if p["title"] == "Failure ratio")
    assert [s["value"] for s in stat["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 0.01, 0.05]


def test_a_shared_export_points_at_a_datasource_variable_and_names_what_it_drops(tmp_path):
    project = copy_project(tmp_path / "project")
    result = _import(project, FIXTURES / "shared_export.json", "--name", "shared")
    assert result.returncode == 0
    # Grafana 8's `exemplar` flag is not part of the normal form: said, with its JSON path.
    assert "warning: panels[0].targets[0].exemplar: not kept" in result.stderr
    code = (project / "dashboards/shared.py").read_text()
    assert 'dataSource="${datasource}"' in code and "DS_PROMETHEUS" not in code
    assert '"type": "datasource"' in code  # the variable the placeholders now point at


def test_env_variables_turn_the_namespace_into_the_environment(tmp_path):
    project = copy_project(tmp_path / "project")
    result = _import(project, FIXTURES / "api_answer.json", "--name", "queues", "--env-variables")
    assert result.returncode == 0, result.stderr
    assert "round-trips for environment prod" in result.stdout
    code = (project / "dashboards/queues.py").read_text()
    assert "{env.namespace}" in code and "triton-prod" not in code and "prometheus-prod" not in code
    assert run_gen("build", cwd=project).returncode == 0
    dev = (project / "out/grafana/dev/triton-queues-dev.json").read_text()
    assert 'namespace=\\"triton-dev\\"' in dev and "triton-prod" not in dev
    assert '"uid": "${datasource}"' in dev


def _nothing_written(project: Path) -> set[str]:
    return {p.name for p in (project / "dashboards").iterdir()}


@pytest.mark.parametrize("content, message", [
    ("{not json", "not JSON: "),
    ("[1, 2]", "not a dashboard: the top level is a JSON list"),
    ('{"title": "x", "schemaVersion": 39}', "not a dashboard: no 'panels' list"),
    ('{"title": "x", "schemaVersion": 12, "rows": []}', "schemaVersion 12 (rows, before Grafana 5)"),
    ('{"title": "x", "panels": [], "schemaVersion": 14}', "schemaVersion 14 is older than Grafana 6"),
    ('{"apiVersion": "dashboard.grafana.app/v2beta1", "kind": "Dashboard", "spec": {}}', "v2 dashboard"),
    ('{"title": "x", "schemaVersion": 39, "panels": [{"id": 1, "type": "stat", "title": "a"}, '
     '{"id": 1, "type": "stat", "title": "b"}]}', "panel id 1 is used twice ('a' and 'b')"),
    ('{"title": "x", "schemaVersion": 39, "panels": [], "title": "y"}', "the key 'title' appears twice"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(content, message, tmp_path):
    project = copy_project(tmp_path / "project")
    before = _nothing_written(project)
    file = tmp_path / "input.json"
    file.write_text(content)
    result = _import(project, file)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: input.json: ")
    assert _nothing_written(project) == before


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path):
    project = copy_project(tmp_path / "project")
    big = tmp_path / "big.json"
    with open(big, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    result = _import(project, big)
    assert result.returncode == 2 and "50 MB is not a dashboard" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_existing_definition_is_never_replaced_without_force(tmp_path):
    project = copy_project(tmp_path / "project")
    file = FIXTURES / "shared_export.json"
    assert _import(project, file, "--name", "shared").returncode == 0
    (project / "dashboards/shared.py").write_text("# my edits\n")
    again = _import(project, file, "--name", "shared")
    assert again.returncode == 2 and "dashboards/shared.py exists: pass --force" in again.stderr
    assert (project / "dashboards/shared.py").read_text() == "# my edits\n"
    forced = _import(project, file, "--name", "shared", "--force")
    assert forced.returncode == 0 and "def dashboard" in (project / "dashboards/shared.py").read_text()
    bad = _import(project, file, "--name", "Not-A-Module")
    assert bad.returncode == 2 and "must be a Python module name" in bad.stderr


def _dashboard(*panels: dict) -> str:
    return json.dumps({"title": "Edge cases", "uid": "edge", "schemaVersion": 39, "panels": list(panels),
                       "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]}})


@pytest.mark.parametrize("panel", [
    # A repeated panel: grafanalib's `repeat` is an object, the JSON's a variable name.
    {"id": 1, "type": "timeseries", "title": "Per instance", "repeat": "instance", "repeatDirection": "h",
     "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0}, "targets": [{"expr": "up", "refId": "A"}]},
    # A grid position without x (Grafana reads it as 0).
    {"id": 2, "type": "stat", "title": "No x", "gridPos": {"h": 4, "w": 6, "y": 0},
     "targets": [{"expr": "up", "refId": "A"}]},
    # A datasource by uid alone, as kubernetes-mixin writes it.
    {"id": 3, "type": "timeseries", "title": "By uid", "datasource": {"uid": "$datasource"},
     "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
     "targets": [{"expr": "up", "refId": "A", "datasource": {"uid": "$datasource"}}]},
    # A table whose footer sets part of what Grafana's defaults hold.
    {"id": 4, "type": "table", "title": "Footer", "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
     "options": {"footer": {"reducer": ["sum"], "fields": ""}},
     "targets": [{"expr": "up", "refId": "A", "format": "table", "instant": True}]},
])
def test_shapes_other_tools_write_round_trip(panel, tmp_path):
    """Each made `gen import` fail (exit 3) or left a difference on kube-prometheus' dashboards."""
    project = copy_project(tmp_path / "project")
    file = tmp_path / "edge.json"
    file.write_text(_dashboard(panel))
    result = _import(project, file, "--name", "edge")
    assert result.returncode == 0, result.stderr
    assert "does not round-trip" not in result.stderr and "round-trips" in result.stdout
    assert run_gen("build", cwd=project).returncode == 0
    rendered = json.loads((project / "out/grafana/dev/edge-dev.json").read_text())
    assert _differences(_expected(file), rendered) == []


def test_what_the_normal_form_drops_is_named_with_its_json_path(tmp_path):
    """A repeated row: the project's normal form keeps a row's title, layout and panels only.
    The import says so, path and all, instead of losing it in silence."""
    project = copy_project(tmp_path / "project")
    file = tmp_path / "rows.json"
    file.write_text(json.dumps({"title": "Rows", "uid": "rows", "schemaVersion": 39, "panels": [
        {"id": 1, "type": "row", "title": "Per cluster", "repeat": "cluster", "collapsed": False,
         "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0}, "panels": []},
        {"id": 2, "type": "stat", "title": "Up", "gridPos": {"h": 4, "w": 6, "x": 0, "y": 1},
         "targets": [{"expr": "up", "refId": "A"}]}]}))
    result = _import(project, file, "--name", "rows")
    assert result.returncode == 0, result.stderr
    assert "warning: panels[0].repeat: not kept" in result.stderr
