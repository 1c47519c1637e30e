"""`gen push` against the Grafana API emulator: safe by default, robust, never leaks the token."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO, run_gen, snapshot
from tests.grafana_api_emulator import Fault, GrafanaEmulator

TOKEN = "glsa_TestServiceAccountToken_0123456789abcdef"
VIEWER_TOKEN = "glsa_ViewerOnly_0123456789"


@pytest.fixture
def grafana():
    with GrafanaEmulator(tokens={TOKEN: "Editor", VIEWER_TOKEN: "Viewer"}) as emulator:
        yield emulator


def push(grafana, *args: str, cwd: Path = REPO, token: str | None = TOKEN, env: dict | None = None):
    environ = {"GRAFANA_TOKEN": token or "", "GRAFANA_USER": "", "GRAFANA_PASSWORD": "", **(env or {})}
    args = args if "--env" in args else ("--env", "all", *args)  # a push names what it writes
    result = run_gen("push", "--grafana-url", grafana.url, "--format", "json", *args, cwd=cwd, env=environ)
    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    return result, report


def _actions(report) -> dict[str, str]:
    return {d["uid"]: d["action"] for d in report["dashboards"]}


def test_first_push_creates_folders_and_dashboards(grafana, project):
    result, report = push(grafana, cwd=project)
    assert result.returncode == 0, result.stderr
    assert _actions(report) == {"triton-dev": "create", "triton-prod": "create"}
    assert sorted(report["folders_created"]) == ["triton-dev", "triton-prod"]
    assert grafana.folders["triton-prod"]["title"] == "Triton (prod)"
    stored = grafana.dashboards["triton-dev"]
    assert stored.folder_uid == "triton-dev" and stored.version == 1
    local = json.loads((project / "out/grafana/dev/triton-dev.json").read_text())
    assert {k: v for k, v in stored.dashboard.items() if k not in ("id", "version", "tritonObs")} == local
    assert stored.message.startswith("triton-obs gen push, definitions at git ")


def test_push_without_env_writes_nothing_and_names_the_choice(grafana, project):
    environ = {"GRAFANA_TOKEN": TOKEN, "GRAFANA_USER": "", "GRAFANA_PASSWORD": ""}
    result = run_gen("push", "--grafana-url", grafana.url, cwd=project, env=environ)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: gen push: --env is required (dev, prod, or all), or set default_env in environments.yaml: "
        "without it a push would write every environment, prod included"]
    assert grafana.requests == [] and grafana.dashboards == {} and grafana.folders == {}


def test_default_env_is_what_a_push_without_env_writes(grafana, project):
    settings = project / "environments.yaml"
    settings.write_text("default_env: dev\n" + settings.read_text())
    environ = {"GRAFANA_TOKEN": TOKEN, "GRAFANA_USER": "", "GRAFANA_PASSWORD": ""}
    result = run_gen("push", "--grafana-url", grafana.url, "--format", "json", cwd=project, env=environ)
    assert result.returncode == 0, result.stderr
    assert _actions(json.loads(result.stdout)) == {"triton-dev": "create"}
    assert set(grafana.dashboards) == {"triton-dev"}
    # --env still wins over it
    result, report = push(grafana, "--env", "prod", cwd=project)
    assert _actions(report) == {"triton-prod": "create"}


def test_default_env_naming_no_environment_is_a_settings_error(project):
    settings = project / "environments.yaml"
    settings.write_text("default_env: dve\n" + settings.read_text())
    result = run_gen("push", "--grafana-url", "http://127.0.0.1:9", cwd=project, env={"GRAFANA_TOKEN": TOKEN})
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: environments.yaml: default_env: unknown environment 'dve' "
                                     "(did you mean 'dev'? known: dev, prod, all)")


def test_second_push_makes_no_write_request(grafana, project):
    push(grafana, cwd=project)
    grafana.reset_requests()
    result, report = push(grafana, cwd=project)
    assert result.returncode == 0
    assert _actions(report) == {"triton-dev": "unchanged", "triton-prod": "unchanged"}
    assert grafana.write_requests() == []
    assert report["writes"] == 0


def test_definition_change_updates_without_force(grafana, project):
    push(grafana, cwd=project)
    triton = project / "dashboards/triton.py"
    triton.write_text(triton.read_text().replace('refresh="30s"', 'refresh="1m"'))
    assert run_gen("dashboards", cwd=project).returncode == 0
    result, report = push(grafana, "--env", "dev", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    (outcome,) = report["dashboards"]
    assert outcome["action"] == "update" and outcome["result"] == "done"
    assert outcome["detail"] == "1 difference: dashboard refresh"
    assert grafana.dashboards["triton-dev"].dashboard["refresh"] == "1m"
    assert grafana.dashboards["triton-dev"].version == 2


def test_edit_in_grafana_is_a_conflict_and_not_overwritten(grafana, project):
    push(grafana, cwd=project)
    grafana.edit_in_ui("triton-dev", lambda d: d.update(title="Triton, edited by hand"))
    before = json.dumps(grafana.dashboards["triton-dev"].dashboard, sort_keys=True)
    grafana.reset_requests()
    result, report = push(grafana, cwd=project)
    assert result.returncode == 1
    outcome = next(d for d in report["dashboards"] if d["uid"] == "triton-dev")
    assert outcome["action"] == "conflict" and outcome["result"] == "skipped"
    assert "title" in outcome["detail"] and "version 2" in outcome["detail"]
    assert json.dumps(grafana.dashboards["triton-dev"].dashboard, sort_keys=True) == before
    assert [r for r in grafana.write_requests() if r.path == "/api/dashboards/db"] == []


def test_dashboard_imported_by_someone_else_is_a_conflict(grafana, project):
    grafana.create_folder("triton-dev", "Triton (dev)")
    grafana.put_dashboard({"uid": "triton-dev", "title": "Someone's Triton"}, folder_uid="triton-dev")
    result, report = push(grafana, "--env", "dev", cwd=project)
    assert result.returncode == 1
    assert report["dashboards"][0]["action"] == "conflict"
    assert "not pushed by triton-obs" in report["dashboards"][0]["detail"]


def test_force_overwrites_after_a_backup(grafana, project, tmp_path):
    push(grafana, cwd=project)
    grafana.edit_in_ui("triton-dev", lambda d: d.update(title="Edited"))
    result, report = push(grafana, "--force", "--backup-dir", str(tmp_path / "backups"), "--env", "dev", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    (outcome,) = report["dashboards"]
    assert outcome["action"] == "overwrite" and outcome["result"] == "done"
    backup = json.loads(Path(outcome["backup"]).read_text())
    assert backup["dashboard"]["title"] == "Edited" and backup["meta"]["version"] == 2
    assert Path(outcome["backup"]).parent == tmp_path / "backups" / "dev"
    assert grafana.dashboards["triton-dev"].dashboard["title"] == "Triton Inference Server (dev)"
    # Pushed by us again: the next push sees no change.
    result, report = push(grafana, "--env", "dev", cwd=project)
    assert report["dashboards"][0]["action"] == "unchanged"


def test_default_backup_dir_is_out_backup(grafana, project):
    push(grafana, cwd=project)
    grafana.edit_in_ui("triton-prod", lambda d: d.update(refresh="5s"))
    result, report = push(grafana, "--force", "--env", "prod", cwd=project)
    assert result.returncode == 0
    assert Path(report["dashboards"][0]["backup"]).is_relative_to((project / "out/.backup/prod").resolve())
    assert run_gen("build", "--check", cwd=project).returncode == 0  # .backup/ is not part of out/'s content


def test_a_build_waits_for_a_push_writing_backups_into_out(grafana, project):
    """A push with --force saves Grafana's version into out/.backup/ while a build may swap out/:
    the build waits for it (a backup written into the old tree would go with it)."""
    import fcntl
    import subprocess
    import sys
    import time

    push(grafana, cwd=project)
    grafana.edit_in_ui("triton-prod", lambda d: d.update(refresh="5s"))
    grafana.latency_s = 0.4  # the push takes seconds: time for the build to start meanwhile
    environ = {**os.environ, "GRAFANA_TOKEN": TOKEN, "GRAFANA_USER": "", "GRAFANA_PASSWORD": ""}
    pusher = subprocess.Popen([sys.executable, "-m", "gen", "push", "--grafana-url", grafana.url, "--env", "all", "--force",
                               "--format", "json"], cwd=project, env=environ,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        fd = os.open(project, os.O_RDONLY | os.O_DIRECTORY)
        try:
            deadline = time.monotonic() + 60
            while True:  # until the push holds out/'s lock
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(fd, fcntl.LOCK_UN)
                except BlockingIOError:
                    break
                assert pusher.poll() is None, pusher.communicate()
                assert time.monotonic() < deadline, "the push never took out/'s lock"
                time.sleep(0.01)
        finally:
            os.close(fd)
        settings = project / "environments.yaml"
        settings.write_text(settings.read_text().replace("0.05", "0.0625"))  # every file changes
        build = run_gen("build", cwd=project)
        pushed_out, pushed_err = pusher.communicate(timeout=120)
    finally:
        if pusher.poll() is None:
            pusher.kill()
            pusher.wait()
    assert pusher.returncode == 0, pushed_err
    assert build.returncode == 0, build.stderr
    assert "waiting for another gen that is writing" in build.stderr
    (outcome,) = [d for d in json.loads(pushed_out)["dashboards"] if d["action"] == "overwrite"]
    assert Path(outcome["backup"]).is_file()  # in the out/ the build left
    assert Path(outcome["backup"]).is_relative_to((project / "out/.backup/prod").resolve())


def test_dry_run_changes_nothing(grafana, project):
    push(grafana, cwd=project)
    triton = project / "dashboards/triton.py"
    triton.write_text(triton.read_text().replace('refresh="30s"', 'refresh="1m"'))
    run_gen("dashboards", cwd=project)
    grafana.edit_in_ui("triton-prod", lambda d: d.update(refresh="5s"))
    grafana.reset_requests()
    result = run_gen("push", "--grafana-url", grafana.url, "--dry-run", cwd=project, env={"GRAFANA_TOKEN": TOKEN})
    assert result.returncode == 1  # a conflict is planned
    lines = result.stdout.splitlines()
    assert lines[0] == "api: legacy API (/api/dashboards/db): Grafana has no /apis (Grafana 10 or 11)"
    assert lines[1].split() == ["ENV", "DASHBOARD", "ACTION", "RESULT", "DETAIL"]
    assert lines[2].split()[:4] == ["dev", "triton-dev", "update", "dry-run"]
    assert lines[3].split()[:4] == ["prod", "triton-prod", "conflict", "dry-run"]
    # The conflict comes with what Grafana changed.
    assert lines[4] == "conflict triton-prod (prod): what Grafana holds, compared with the code:"
    assert lines[5] == "  ~ dashboard: refresh: 1m -> 5s"
    assert lines[-5].startswith("dry run, nothing changed: 1 conflict, 1 update")
    # and ends with what to do about it
    url = f"--grafana-url {grafana.url}"
    assert lines[-4:] == [
        "next steps for the conflict(s):",
        f"  see what changed in Grafana:  gen diff {url} --env prod",
        f"  keep it, as code:             gen pull {url} --env prod --uid triton-prod --write",
        f"  or overwrite it:              gen push {url} --env prod --force (Grafana's version is saved under "
        "out/.backup/ first)"]
    # The commands are real: diff shows Grafana's edit, pull accepts its arguments.
    shown = run_gen(*lines[-3].split(":  ")[1].split()[1:], cwd=project, env={"GRAFANA_TOKEN": TOKEN})
    assert shown.returncode == 1 and "refresh" in shown.stdout, shown.stdout + shown.stderr
    pulled = run_gen(*lines[-2].split(":  ")[1].split()[1:-1], cwd=project, env={"GRAFANA_TOKEN": TOKEN})
    assert pulled.returncode in (0, 1) and "triton-prod" in pulled.stdout + pulled.stderr, pulled.stderr
    assert grafana.write_requests() == []


def test_dry_run_plans_folder_creation(grafana, project):
    result, report = push(grafana, "--dry-run", cwd=project)
    assert sorted(report["folders_created"]) == ["triton-dev", "triton-prod"]
    assert grafana.folders == {} and grafana.write_requests() == []


def test_faults_are_retried_and_the_run_succeeds(grafana, project):
    grafana.inject(Fault(method="POST", path_prefix="/api/dashboards/db", status=503, times=2))
    grafana.inject(Fault(method="GET", path_prefix="/api/search", status=429, retry_after="1", times=1))
    grafana.inject(Fault(method="POST", path_prefix="/api/folders", drop_connection=True, times=1))
    grafana.inject(Fault(method="GET", path_prefix="/api/folders", status=502, times=1))
    result, report = push(grafana, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _actions(report) == {"triton-dev": "create", "triton-prod": "create"}
    assert report["retries"] >= 5
    assert sorted(grafana.dashboards) == ["triton-dev", "triton-prod"]
    # Short retries are progress, for a terminal: nothing in a pipe (test_terminal.py has the terminal).
    assert result.stderr == ""


def test_retry_after_is_honoured(grafana, project):
    import time

    grafana.inject(Fault(method="GET", path_prefix="/api/folders", status=429, retry_after="2", times=1))
    started = time.monotonic()
    result, _ = push(grafana, "--env", "dev", cwd=project)
    assert result.returncode == 0
    assert time.monotonic() - started >= 2


def test_client_errors_are_not_retried(grafana, project):
    grafana.create_folder("triton-dev", "Triton (dev)")
    grafana.put_dashboard({"uid": "triton-dev", "title": "Provisioned"}, folder_uid="triton-dev", provisioned=True)
    grafana.reset_requests()
    result, report = push(grafana, "--env", "dev", cwd=project)
    assert result.returncode == 1
    (outcome,) = report["dashboards"]
    assert outcome["action"] == "error"
    assert "provisioned" in outcome["detail"] and "ConfigMap out/dev/" in outcome["detail"]
    assert report["retries"] == 0


def test_bad_token_is_a_clear_error_exit_1(grafana, project):
    result, report = push(grafana, cwd=project, token="glsa_wrong")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: folder triton-dev: Grafana refused the credentials (401): check GRAFANA_TOKEN or --token-file"
    )
    assert grafana.write_requests() == [] and grafana.dashboards == {}


def test_viewer_token_names_the_missing_role(grafana, project):
    result, report = push(grafana, "--env", "dev", cwd=project, token=VIEWER_TOKEN)
    assert result.returncode == 1
    assert "needs the Editor role" in result.stderr
    assert grafana.dashboards == {}


def test_basic_auth_fallback(project):
    with GrafanaEmulator(users={"admin": ("s3cret-pass", "Admin")}) as grafana:
        result, report = push(grafana, cwd=project, token="", env={"GRAFANA_USER": "admin", "GRAFANA_PASSWORD": "s3cret-pass"})
        assert result.returncode == 0, result.stderr
        assert grafana.requests[0].headers["Authorization"].startswith("Basic ")
        assert "s3cret-pass" not in result.stdout + result.stderr


def test_no_credentials_is_usage_error(grafana, project):
    result, _ = push(grafana, cwd=project, token="")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no Grafana credentials")


def test_token_from_file_and_never_leaked(grafana, project, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    outputs = []
    result, _ = push(grafana, "--token-file", str(token_file), cwd=project, token="")
    outputs.append(result.stdout + result.stderr)
    grafana.edit_in_ui("triton-dev", lambda d: d.update(title="Edited"))
    grafana.inject(Fault(method="POST", status=500, times=10))
    for args in (["--dry-run"], ["--force"], []):
        result, _ = push(grafana, "--token-file", str(token_file), *args, cwd=project, token="")
        outputs.append(result.stdout + result.stderr)
    result, _ = push(grafana, cwd=project, token=TOKEN + "x")
    outputs.append(result.stdout + result.stderr)
    assert all(TOKEN not in text for text in outputs)
    assert grafana.requests and all(r.headers.get("Authorization") in (f"Bearer {TOKEN}", f"Bearer {TOKEN}x")
                                    for r in grafana.requests)
    for path, data in snapshot(project).items():
        assert TOKEN.encode() not in data, path


def test_unreachable_grafana_exit_2(project):
    from tests.stack.servers import free_port

    result = run_gen("push", "--grafana-url", f"http://127.0.0.1:{free_port()}", "--env", "all", "--timeout", "2", cwd=project,
                     env={"GRAFANA_TOKEN": TOKEN})
    assert result.returncode == 2
    assert "Grafana is unreachable" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_local_dashboard_stops_before_any_request(grafana, project):
    (project / "out/grafana/dev/triton-dev.json").write_text("{not json")
    result, _ = push(grafana, cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith("error: out/grafana/dev/triton-dev.json: not a dashboard JSON")
    assert grafana.requests == []


def test_tls_verification_and_custom_ca(project, tmp_path):
    from tests.tls import make_certificates

    certs = make_certificates(tmp_path / "tls")
    with GrafanaEmulator(tokens={TOKEN: "Editor"}, tls=(str(certs.cert), str(certs.key))) as grafana:
        assert grafana.url.startswith("https://")
        result, _ = push(grafana, cwd=project)
        assert result.returncode == 2
        assert "TLS verification failed" in result.stderr and grafana.dashboards == {}
        result, report = push(grafana, "--ca-cert", str(certs.ca), cwd=project)
        assert result.returncode == 0, result.stderr
        assert _actions(report) == {"triton-dev": "create", "triton-prod": "create"}


def test_too_large_is_a_clear_error_naming_the_dashboard(project):
    with GrafanaEmulator(tokens={TOKEN: "Editor"}, max_body_bytes=10_000) as grafana:
        result, report = push(grafana, "--env", "dev", cwd=project)
        assert result.returncode == 1
        (outcome,) = report["dashboards"]
        assert outcome["result"] == "failed"
        assert outcome["detail"].startswith("dashboard triton-dev (dev): Grafana refused the request as too large (413)")
        assert report["retries"] == 0
