"""`gen push`, `gen diff` and `--prune` end to end through the CLI against the emulator started
as Grafana 11 (legacy API), 12 (dashboard.grafana.app/v1beta1) and 13 (v1, schema v2 stored by
the UI): ownership, conflicts with their diff, 409, prune, nested folders, a sub-path, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_gen, snapshot
from tests.grafana_api_emulator import (
    ANNO_ALLOWS_EDITS,
    ANNO_MANAGED_BY,
    ANNO_MANAGER_ID,
    Fault,
    GrafanaEmulator,
)

pytestmark = pytest.mark.e2e

TOKEN = "glsa_ResourceApiToken_0123456789abcdef"
ALL_VERSIONS = ["11", "12", "13"]
RESOURCE_VERSIONS = ["12", "13"]


def push(grafana, *args: str, cwd: Path, token: str = TOKEN, url: str | None = None):
    environ = {"GRAFANA_TOKEN": token, "GRAFANA_USER": "", "GRAFANA_PASSWORD": "", "GRAFANA_URL": ""}
    args = args if "--env" in args else ("--env", "all", *args)  # a push names what it writes
    result = run_gen("push", "--grafana-url", url or grafana.url, "--format", "json", *args, cwd=cwd, env=environ)
    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    return result, report


def diff(grafana, *args: str, cwd: Path, token: str = TOKEN):
    environ = {"GRAFANA_TOKEN": token, "GRAFANA_USER": "", "GRAFANA_PASSWORD": "", "GRAFANA_URL": ""}
    return run_gen("diff", "--grafana-url", grafana.url, *args, cwd=cwd, env=environ)


def actions(report) -> dict[str, str]:
    return {d["uid"]: d["action"] for d in report["dashboards"]}


def retitle_in_code(project: Path, old: str, new: str) -> None:
    triton = project / "dashboards/triton.py"
    triton.write_text(triton.read_text().replace(old, new))
    assert run_gen("dashboards", cwd=project).returncode == 0


@pytest.fixture(params=ALL_VERSIONS, ids=lambda v: f"grafana{v}")
def any_grafana(request):
    with GrafanaEmulator(tokens={TOKEN: "Editor"}, version=request.param) as emulator:
        yield emulator


@pytest.fixture(params=RESOURCE_VERSIONS, ids=lambda v: f"grafana{v}")
def grafana(request):
    with GrafanaEmulator(tokens={TOKEN: "Editor"}, version=request.param) as emulator:
        yield emulator


# -- every version ---------------------------------------------------------------------------------

def test_create_then_repush_writes_nothing(any_grafana, project):
    grafana = any_grafana
    result, report = push(grafana, cwd=project)
    assert result.returncode == 0, result.stderr
    assert actions(report) == {"triton-dev": "create", "triton-prod": "create"}
    expected_api = {"11": ("legacy", ""), "12": ("resource", "v1beta1"), "13": ("resource", "v1")}[grafana.version]
    assert (report["api"]["api"], report["api"]["dashboard_version"]) == expected_api
    grafana.reset_requests()
    result, report = push(grafana, cwd=project)
    assert result.returncode == 0, result.stderr
    assert actions(report) == {"triton-dev": "unchanged", "triton-prod": "unchanged"}
    assert grafana.write_requests() == [] and report["writes"] == 0
    if grafana.version == "11":  # one search, then one GET per dashboard
        assert len([r for r in grafana.requests if r.path.startswith("/api/dashboards/uid/")]) == 2
        assert len([r for r in grafana.requests if r.path == "/api/search"]) == 1
    else:  # one list call for all of them
        reads = [r.path for r in grafana.requests if "/dashboards" in r.path]
        assert reads == [f"/apis/dashboard.grafana.app/{expected_api[1]}/namespaces/default/dashboards"]


def test_ui_edit_is_a_conflict_with_its_diff_and_force_keeps_a_backup(any_grafana, project, tmp_path):
    grafana = any_grafana
    push(grafana, cwd=project)

    def edit(model):
        model["refresh"] = "5s"
        panel = next(p for p in model["panels"] if p.get("title") == "Error ratio")
        panel["targets"][0]["expr"] = "vector(0)"

    grafana.edit_in_ui("triton-dev", edit)
    before = json.dumps(grafana.dashboards["triton-dev"].dashboard, sort_keys=True)
    grafana.reset_requests()
    result = run_gen("push", "--grafana-url", grafana.url, "--env", "dev", cwd=project,
                     env={"GRAFANA_TOKEN": TOKEN})
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1].split()[:4] == ["dev", "triton-dev", "conflict", "skipped"]
    assert "conflict triton-dev (dev): what Grafana holds, compared with the code:" in lines
    assert "  ~ panel 'Error ratio' (row Overview): query A changed" in lines
    assert "      + vector(0)" in lines
    assert "  ~ dashboard: refresh: 30s -> 5s" in lines
    assert grafana.write_requests() == []
    assert json.dumps(grafana.dashboards["triton-dev"].dashboard, sort_keys=True) == before

    result, report = push(grafana, "--env", "dev", "--force", "--backup-dir", str(tmp_path / "bk"), cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    (outcome,) = report["dashboards"]
    assert outcome["action"] == "overwrite" and outcome["result"] == "done"
    backup = json.loads(Path(outcome["backup"]).read_text())
    saved = backup["dashboard"] if "dashboard" in backup else backup["spec"]
    assert saved["refresh"] == "5s"
    assert grafana.dashboards["triton-dev"].dashboard["refresh"] == "30s"
    result, report = push(grafana, "--env", "dev", cwd=project)
    assert actions(report) == {"triton-dev": "unchanged"}


def test_prune_deletes_only_our_own_dashboards(any_grafana, project, tmp_path):
    grafana = any_grafana
    extra = json.loads((project / "out/grafana/dev/triton-dev.json").read_text())
    extra.update(uid="triton-old", title="Old Triton dashboard")
    (project / "out/grafana/dev/triton-old.json").write_text(json.dumps(extra))
    assert push(grafana, "--env", "dev", cwd=project)[0].returncode == 0
    (project / "out/grafana/dev/triton-old.json").unlink()
    grafana.put_dashboard({"uid": "someones", "title": "Someone's dashboard"}, folder_uid="triton-dev")
    grafana.reset_requests()

    result, report = push(grafana, "--env", "dev", "--prune", "--dry-run", cwd=project)
    assert result.returncode == 0, result.stderr
    assert actions(report) == {"triton-dev": "unchanged", "triton-old": "prune"}
    assert grafana.write_requests() == []

    result, report = push(grafana, "--env", "dev", "--prune", "--backup-dir", str(tmp_path / "bk"), cwd=project)
    assert result.returncode == 0, result.stderr
    pruned = next(d for d in report["dashboards"] if d["uid"] == "triton-old")
    assert pruned["result"] == "done" and Path(pruned["backup"]).is_file()
    assert "Old Triton dashboard" in Path(pruned["backup"]).read_text()
    assert sorted(grafana.dashboards) == ["someones", "triton-dev"]


def test_token_never_appears_in_any_output(any_grafana, project, tmp_path):
    grafana = any_grafana
    outputs = []
    for args in ([], ["--dry-run"]):
        result, _ = push(grafana, *args, cwd=project)
        outputs.append(result.stdout + result.stderr)
    grafana.edit_in_ui("triton-dev", lambda d: d.update(title="Edited by hand"))
    grafana.inject(Fault(method="GET", status=500, times=1))
    for args in (["--prune"], ["--force", "--backup-dir", str(tmp_path / "bk")]):
        result, _ = push(grafana, *args, "--format", "table", cwd=project)
        outputs.append(result.stdout + result.stderr)
    outputs.append(diff(grafana, cwd=project).stdout)
    outputs.append(diff(grafana, "--format", "json", cwd=project).stdout)
    result, _ = push(grafana, cwd=project, token=TOKEN + "x")
    outputs.append(result.stdout + result.stderr)
    assert all(TOKEN not in text for text in outputs)
    assert any("Edited by hand" in text for text in outputs)  # the conflicts were reported
    for path, data in {**snapshot(project), **snapshot(tmp_path / "bk")}.items():
        assert TOKEN.encode() not in data, path


def test_grafana_behind_a_sub_path(project):
    with GrafanaEmulator(tokens={TOKEN: "Editor"}, version="13", sub_path="/grafana") as grafana:
        assert grafana.url.endswith("/grafana")
        result, report = push(grafana, cwd=project)
        assert result.returncode == 0, result.stderr
        assert report["api"]["api"] == "resource"
        assert actions(report) == {"triton-dev": "create", "triton-prod": "create"}
        assert sorted(grafana.dashboards) == ["triton-dev", "triton-prod"]
        assert diff(grafana, cwd=project).returncode == 0
        # Without the sub-path there is nothing: the error says so, once, with exit 2.
        result, _ = push(grafana, "--api", "resource", cwd=project, url=grafana.url.removesuffix("/grafana"))
        assert result.returncode == 2 and "--api resource" in result.stderr


# -- the resource API --------------------------------------------------------------------------------

def test_manager_annotations_and_edits_per_environment(grafana, project):
    result, report = push(grafana, cwd=project)
    assert result.returncode == 0, result.stderr
    dev, prod = grafana.dashboards["triton-dev"], grafana.dashboards["triton-prod"]
    assert dev.annotations[ANNO_MANAGED_BY] == "kubectl" and dev.annotations[ANNO_MANAGER_ID] == "triton-obs"
    assert dev.annotations["grafana.app/sourcePath"] == "dashboards/triton.py"
    assert dev.annotations["grafana.app/sourceChecksum"].startswith("sha256:")
    assert dev.folder_uid == "triton-dev" and prod.folder_uid == "triton-prod"
    assert dev.annotations[ANNO_ALLOWS_EDITS] == "true"
    assert prod.annotations[ANNO_ALLOWS_EDITS] == "false"
    local = json.loads((project / "out/grafana/dev/triton-dev.json").read_text())
    assert {k: v for k, v in dev.dashboard.items() if k not in ("id", "version")} == local  # spec verbatim
    with pytest.raises(PermissionError):  # prod is locked: the UI cannot save it
        grafana.edit_in_ui("triton-prod", lambda d: d.update(title="Edited"))
    # Changing the setting is a metadata update, nothing else.
    settings = yaml.safe_load((project / "environments.yaml").read_text())
    settings["environments"]["prod"]["grafana"]["allow_ui_edits"] = True
    (project / "environments.yaml").write_text(yaml.safe_dump(settings))
    result, report = push(grafana, cwd=project)
    assert actions(report) == {"triton-dev": "unchanged", "triton-prod": "update"}
    assert grafana.dashboards["triton-prod"].annotations[ANNO_ALLOWS_EDITS] == "true"


def test_definition_change_is_an_update_with_resource_version(grafana, project):
    push(grafana, cwd=project)
    generation = grafana.dashboards["triton-dev"].generation
    retitle_in_code(project, 'refresh="30s"', 'refresh="1m"')
    grafana.reset_requests()
    result, report = push(grafana, "--env", "dev", cwd=project)
    assert result.returncode == 0, result.stderr
    assert actions(report) == {"triton-dev": "update"}
    (put,) = [r for r in grafana.write_requests()]
    assert put.method == "PUT" and json.loads(put.body)["metadata"]["resourceVersion"]
    assert grafana.dashboards["triton-dev"].dashboard["refresh"] == "1m"
    assert grafana.dashboards["triton-dev"].generation == generation + 1


def test_concurrent_edit_between_read_and_write_is_a_409_conflict_not_retried(grafana, project):
    push(grafana, cwd=project)
    retitle_in_code(project, 'refresh="30s"', 'refresh="1m"')
    grafana.inject(Fault(method="PUT", path_prefix="/apis/dashboard.grafana.app", run=lambda: grafana.edit_behind_our_back(
        "triton-dev", lambda stored: stored.dashboard.update(refresh="2h"))))
    grafana.reset_requests()
    result, report = push(grafana, "--env", "dev", cwd=project)
    assert result.returncode == 1
    (outcome,) = report["dashboards"]
    assert outcome["action"] == "conflict" and outcome["result"] == "skipped"
    assert "409 Conflict" in outcome["detail"] and "not retried" in outcome["detail"]
    assert len([r for r in grafana.write_requests() if r.method == "PUT"]) == 1
    assert grafana.dashboards["triton-dev"].dashboard["refresh"] == "2h"
    # The next run sees the change and shows it.
    result, report = push(grafana, "--env", "dev", cwd=project)
    assert actions(report) == {"triton-dev": "conflict"}
    assert {"kind": "time-changed", "field": "refresh", "old": "1m", "new": "2h", "where": "dashboard"} in \
        report["dashboards"][0]["diff"]


def test_another_managers_dashboard_is_never_taken_over(grafana, project, tmp_path):
    grafana.create_folder("triton-dev", "Triton (dev)")
    grafana.put_dashboard({"uid": "triton-dev", "title": "From Git Sync"}, folder_uid="triton-dev",
                          annotations={ANNO_MANAGED_BY: "repo", ANNO_MANAGER_ID: "infra-repo",
                                       "grafana.app/sourcePath": "grafana/triton.json"})
    grafana.reset_requests()
    for args in ([], ["--force", "--backup-dir", str(tmp_path / "bk")]):
        result, report = push(grafana, "--env", "dev", *args, cwd=project)
        assert result.returncode == 1
        (outcome,) = report["dashboards"]
        assert outcome["action"] == "owned" and outcome["result"] == "skipped"
        assert outcome["detail"].startswith("owned by repo:infra-repo (grafana/triton.json)")
    assert grafana.write_requests() == []
    assert grafana.dashboards["triton-dev"].dashboard["title"] == "From Git Sync"
    result = diff(grafana, "--env", "dev", cwd=project)
    assert result.returncode == 1 and "owned by repo:infra-repo" in result.stdout


def test_the_server_refuses_a_take_over_too(grafana, project):
    """The emulator's own check, which gen never reaches: it decides before writing."""
    import requests

    push(grafana, "--env", "dev", cwd=project)
    path = "/apis/dashboard.grafana.app/v1beta1/namespaces/default/dashboards/triton-dev"
    current = requests.get(grafana.url + path, headers={"Authorization": f"Bearer {TOKEN}"}).json()
    current["metadata"]["annotations"][ANNO_MANAGER_ID] = "someone-else"
    answer = requests.put(grafana.url + path, json=current, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 400 and "is managed by kubectl:triton-obs" in answer.json()["message"]
    current["spec"] = {"uid": "triton-dev"}
    current["metadata"]["annotations"][ANNO_MANAGER_ID] = "triton-obs"
    answer = requests.put(grafana.url + path, json=current, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 422 and answer.json()["reason"] == "Invalid"


def test_ui_save_as_schema_v2_is_a_conflict_on_both_apis(project):
    with GrafanaEmulator(tokens={TOKEN: "Editor"}, version="13") as grafana:
        push(grafana, cwd=project)
        grafana.edit_in_ui("triton-dev", lambda d: None, as_v2=True)  # saved unchanged, but as v2
        result, report = push(grafana, "--env", "dev", cwd=project)
        assert result.returncode == 1
        (outcome,) = report["dashboards"]
        assert outcome["action"] == "conflict"
        assert "schema v2 (status.conversion.storedVersion v2beta1)" in outcome["detail"]
        # The legacy GET is the lossy conversion: the content hash sees a change there too.
        result, report = push(grafana, "--env", "dev", "--api", "legacy", cwd=project)
        assert result.returncode == 1 and report["dashboards"][0]["action"] == "conflict"
        assert any(c["field"] == "pluginVersion" for c in report["dashboards"][0]["diff"])
        # --force backs up the dashboard as stored (schema v2), not its lossy v1 conversion.
        result, report = push(grafana, "--env", "dev", "--force", cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
        backup = json.loads(Path(report["dashboards"][0]["backup"]).read_text())
        assert backup["apiVersion"] == "dashboard.grafana.app/v2" and "status" not in backup
        assert all("pluginVersion" in p for p in backup["spec"]["v1"]["panels"] if p["type"] != "row")
        assert grafana.dashboards["triton-dev"].stored_version == "v1"


def test_nested_folders_from_settings_and_a_folder_under_another_parent(grafana, project):
    settings = yaml.safe_load((project / "environments.yaml").read_text())
    settings["defaults"]["grafana"]["parent_folders"] = [{"uid": "triton", "title": "Triton"}]
    (project / "environments.yaml").write_text(yaml.safe_dump(settings))
    result, report = push(grafana, cwd=project)
    assert result.returncode == 0, result.stderr
    assert report["folders_created"] == ["triton", "triton-dev", "triton-prod"]
    assert grafana.folders["triton-prod"]["parentUid"] == "triton" and grafana.folders["triton"]["parentUid"] == ""
    assert push(grafana, cwd=project)[1]["folders_created"] == []
    grafana.folders["triton-prod"]["parentUid"] = ""  # someone moved it
    grafana.reset_requests()
    result, _ = push(grafana, cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: folder triton-prod: Grafana has it under 'the root', the settings under 'triton' "
        "(environments.prod.grafana.parent_folders); gen does not move folders: move it in Grafana or change "
        "the settings")
    assert grafana.write_requests() == []


def test_discovery_choices_and_namespace(project):
    with GrafanaEmulator(tokens={TOKEN: "Editor"}, version="11") as grafana:
        result, _ = push(grafana, "--api", "resource", cwd=project)
        assert result.returncode == 2 and "Grafana has no /apis" in result.stderr
    with GrafanaEmulator(tokens={TOKEN: "Editor"}, version="13", namespace="stacks-4242") as grafana:
        result = run_gen("push", "--grafana-url", grafana.url, "--dry-run", cwd=project, env={"GRAFANA_TOKEN": TOKEN})
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0] == (
            "api: resource API dashboard.grafana.app/v1, namespace 'stacks-4242': the newest version GET /apis lists; "
            "namespace as Grafana's frontend settings tell")
        grafana.reset_requests()
        result, report = push(grafana, "--api", "legacy", cwd=project)
        assert result.returncode == 0 and report["api"]["api"] == "legacy"
        assert not any(r.path.startswith("/apis") for r in grafana.requests)
        result, _ = push(grafana, "--namespace", "stacks-1", "--api", "resource", cwd=project)
        assert result.returncode != 0 and "namespace 'stacks-1' not found" in result.stdout + result.stderr


def test_gen_diff_against_grafana(grafana, project):
    result = diff(grafana, cwd=project)
    assert result.returncode == 1
    assert "dev/triton-dev: added (not in Grafana: gen push would create it)" in result.stdout
    push(grafana, cwd=project)
    result = diff(grafana, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "0 of 2 dashboards differ"
    grafana.edit_in_ui("triton-dev", lambda d: d["panels"].pop(1))
    result = diff(grafana, "--env", "dev", cwd=project)
    assert result.returncode == 1
    assert "  + panel 'Inferences in range' (row Overview) added at row Overview, x=0 y=1 w=4 h=4" in result.stdout
    report = json.loads(diff(grafana, "--env", "dev", "--format", "json", cwd=project).stdout)
    assert report["differ"] is True
    assert report["dashboards"][0]["changes"][0]["kind"] == "panel-added"
    result = diff(grafana, cwd=project, token="glsa_wrong")
    assert result.returncode == 2 and "refused the credentials" in result.stderr


def test_ownership_annotations_changed_in_grafana_are_a_conflict(grafana, project):
    push(grafana, cwd=project)
    grafana.edit_behind_our_back("triton-prod", lambda stored: stored.annotations.update({ANNO_ALLOWS_EDITS: "true"}))
    result, report = push(grafana, "--env", "prod", cwd=project)
    assert result.returncode == 1
    (outcome,) = report["dashboards"]
    assert outcome["action"] == "conflict" and outcome["detail"].startswith("changed in Grafana since the last push")
    assert outcome["diff"] == [{"kind": "setting-changed", "where": "metadata", "field": ANNO_ALLOWS_EDITS,
                                "old": "false", "new": "true"}]
    assert grafana.dashboards["triton-prod"].annotations[ANNO_ALLOWS_EDITS] == "true"


def test_discovery_from_the_group_documents_when_apis_is_hidden(project):
    with GrafanaEmulator(tokens={TOKEN: "Editor"}, version="12") as grafana:
        grafana.add_route("GET", r"/apis", lambda match, query, body: (404, {"message": "Not found"}))
        result, report = push(grafana, "--dry-run", cwd=project)
        assert result.returncode == 0, result.stderr
        assert (report["api"]["api"], report["api"]["dashboard_version"]) == ("resource", "v1beta1")
        assert [r.path for r in grafana.requests[:3]] == ["/apis", "/apis/dashboard.grafana.app",
                                                          "/apis/folder.grafana.app"]
