"""Shared test helpers: a throw-away copy of the project and a way to run the real `gen` CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Everything a project needs to render; out/ is copied too so --check has something to compare.
PROJECT_PARTS = ("environments.yaml", "dashboards", "alerts", "out", "docs")


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", ".backup"))
        elif src.is_file():
            shutil.copy2(src, dest / part)
    return dest


def run_gen(*args: str, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The installed CLI as a user runs it: a subprocess, with stdout/stderr captured as text."""
    environ = dict(os.environ)
    # A terminal's size is the caller's to give: pytest-xdist's workers export COLUMNS=80.
    for name in ("TRITON_OBS_SETTINGS", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR"):
        environ.pop(name, None)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gen", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under a directory (hidden ones included) with its bytes."""
    if not directory.exists():
        return {}
    return {
        p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def require_binary(name: str) -> str:
    """A server binary the tests need: skip locally when absent, fail in CI (CI must never skip)."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (apt-get install the Debian package; .ci/run does)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def find_panel(model: dict, title: str) -> dict:
    """A panel of a dashboard JSON by title, inside collapsed rows too."""
    for top in model["panels"]:
        for panel in [top, *top.get("panels", [])]:
            if panel.get("title") == title:
                return panel
    raise KeyError(title)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of this repository's definitions, settings and out/, to change freely."""
    return copy_project(tmp_path / "project")
