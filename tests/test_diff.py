"""The semantic diff of dashboards, and `gen diff --against REF` on a real git repository."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from gen.diff.semantic import diff_dashboards, format_changes
from tests.conftest import REPO, run_gen

DEV = json.loads((REPO / "out/grafana/dev/triton-dev.json").read_text())


def _panel(model, title):
    return next(p for p in model["panels"] if p.get("title") == title)


def _kinds(changes):
    return [(c.kind, c.where, c.field) for c in changes]


def test_identical_and_grafana_managed_fields_are_no_change():
    other = copy.deepcopy(DEV)
    other.update(id=42, version=7)
    other["refresh"] = DEV["refresh"]
    assert diff_dashboards(DEV, other) == []
    assert diff_dashboards(DEV, json.loads(json.dumps(DEV, indent=4))) == []


def test_panels_added_removed_and_moved_by_title_and_row():
    new = copy.deepcopy(DEV)
    removed = new["panels"].pop(2)  # 'Successful requests/s' in row Overview
    moved = _panel(new, "Error ratio")
    moved["gridPos"] = {**moved["gridPos"], "x": 0}
    added = copy.deepcopy(removed)
    added.update(title="New panel", id=99)
    new["panels"].append(added)
    changes = diff_dashboards(DEV, new)
    assert ("panel-removed", "panel 'Successful requests/s' (row Overview)", "") in _kinds(changes)
    assert ("panel-added", "panel 'New panel' (row GPU (only with GPUs))", "") in _kinds(changes)
    assert ("panel-moved", "panel 'Error ratio' (row Overview)", "gridPos") in _kinds(changes)
    text = format_changes(changes)
    assert "  > panel 'Error ratio' (row Overview) moved: row Overview, x=8 y=1 w=4 h=4 -> " \
           "row Overview, x=0 y=1 w=4 h=4" in text


def test_queries_units_thresholds_variables_time():
    new = copy.deepcopy(DEV)
    rps = _panel(new, "Requests per second (RPS)")
    old_expr = rps["targets"][0]["expr"].splitlines()[0]
    old_unit = rps["fieldConfig"]["defaults"]["unit"]
    old_variable = copy.deepcopy(new["templating"]["list"][1])
    rps["targets"][0]["expr"] = "sum(rate(x[5m]))"
    rps["fieldConfig"]["defaults"]["unit"] = "short"
    _panel(new, "Average latency")["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] = 1
    new["templating"]["list"][1]["query"] = "label_values(up, namespace)"
    new["time"] = {"from": "now-6h", "to": "now"}
    changes = diff_dashboards(DEV, new)
    text = "\n".join(format_changes(changes))
    assert "~ panel 'Requests per second (RPS)' (row Traffic and errors): query A changed\n" \
           f"      - {old_expr}" in text
    assert "      + sum(rate(x[5m]))" in text
    assert f"~ panel 'Requests per second (RPS)' (row Traffic and errors): unit: {old_unit} -> short" in text
    assert "~ panel 'Average latency' (row Overview): thresholds: absolute: green@-inf, red@500000 -> " \
           "absolute: green@-inf, red@1" in text
    old_query = old_variable["query"]["query"] if isinstance(old_variable["query"], dict) else old_variable["query"]
    assert f"~ variable {old_variable['name']}: query: {old_query} -> label_values(up, namespace)" in text
    assert "~ dashboard: time.from: now-6h" not in text
    assert "~ dashboard: time.from: now-1h -> now-6h" in text


@pytest.fixture
def git_project(project):
    def git(*args):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "base")
    return project


def test_against_a_git_ref(git_project):
    project = git_project
    result = run_gen("diff", "--against", "main", cwd=project, env={"GRAFANA_URL": "http://ignored.example"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["comparing main -> working tree", "dev/triton-dev: unchanged",
                                          "prod/triton-prod: unchanged", "0 of 2 dashboards differ"]
    triton = project / "dashboards/triton.py"
    triton.write_text(triton.read_text().replace('refresh="30s"', 'refresh="1m"'))
    assert run_gen("dashboards", cwd=project).returncode == 0
    result = run_gen("diff", "--against", "main", "--env", "prod", cwd=project)
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["comparing main -> working tree", "prod/triton-prod: 1 change",
                                          "  ~ dashboard: refresh: 30s -> 1m", "1 of 1 dashboards differ"]
    report = json.loads(run_gen("diff", "--against", "main", "--format", "json", cwd=project).stdout)
    assert report["differ"] is True
    assert report["dashboards"][0]["changes"] == [
        {"kind": "time-changed", "where": "dashboard", "field": "refresh", "old": "30s", "new": "1m"}]
    (project / "out/grafana/dev/triton-dev.json").unlink()
    result = run_gen("diff", "--against", "main", "--env", "dev", cwd=project)
    assert result.returncode == 1 and "dev/triton-dev: removed" in result.stdout


def test_against_errors_exit_2(git_project):
    result = run_gen("diff", "--against", "no-such-branch", cwd=git_project)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --against: 'no-such-branch' is not a commit, branch or tag of this repository"
    result = run_gen("diff", cwd=git_project, env={"GRAFANA_URL": ""})
    assert result.returncode == 2 and "nothing to compare with" in result.stderr
    result = run_gen("diff", "--against", "main", "--grafana-url", "http://x", cwd=git_project)
    assert result.returncode == 2 and "not both" in result.stderr


def test_a_panel_renamed_in_place_is_a_rename_not_removed_and_added():
    new = copy.deepcopy(DEV)
    panel = _panel(new, "Error ratio")
    panel["title"] = "Failure ratio"
    panel["targets"][0]["expr"] = "vector(0)"
    changes = diff_dashboards(DEV, new)
    assert _kinds(changes) == [("panel-renamed", "panel 'Failure ratio' (row Overview)", "title"),
                               ("query-changed", "panel 'Failure ratio' (row Overview)", "query A")]
    assert format_changes(changes)[0] == "  ~ panel 'Failure ratio' (row Overview): renamed from 'Error ratio'"


def test_a_renamed_panel_that_also_moved_is_removed_and_added():
    new = copy.deepcopy(DEV)
    panel = _panel(new, "Error ratio")
    panel.update(title="Failure ratio", gridPos={**panel["gridPos"], "y": 99})
    kinds = {c.kind for c in diff_dashboards(DEV, new)}
    assert {"panel-added", "panel-removed"} <= kinds and "panel-renamed" not in kinds
