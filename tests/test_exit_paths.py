"""Every exit code of every command, through the installed `gen` script, as a user meets it.

The script is the console entry point pip or uv wrote into the environment that runs the tests
(not `python -m gen`, not CliRunner): an environment missing a module the code imports on its way
out fails here. Each case asserts the exit code, the one line gen says last on stderr, and that no
traceback reached either stream. The cases are the codes each command's --help documents.

Exit 3 (a bug) is caused by a sitecustomize module, put on PYTHONPATH, that breaks
gen.settings.load_settings before gen starts; exit 130 by SIGTERM while gen waits on a server that
accepted the connection and never answers (or, for the render commands, on a definition that
waits); exit 141 by closing gen's stdout before it writes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import REPO, copy_project
from tests.grafana_api_emulator import GrafanaEmulator

TOKEN = "glsa_ExitPathsToken_0123456789abcdef"
GEN = Path(sys.executable).with_name("gen")
COMMANDS = ["dashboards", "alerts", "build", "validate", "push", "diff", "doctor", "preview", "alerts backtest",
            "pull"]
CODES = [0, 1, 2, 3, 130, 141]


def documented_codes(command: str) -> list[int]:
    """The exit codes a command's --help lists."""
    text = subprocess.run([str(GEN), *command.split(), "-h"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200"}).stdout
    block = text.split("Exit codes:", 1)[1].split("\n\n", 1)[0]
    return [int(line.split()[0]) for line in block.splitlines() if line.strip()[:1].isdigit()]


@pytest.fixture(scope="module")
def installed_gen():
    if not GEN.is_file():
        message = f"{GEN}: the gen script is not installed beside {sys.executable} (pip install -e .)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return GEN


class SilentServer:
    """A socket that takes connections and never answers: gen waits there until it is stopped."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections: list[socket.socket] = []

    def wait_for_client(self, proc: subprocess.Popen, timeout: float = 60) -> None:
        self.sock.settimeout(0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections.append(conn)
            # Give gen a moment to send its request and block on the answer.
            time.sleep(0.3)
            return
        raise AssertionError(f"gen never connected (exit {proc.poll()})")

    def close(self):
        for conn in self.connections:
            conn.close()
        self.sock.close()


@dataclass
class Case:
    args: list[str]
    message: str  # the last line on stderr starts with this ("" when gen says nothing there)
    env: dict = field(default_factory=dict)
    # How the test waits before SIGTERM (exit 130): on a silent server, or for a line on stderr.
    silent: SilentServer | None = None
    waits_for_line: str = ""


@pytest.fixture
def grafana():
    with GrafanaEmulator(tokens={TOKEN: "Editor"}) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """A real, empty Prometheus: the commands that read one have a server that answers."""
    from tests.stack.servers import prometheus_server

    with prometheus_server(tmp_path_factory.mktemp("prometheus"), targets=[]) as server:
        yield server.url


SAVED_PROMETHEUS = REPO / "tests/doctor/prometheus-monitoring-dev.yaml"
GRAFANA_ENV = {"GRAFANA_TOKEN": TOKEN, "GRAFANA_USER": "", "GRAFANA_PASSWORD": ""}
SLOW_DEFINITION = '''
import sys, time
print("definition is waiting", file=sys.stderr, flush=True)
time.sleep(120)

def dashboard(env):
    raise AssertionError("never reached")
'''


def _run(args: list[str], cwd: Path, env: dict, **kwargs) -> subprocess.Popen:
    environ = {**os.environ, "TRITON_OBS_WORKERS": "1", **env}
    for name in ("TRITON_OBS_SETTINGS", "TRITON_OBS_DEBUG", "PROMETHEUS_URL", "GRAFANA_URL", "TRITON_URL"):
        environ.pop(name, None)
    return subprocess.Popen([str(GEN), *args], cwd=cwd, env=environ, stdin=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _push(project: Path, grafana) -> None:
    proc = _run(["push", "--grafana-url", grafana.url, "--env", "dev"], project, GRAFANA_ENV, stdout=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def _git_init(project: Path) -> None:
    for argv in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base"]):
        subprocess.run(["git", *argv], cwd=project, check=True, capture_output=True)


def _change_refresh(project: Path) -> None:
    triton = project / "dashboards/triton.py"
    triton.write_text(triton.read_text().replace('refresh="30s"', 'refresh="1m"'))


def _break_out(project: Path) -> None:
    """A committed out/ that no longer matches its definitions."""
    path = project / "out/grafana/dev/triton-dev.json"
    path.write_text(path.read_text().replace('"refresh": "30s"', '"refresh": "5m"'))


def _validate_finding(project: Path) -> None:
    """A rendered rule without its severity label: an error-level finding of gen validate."""
    (rules,) = (project / "out/dev").glob("prometheusrule-*.yaml")
    text = rules.read_text()
    assert "severity: warning" in text
    rules.write_text(text.replace("severity: warning", "severity: urgent", 1))


# Valid PromQL that Prometheus refuses when it evaluates it: label_replace with a broken regex.
REFUSED_QUERY = 'label_replace(up, "x", "$1", "job", "(")'


def _refused_panel_query(project: Path) -> None:
    path = project / "out/grafana/dev/triton-dev.json"
    model = json.loads(path.read_text())
    panel = next(p for p in model["panels"] if p.get("targets"))
    panel["targets"][0]["expr"] = REFUSED_QUERY
    path.write_text(json.dumps(model, indent=2))


def _refused_rule_query(project: Path) -> None:
    (rules,) = (project / "out/dev").glob("prometheusrule-*.yaml")
    text = rules.read_text()
    metric = 'kube_pod_container_status_last_terminated_reason{namespace="triton-dev", reason="OOMKilled"}'
    assert metric in text
    rules.write_text(text.replace(metric, f'label_replace({metric}, "x", "$1", "pod", "(")', 1))


def _success(command: str, project: Path, grafana, prometheus: str) -> Case:
    if command in ("dashboards", "alerts", "build"):
        return Case([*command.split()], "")
    if command == "validate":
        return Case(["validate"], "")
    if command == "push":
        return Case(["push", "--grafana-url", grafana.url, "--env", "dev"], "", GRAFANA_ENV)
    if command in ("diff", "pull"):
        _push(project, grafana)
        return Case([command, "--grafana-url", grafana.url, "--env", "dev"], "", GRAFANA_ENV)
    if command == "doctor":  # offline: a saved Prometheus object that selects what gen renders
        return Case(["doctor", "--env", "dev", "--prometheus-cr", str(SAVED_PROMETHEUS)], "")
    if command == "preview":
        # The empty Prometheus has no Triton, and every panel No data is a finding: a dashboard
        # whose one panel reads what any Prometheus answers.
        _answerable_dashboard(project)
        return Case(["preview", "--prometheus-url", prometheus, "--env", "dev", "--range", "5m",
                     "--dashboard", "answerable-dev"], "")
    return Case(["alerts", "backtest", "--prometheus-url", prometheus, "--env", "dev", "--range", "1h"], "")


def _answerable_dashboard(project: Path) -> None:
    model = json.loads((project / "out/grafana/dev/triton-dev.json").read_text())
    panel = next(p for p in model["panels"] if p.get("type") == "timeseries")
    panel = {**panel, "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
             "targets": [{**panel["targets"][0], "expr": "vector(1)"}]}
    model.update(uid="answerable-dev", title="Answerable", panels=[panel])
    (project / "out/grafana/dev/answerable-dev.json").write_text(json.dumps(model, indent=2))


def _findings(command: str, project: Path, grafana, prometheus: str) -> Case:
    if command in ("dashboards", "alerts", "build"):
        _break_out(project) if command != "alerts" else _validate_finding(project)
        return Case([*command.split(), "--check"], "")
    if command == "validate":
        _validate_finding(project)
        return Case(["validate"], "")
    if command == "push":
        _push(project, grafana)
        grafana.edit_in_ui("triton-dev", lambda d: d.update(title="Triton, edited by hand"))
        return Case(["push", "--grafana-url", grafana.url, "--env", "dev"], "", GRAFANA_ENV)
    if command in ("diff", "pull"):  # pull: triton.py's title is a literal, but it only prints
        _push(project, grafana)
        grafana.edit_in_ui("triton-dev", lambda d: d.update(title="Triton, edited by hand"))
        return Case([command, "--grafana-url", grafana.url, "--env", "dev"], "", GRAFANA_ENV)
    if command == "doctor":  # nothing pushed: the environment's dashboards are missing in Grafana
        return Case(["doctor", "--env", "dev", "--grafana-url", grafana.url], "", GRAFANA_ENV)
    if command == "preview":  # a query Prometheus refuses: the panel is an error
        _refused_panel_query(project)
        return Case(["preview", "--prometheus-url", prometheus, "--env", "dev", "--range", "5m"], "")
    _refused_rule_query(project)  # an alert that cannot be replayed
    return Case(["alerts", "backtest", "--prometheus-url", prometheus, "--env", "dev", "--range", "1h"], "")


def _bad_usage(command: str, project: Path, grafana, prometheus: str) -> Case:
    unreachable = "http://127.0.0.1:1"
    if command in ("dashboards", "alerts", "build"):
        return Case([*command.split(), "--env", "staging"], "error: environments.yaml: unknown environment 'staging'")
    if command == "validate":
        return Case(["validate", "--prometheus-url", unreachable], f"error: {unreachable}: Prometheus is unreachable")
    if command == "push":
        return Case(["push", "--grafana-url", grafana.url, "--env", "dev"], "error: no Grafana credentials",
                    {"GRAFANA_TOKEN": "", "GRAFANA_USER": "", "GRAFANA_PASSWORD": ""})
    if command == "diff":
        return Case(["diff", "--against", "no-such-ref"], "error: ")
    if command == "pull":
        return Case(["pull", "--env", "dev"], "error: nothing to pull from: pass --grafana-url URL",
                    {**GRAFANA_ENV, "GRAFANA_URL": ""})
    if command == "doctor":
        return Case(["doctor", "--env", "staging"], "error: environments.yaml: unknown environment 'staging'")
    if command == "preview":
        return Case(["preview", "--prometheus-url", unreachable, "--env", "dev"], f"error: {unreachable}")
    return Case(["alerts", "backtest", "--prometheus-url", unreachable, "--env", "dev"], f"error: {unreachable}")


def _interrupted(command: str, project: Path, grafana, prometheus: str) -> Case:
    message = "interrupted (SIGTERM): nothing half-written was left"
    if command in ("dashboards", "alerts", "build"):
        folder = "alerts" if command == "alerts" else "dashboards"
        (project / folder / "zz_waiting.py").write_text(SLOW_DEFINITION)
        return Case([*command.split()], message, waits_for_line="definition is waiting")
    silent = SilentServer()
    if command in ("push", "diff", "pull"):
        return Case([command, "--grafana-url", silent.url, "--env", "dev"], message, GRAFANA_ENV, silent)
    if command == "doctor":
        return Case(["doctor", "--env", "dev", "--prometheus-url", silent.url, "--timeout", "300"], message,
                    silent=silent)
    return Case([*command.split(), "--prometheus-url", silent.url, "--env", "dev"], message, silent=silent)


SCENARIOS: dict[int, Callable[..., Case]] = {0: _success, 1: _findings, 2: _bad_usage, 130: _interrupted}


def _broken_settings_loader(folder: Path) -> dict:
    (folder / "sitecustomize.py").write_text(
        "import gen.settings\n\n"
        "def load_settings(*args, **kwargs):\n"
        "    raise RuntimeError('injected fault')\n\n"
        "gen.settings.load_settings = load_settings\n")
    return {"PYTHONPATH": str(folder)}


def _assert_clean(stdout: str, stderr: str) -> None:
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr
    assert "Exception ignored" not in stderr, stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_documented_exit_code_is_documented_everywhere(installed_gen, command):
    """README: the exit codes are the same everywhere, and each command's --help lists them."""
    assert documented_codes(command) == CODES


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("command", COMMANDS)
def test_exit_path(installed_gen, tmp_path, grafana, prometheus, monkeypatch, command, code):
    project = copy_project(tmp_path / "project")
    if command in ("diff", "pull") and code in (0, 1, 141):
        _git_init(project)
    if code == 3:
        case = _success(command, project, grafana, prometheus)
        case.env = {**case.env, **_broken_settings_loader(tmp_path)}
        case.message = "error: internal error (RuntimeError: injected fault); this is a bug in gen"
    elif code == 141:
        # The output of a run that has something to say; its reader is gone before it starts.
        case = (_findings if command in ("dashboards", "alerts", "build") else _success)(
            command, project, grafana, prometheus)
    else:
        case = SCENARIOS[code](command, project, grafana, prometheus)

    if code == 141:
        proc = _run(case.args, project, case.env, stdout=subprocess.PIPE)
        proc.stdout.close()
        stdout, stderr = "", proc.stderr.read()
        proc.wait(timeout=120)
    elif code == 130:
        proc = _run(case.args, project, case.env, stdout=subprocess.PIPE)
        try:
            if case.silent:
                case.silent.wait_for_client(proc)
            else:
                line = proc.stderr.readline()
                assert case.waits_for_line in line, line
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            if case.silent:
                case.silent.close()
    else:
        proc = _run(case.args, project, case.env, stdout=subprocess.PIPE)
        stdout, stderr = proc.communicate(timeout=300)

    assert proc.returncode == code, f"{case.args}: {stderr}"
    _assert_clean(stdout, stderr)
    lines = stderr.strip().splitlines()
    if case.message:
        assert lines and lines[-1].startswith(case.message), stderr
    if code in (2, 3, 130):  # an error says one line, and only one
        errors = [line for line in lines if line.startswith(("error:", "interrupted"))]
        assert len(errors) == 1, stderr
    if code == 0 and command in ("validate", "push", "diff", "backtest", "pull"):
        assert "error:" not in stderr


def test_version_names_the_environment(installed_gen):
    """A bug report shows what runs: gen, where from, grafanalib, typer and the Python."""
    import platform
    from importlib.metadata import version

    proc = subprocess.run([str(GEN), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == (f"gen (triton-obs) {version('triton-obs')} from {REPO} (grafanalib {version('grafanalib')}, "
                           f"typer {version('typer')}, Python {platform.python_version()})\n")


def test_debug_is_accepted_after_the_command(installed_gen, tmp_path):
    """People add --debug where the command failed, at the end: it shows the traceback there too."""
    project = copy_project(tmp_path / "project")
    plain = _run(["dashboards", "--env", "dev", "--debug"], project, {}, stdout=subprocess.PIPE)
    out, err = plain.communicate(timeout=120)
    assert plain.returncode == 0, err
    broken = _run(["build", "--env", "dev", "--debug"], project, _broken_settings_loader(tmp_path),
                  stdout=subprocess.PIPE)
    out, err = broken.communicate(timeout=120)
    assert broken.returncode == 3 and "Traceback" in err and "RuntimeError: injected fault" in err
