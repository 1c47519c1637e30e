"""Secrets never leave the tool, and a misbehaving server is one line with exit 2, never a
traceback. Every assertion about a secret greps all of the output, JSON included."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import REPO, run_gen, snapshot
from tests.grafana_api_emulator import Fault, GrafanaEmulator

TOKEN = "glsa_HostileTestToken_0123456789abcdef"
PASSWORD = "pa55-w0rd-in-url"
NO_CREDENTIALS = {"GRAFANA_TOKEN": "", "GRAFANA_USER": "", "GRAFANA_PASSWORD": "", "PROMETHEUS_TOKEN": "",
                  "PROMETHEUS_PASSWORD": ""}

# A handler answers (status, headers, body) for (method, path, request headers).
Handler = Callable[[str, str, dict], tuple[int, dict, bytes]]


class HostileServer:
    """A server on 127.0.0.1 that answers whatever the test tells it to, and counts requests."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.requests: list[tuple[str, str, dict]] = []
        outer = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                headers = dict(self.headers.items())
                outer.requests.append((self.command, self.path, headers))
                status, extra, body = outer.handler(self.command, self.path, headers)
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **extra}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def json_answer(status: int, document) -> Handler:
    return lambda method, path, headers: (status, {}, json.dumps(document).encode())


def echo(status: int) -> Handler:
    """A server that puts the request's headers, Authorization included, into its error body."""
    def handler(method, path, headers):
        text = f"bad request {method} {path}; headers: {headers}"
        return status, {}, json.dumps({"message": text, "error": text, "status": "error"}).encode()
    return handler


def _all_output(result) -> str:
    return result.stdout + result.stderr


def _one_line_error(result, code: int = 2) -> str:
    assert result.returncode == code, _all_output(result)
    assert "Traceback" not in _all_output(result)
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _push(url: str, *args: str, env: dict | None = None, cwd: Path = REPO):
    args = args if "--env" in args else ("--env", "all", *args)  # a push names what it writes
    return run_gen("push", "--grafana-url", url, "--timeout", "2", *args, cwd=cwd, env={**NO_CREDENTIALS, **(env or {})})


def _validate(url: str, *args: str, env: dict | None = None, cwd: Path = REPO):
    return run_gen("validate", "--prometheus-url", url, "--env", "dev", "--timeout", "2", *args, cwd=cwd,
                   env={**NO_CREDENTIALS, **(env or {})})


# -- token files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [f"{TOKEN}\nsecond-line-{TOKEN}\n", f"{TOKEN} {TOKEN}\n", "tök€n-" + TOKEN])
def test_a_bad_token_file_is_refused_before_any_request(tmp_path, content):
    token_file = tmp_path / "token"
    token_file.write_text(content, encoding="utf-8")
    with HostileServer(echo(400)) as server:
        for result in (_push(server.url, "--token-file", str(token_file)),
                       _validate(server.url, "--bearer-token-file", str(token_file))):
            line = _one_line_error(result)
            assert line.startswith(f"error: {token_file}: the token file holds"), line
            assert TOKEN not in _all_output(result) and "tök" not in _all_output(result)
        assert server.requests == []


@pytest.mark.parametrize("variable, command", [("GRAFANA_TOKEN", _push), ("PROMETHEUS_TOKEN", _validate)])
def test_a_token_with_a_non_latin1_character_is_one_line(variable, command):
    secret = "glsa_Ωmega_" + TOKEN
    with HostileServer(echo(400)) as server:
        result = command(server.url, env={variable: secret})
        line = _one_line_error(result)
        assert line.startswith(f"error: {variable} holds a character that is not printable ASCII"), line
        assert "Ωmega" not in _all_output(result) and TOKEN not in _all_output(result)
        assert server.requests == []


# -- credentials in URLs -------------------------------------------------------------------------

@pytest.mark.parametrize("output_format", ["table", "json"])
def test_credentials_in_a_grafana_url_are_never_shown(project, output_format):
    with GrafanaEmulator(users={"admin": (PASSWORD, "Admin")}) as grafana:
        url = grafana.url.replace("http://", f"http://admin:{PASSWORD}@")
        result = _push(url, "--format", output_format, cwd=project)
        assert result.returncode == 0, _all_output(result)
        assert PASSWORD not in _all_output(result)
        if output_format == "json":
            assert json.loads(result.stdout)["grafana_url"] == grafana.url
        # Failing requests too: the URL appears in errors.
        grafana.inject(Fault(status=500, times=100))
        result = _push(url, "--format", output_format, "--force", "--env", "dev", cwd=project)
        assert result.returncode in (1, 2) and PASSWORD not in _all_output(result)
    with HostileServer(echo(500)) as server:
        result = _push(server.url.replace("http://", f"http://admin:{PASSWORD}@"), "--format", output_format,
                       "--env", "dev", cwd=project)
        assert result.returncode in (1, 2) and PASSWORD not in _all_output(result), _all_output(result)
    assert all(PASSWORD.encode() not in data for data in snapshot(project).values())


@pytest.mark.parametrize("output_format", ["table", "json"])
def test_credentials_in_a_prometheus_url_are_never_shown(output_format):
    with HostileServer(echo(500)) as server:
        url = server.url.replace("http://", f"http://reader:{PASSWORD}@")
        result = _validate(url, "--format", output_format)
        _one_line_error(result)
        assert PASSWORD not in _all_output(result), _all_output(result)
        # They are used, as basic auth.
        assert server.requests[0][2]["Authorization"].startswith("Basic ")


def test_a_token_wins_over_credentials_in_the_url_with_a_warning(project):
    with GrafanaEmulator(tokens={TOKEN: "Editor"}, users={"admin": (PASSWORD, "Admin")}) as grafana:
        url = grafana.url.replace("http://", f"http://admin:{PASSWORD}@")
        result = _push(url, "--env", "dev", env={"GRAFANA_TOKEN": TOKEN}, cwd=project)
        assert result.returncode == 0, _all_output(result)
        assert "warning: using GRAFANA_TOKEN; ignoring credentials in --grafana-url" in result.stderr
        assert {r.headers["Authorization"] for r in grafana.requests} == {f"Bearer {TOKEN}"}
        assert PASSWORD not in _all_output(result) and TOKEN not in _all_output(result)


# -- servers that echo our secret ----------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 404, 409, 500])
def test_a_grafana_that_echoes_the_authorization_header_is_scrubbed(project, status):
    with HostileServer(echo(status)) as server:
        for output_format in ("table", "json"):
            result = _push(server.url, "--format", output_format, "--env", "dev", env={"GRAFANA_TOKEN": TOKEN},
                           cwd=project)
            assert result.returncode in (1, 2), _all_output(result)
            assert "Traceback" not in _all_output(result)
            assert TOKEN not in _all_output(result), _all_output(result)
        assert any(TOKEN in h.get("Authorization", "") for _, _, h in server.requests)


def test_a_prometheus_that_echoes_the_authorization_header_is_scrubbed():
    with HostileServer(echo(400)) as server:
        for output_format in ("table", "json"):
            result = _validate(server.url, "--format", output_format, env={"PROMETHEUS_TOKEN": TOKEN})
            _one_line_error(result)
            assert TOKEN not in _all_output(result), _all_output(result)


# -- misbehaving Prometheus ----------------------------------------------------------------------

@pytest.mark.parametrize("handler, expected", [
    (json_answer(500, {"status": "error", "error": "internal"}), "the test query failed with HTTP 500"),
    (lambda m, p, h: (404, {"Content-Type": "text/plain"}, b"404 page not found"), "is a path prefix missing"),
    (json_answer(200, []), "not a Prometheus API"),
    (json_answer(200, {"status": "success", "data": [1, 2]}), "not a Prometheus API"),
    (json_answer(200, {"status": "success", "data": {"resultType": "vector", "result": "x"}}), "not a Prometheus API"),
    (lambda m, p, h: (200, {"Content-Type": "text/html"}, b"<html>login</html>"), "not a Prometheus API"),
])
def test_a_misbehaving_prometheus_is_one_line_and_exit_2(handler, expected):
    with HostileServer(handler) as server:
        for output_format in ("table", "json"):
            line = _one_line_error(_validate(server.url, "--format", output_format))
            assert expected in line, line


def test_answers_of_the_wrong_shape_after_a_good_probe_are_exit_2():
    def handler(method, path, headers):
        if "query=1" in path or path.endswith("/api/v1/query") and method == "POST":
            return 200, {}, json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [0, "1"]}}).encode()
        return 200, {}, json.dumps({"status": "success", "data": {"resultType": "vector", "result": [{"nope": 1}]}}).encode()

    with HostileServer(handler) as server:
        line = _one_line_error(_validate(server.url))
        assert "not a Prometheus API" in line, line


@pytest.mark.parametrize("url", ["localhost:9090", "127.0.0.1:9090", "ftp://host/", "http://"])
def test_a_url_without_a_scheme_or_host_is_a_usage_error_at_once(url):
    for result in (_push(url, env={"GRAFANA_TOKEN": TOKEN}), _validate(url)):
        line = _one_line_error(result)
        assert "must start with http:// or https://" in line or "has no host" in line, line


def test_a_broken_manifest_in_out_is_one_line(project):
    (project / "out/dev/prometheusrule-triton.yaml").write_text("groups: [unclosed\n  - x: {")
    line = _one_line_error(run_gen("validate", cwd=project))
    assert line.startswith("error: out/dev/prometheusrule-triton.yaml: not YAML"), line
    (project / "out/dev/prometheusrule-triton.yaml").write_text("- just\n- a list\n")
    line = _one_line_error(run_gen("validate", cwd=project))
    assert "out/dev/prometheusrule-triton.yaml" in line, line


def test_a_long_retry_after_says_it_is_waiting(project):
    with GrafanaEmulator(tokens={TOKEN: "Editor"}) as grafana:
        grafana.inject(Fault(method="GET", path_prefix="/api/folders", status=429, retry_after="3", times=1))
        result = _push(grafana.url, "--env", "dev", env={"GRAFANA_TOKEN": TOKEN}, cwd=project)
        assert result.returncode == 0, _all_output(result)
        assert "Grafana answered 429: waiting 3s as its Retry-After asks" in result.stderr


# -- the command boundary ------------------------------------------------------------------------

def test_an_unexpected_error_is_exit_3_with_one_line_and_a_traceback_only_with_debug(monkeypatch):
    from typer.testing import CliRunner

    import gen.settings
    from gen.cli import app

    def broken(*args, **kwargs):
        raise RuntimeError(f"boom near {TOKEN}")

    from gen.secrets import register

    register(TOKEN)
    monkeypatch.setattr(gen.settings, "load_settings", broken)
    monkeypatch.setenv("TRITON_OBS_DEBUG", "")  # restored after the test: --debug sets it
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click 8.2 keeps stderr apart by itself
        runner = CliRunner()
    result = runner.invoke(app, ["build", "--check", "--settings", str(REPO / "environments.yaml")])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: internal error (RuntimeError: boom near ***)")
    assert "rerun with `gen --debug ...`" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = runner.invoke(app, ["--debug", "build", "--check", "--settings", str(REPO / "environments.yaml")])
    assert result.exit_code == 3
    assert "Traceback" in result.stderr and TOKEN not in result.stderr
