"""What a person at a terminal gets: shell completion (commands, flags, --env's environments)
and colour, on a real pseudo-terminal only, off with NO_COLOR, never in a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_gen

GEN = Path(sys.executable).parent / "gen"  # the console script: completion keys on its name


def _complete(words: str, cwd: Path) -> list[str]:
    if not GEN.exists():
        pytest.skip("the gen console script is not installed beside this Python")
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    environ = {k: v for k, v in os.environ.items() if k != "TRITON_OBS_SETTINGS"}
    environ.update(_GEN_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(cword))
    done = subprocess.run([str(GEN)], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_shell_completes_commands_flags_and_environments(project):
    assert _complete("gen pu", project) == ["push", "pull"]
    assert "--env" in _complete("gen validate --e", project)
    # --env's values: the environments of the settings file found from where the shell is
    assert _complete("gen push --env ", project / "dashboards") == ["dev", "prod", "all"]
    assert _complete("gen build --env p", project) == ["prod"]


def test_completion_script_is_offered(project):
    if not GEN.exists():
        pytest.skip("the gen console script is not installed beside this Python")
    result = subprocess.run([str(GEN), "--show-completion", "bash"], cwd=project, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "_GEN_COMPLETE=complete_bash" in result.stdout


def _on_a_terminal(args: list[str], cwd: Path, env: dict | None = None) -> str:
    """Run gen with stdout and stderr on a pseudo-terminal; what it wrote."""
    primary, secondary = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TRITON_OBS_SETTINGS")}
    environ.update({"TERM": "xterm", **(env or {})})
    proc = subprocess.Popen([sys.executable, "-m", "gen", *args], cwd=cwd, env=environ, stdin=subprocess.DEVNULL,
                            stdout=secondary, stderr=secondary)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the other end closed: Linux says EIO
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(primary)
    return b"".join(chunks).decode()


@pytest.fixture
def changed_project(project):
    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=project,
                       check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "base")
    triton = project / "dashboards/triton.py"
    triton.write_text(triton.read_text().replace('refresh="30s"', 'refresh="1m"'))
    assert run_gen("dashboards", cwd=project).returncode == 0
    return project


def test_diff_lines_are_coloured_on_a_terminal_only(changed_project):
    args = ["diff", "--against", "main", "--env", "prod"]
    coloured = _on_a_terminal(args, changed_project)
    assert "\033[33m  ~ dashboard: refresh: 30s -> 1m\033[0m" in coloured
    assert "\033[" not in _on_a_terminal(args, changed_project, {"NO_COLOR": "1"})
    assert "\033[" not in _on_a_terminal(args, changed_project, {"TERM": "dumb"})
    piped = run_gen(*args, cwd=changed_project)
    assert "  ~ dashboard: refresh: 30s -> 1m" in piped.stdout.splitlines() and "\033[" not in piped.stdout
    forced = run_gen(*args, cwd=changed_project, env={"FORCE_COLOR": "1"})
    assert "\033[33m  ~ dashboard: refresh: 30s -> 1m\033[0m" in forced.stdout


def test_validate_colours_the_severity(project):
    import json

    path = project / "out/grafana/dev/triton-dev.json"
    model = json.loads(path.read_text())
    next(p for p in model["panels"] if p.get("type") != "row")["fieldConfig"]["defaults"]["unit"] = "furlongs"
    path.write_text(json.dumps(model))
    coloured = _on_a_terminal(["validate", "--env", "dev"], project)
    assert "\033[31merror\033[0m    triton-dev / panel" in coloured
    assert "\033[" not in run_gen("validate", "--env", "dev", cwd=project).stdout


def test_a_push_says_each_retry_at_a_terminal_on_its_progress_line(project):
    from tests.grafana_api_emulator import Fault, GrafanaEmulator
    from tests.stack.servers import free_port

    token = "glsa_TerminalTest_0123456789abcdef"
    with GrafanaEmulator(tokens={token: "Editor"}) as grafana:
        grafana.inject(Fault(method="POST", path_prefix="/api/dashboards/db", status=503, times=2))
        said = _on_a_terminal(["push", "--grafana-url", grafana.url, "--env", "dev"], project,
                              {"GRAFANA_TOKEN": token})
        assert sorted(grafana.dashboards) == ["triton-dev"], said
    assert "\r\033[Kdashboard triton-dev (dev): Grafana answered 503: retry 1 of 5 in " in said
    assert "Grafana answered 503: retry 2 of 5 in " in said and token not in said
    # A push that gives up ends with its error on a line of its own, the progress line cleared.
    gone = f"http://127.0.0.1:{free_port()}"
    said = _on_a_terminal(["push", "--grafana-url", gone, "--env", "dev", "--timeout", "1"], project,
                          {"GRAFANA_TOKEN": token})
    assert "retry 5 of 5 in " in said
    assert f"\r\033[Kerror: {gone}: Grafana is unreachable after 6 attempts" in said
