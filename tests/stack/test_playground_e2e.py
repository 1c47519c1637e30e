"""The local playground (tests/playground.py) as a new user starts it: in the background with no
stdin, every command it suggests works against it, and SIGTERM stops every server it started."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, copy_project, require_binary, run_gen
from tests.stack.servers import http_status

pytestmark = pytest.mark.e2e


def test_the_playground_serves_every_command_it_suggests_and_stops_cleanly(tmp_path):
    require_binary("prometheus")
    workdir = tmp_path / "playground"
    out = open(tmp_path / "playground.out", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "tests.playground", "--dir", str(workdir), "--grafana-version", "12"],
                            cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)
    try:
        deadline = time.monotonic() + 240
        text = ""
        while "try, from the project:" not in text:
            assert proc.poll() is None, (tmp_path / "playground.out").read_text()
            assert time.monotonic() < deadline, text
            time.sleep(0.5)
            text = (tmp_path / "playground.out").read_text()
        time.sleep(1)  # the command lines follow the heading in the same write
        text = (tmp_path / "playground.out").read_text()
        commands = [line.strip() for line in text.splitlines() if line.startswith("  gen ")]
        assert [c.split()[1] for c in commands] == ["push", "diff", "doctor", "validate", "preview"], text
        urls = sorted(set(re.findall(r"http://127\.0\.0\.1:\d+", text)))
        assert len(urls) >= 4 and all(http_status(u + "/") is not None for u in urls), urls
        # The token is in a file only readable by its owner, never in what was printed.
        token = (workdir / "grafana-token").read_text()
        assert token and token not in text
        assert (workdir / "grafana-token").stat().st_mode & 0o077 == 0
        project = copy_project(tmp_path / "project")
        environ = {"GRAFANA_TOKEN": "", "GRAFANA_USER": "", "GRAFANA_PASSWORD": ""}
        time.sleep(5)  # a few scrapes: rates need two samples
        for command in commands:
            done = run_gen(*shlex.split(command)[1:], cwd=project, env=environ)
            if (command.startswith("gen preview") and done.returncode != 0 and "chromium" in done.stderr.lower()
                    and os.environ.get("CI") != "true"):  # a workstation without Chromium
                continue
            assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
            assert token not in done.stdout + done.stderr
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(60)
        out.close()
    assert code == 0, (tmp_path / "playground.out").read_text()
    assert "playground stopped" in (tmp_path / "playground.out").read_text()
    # Every server it started is gone: nothing answers on the ports it printed.
    assert all(http_status(u + "/", timeout=1) is None for u in urls), urls
