"""`gen dashboards` on a copy of the project: determinism, atomic writes, pruning, --check,
and the errors a broken definition gets."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from gen import outdir
from gen.render.generate import generate
from gen.settings import load_settings
from tests.conftest import run_gen, snapshot

BROKEN_PANEL = '''
from dashboards._panels import Row, layout, timeseries, variables
from grafanalib.core import Dashboard


def dashboard(env):
    empty = timeseries("Lonely panel", "A panel someone forgot to give a query.", [], "short")
    return Dashboard(title=f"Broken ({env.name})", uid=f"broken-{env.name}", templating=variables(env),
                     panels=layout([Row("Row", [empty])])).auto_panel_ids()
'''


def test_two_runs_give_identical_bytes(project):
    first = run_gen("dashboards", cwd=project)
    assert first.returncode == 0, first.stderr
    files = snapshot(project / "out")
    second = run_gen("dashboards", cwd=project)
    assert second.returncode == 0
    assert snapshot(project / "out") == files
    # Nothing changed: say so, and where the files are (a fresh clone's first run looks like this).
    assert "out is up to date: " in second.stdout
    assert "import by hand, or `gen push`): out/grafana/dev/, out/grafana/prod/" in second.stdout


def test_fresh_render_matches_committed_out(project, tmp_path):
    result = run_gen("dashboards", "--out", str(tmp_path / "fresh"), cwd=project)
    assert result.returncode == 0, result.stderr
    fresh = snapshot(tmp_path / "fresh")
    kustomizations = {k: fresh.pop(k) for k in list(fresh) if k.endswith("kustomization.yaml")}
    committed = {k: v for k, v in snapshot(project / "out").items() if k in fresh}
    assert fresh == committed
    assert sorted(fresh) == [
        "dev/dashboard-triton.yaml",
        "grafana/dev/triton-dev.json",
        "grafana/prod/triton-prod.json",
        "prod/dashboard-triton.yaml",
    ]
    # Into an empty out/, `gen dashboards` alone lists only what exists: the dashboards.
    assert yaml.safe_load(kustomizations["dev/kustomization.yaml"])["resources"] == ["dashboard-triton.yaml"]


def test_configmap_for_the_sidecar(project):
    configmap = yaml.safe_load((project / "out/prod/dashboard-triton.yaml").read_text())
    assert configmap["kind"] == "ConfigMap" and configmap["apiVersion"] == "v1"
    meta = configmap["metadata"]
    assert meta["labels"]["grafana_dashboard"] == "1"
    assert meta["annotations"] == {"grafana_folder": "Triton (prod)"}
    assert meta["namespace"] == "monitoring"
    assert meta["name"] == "grafana-dashboard-triton-prod"
    assert list(configmap["data"]) == ["triton-prod.json"]
    assert configmap["data"]["triton-prod.json"] == (project / "out/grafana/prod/triton-prod.json").read_text()


def test_check_lists_differences_and_writes_nothing(project):
    (project / "out/dev/dashboard-triton.yaml").write_text("edited by hand\n")
    (project / "out/grafana/prod/triton-prod.json").unlink()
    (project / "out/grafana/dev/old-dashboard.json").write_text("{}\n")
    (project / "out/dev/notes.txt").write_text("not ours\n")
    before = snapshot(project / "out")

    result = run_gen("dashboards", "--check", cwd=project)

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "differs: out/dev/dashboard-triton.yaml",
        "missing: out/grafana/prod/triton-prod.json",
        "stale: out/grafana/dev/old-dashboard.json",
    ]
    assert "run `gen dashboards`" in result.stderr
    assert snapshot(project / "out") == before


def test_check_passes_on_fresh_output(project):
    run_gen("dashboards", cwd=project)
    result = run_gen("dashboards", "--check", cwd=project)
    assert result.returncode == 0
    assert "up to date" in result.stdout


def test_prunes_files_no_definition_produces(project):
    (project / "out/grafana/dev/renamed-dashboard.json").write_text("{}\n")
    (project / "out/dev/dashboard-removed.yaml").write_text("kind: ConfigMap\n")
    (project / "out/dev/notes.txt").write_text("not ours\n")
    (project / "out/.backup").mkdir(exist_ok=True)
    (project / "out/.backup/keep.json").write_text("{}\n")

    result = run_gen("dashboards", cwd=project)

    assert result.returncode == 0, result.stderr
    assert "removed out/grafana/dev/renamed-dashboard.json" in result.stdout
    assert not (project / "out/grafana/dev/renamed-dashboard.json").exists()
    assert not (project / "out/dev/dashboard-removed.yaml").exists()
    assert (project / "out/dev/notes.txt").exists()  # not a file the tool owns
    assert (project / "out/.backup/keep.json").exists()


def test_removed_environment_is_pruned_and_env_flag_limits_scope(project):
    settings = project / "environments.yaml"
    document = yaml.safe_load(settings.read_text())
    document["environments"]["staging"] = {
        "namespace": "triton-staging",
        "prometheus_release": "monitoring-staging",
        "grafana": {"folder_uid": "triton-staging", "folder_title": "Triton (staging)"},
    }
    settings.write_text(yaml.safe_dump(document))
    assert run_gen("dashboards", "--env", "staging", cwd=project).returncode == 0
    assert (project / "out/grafana/staging/triton-staging.json").exists()

    # --env dev neither touches nor prunes another environment's files
    (project / "out/grafana/prod/stale.json").write_text("{}\n")
    result = run_gen("dashboards", "--env", "dev", cwd=project)
    assert result.returncode == 0
    assert (project / "out/grafana/prod/stale.json").exists()

    del document["environments"]["staging"]
    settings.write_text(yaml.safe_dump(document))
    result = run_gen("dashboards", cwd=project)
    assert result.returncode == 0
    assert not (project / "out/grafana/staging").exists()
    assert not (project / "out/staging/dashboard-triton.yaml").exists()
    assert not (project / "out/grafana/prod/stale.json").exists()


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def dashboard(env:\n    pass\n", r"^error: dashboards/broken\.py:1: syntax error: "),
        (
            "def dashboard(env):\n    return {}['panels']\n",
            r"^error: dashboards/broken\.py: dashboard\(\) for environment 'dev' failed \(line 2\): KeyError: 'panels'$",
        ),
        ("import no_such_module\n", r"^error: dashboards/broken\.py: failed to import \(line 1\): ModuleNotFoundError"),
        ("DASHBOARD = 1\n", r"^error: dashboards/broken\.py: no function 'dashboard\(env\)' defined$"),
        (
            BROKEN_PANEL,
            r"^error: dashboards/broken\.py: dashboard\(\) for environment 'dev': panel 'Lonely panel': "
            r"targets: the panel has no query$",
        ),
        (
            "from grafanalib.core import Dashboard\n"
            "def dashboard(env):\n    return Dashboard(title='Long', uid='x' * 41)\n",
            r"^error: dashboards/broken\.py: dashboard\(\) for environment 'dev': uid: 'x{41}' has 41 characters, "
            r"Grafana allows 40$",
        ),
        (
            "from dashboards.triton import dashboard as triton\n"
            "import attr\n"
            "def dashboard(env):\n    return attr.evolve(triton(env), title='Copy')\n",
            r"^error: dashboards/(broken|triton)\.py: dashboard\(\) for environment 'dev': uid: 'triton-dev' is "
            r"also used by dashboards/(triton|broken)\.py for environment 'dev'$",
        ),
    ],
    ids=["syntax", "exception", "import", "no-function", "no-query", "long-uid", "duplicate-uid"],
)
def test_broken_definition_is_named_and_nothing_changes(project, source, expected):
    (project / "dashboards/broken.py").write_text(source)
    (project / "out/dev/dashboard-triton.yaml").unlink()  # out/ is stale; a failed run still must not write
    before = snapshot(project / "out")

    result = run_gen("dashboards", cwd=project)

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    import re

    assert re.search(expected, lines[0]), lines[0]
    assert "Traceback" not in result.stderr
    assert snapshot(project / "out") == before


def test_crash_while_writing_leaves_no_half_written_file(project, monkeypatch):
    """A failure in the middle of a run leaves every file either old or new, and no temp files."""
    settings = load_settings(project / "environments.yaml")
    for path in (project / "out/grafana").rglob("*.json"):
        path.write_text('{"old": true}\n')
    before = snapshot(project / "out")

    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(outdir.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        generate(settings, ["dashboards"], None, project / "out", check=False)

    after = snapshot(project / "out")
    assert sorted(after) == sorted(before)  # no new file, no temporary file left behind
    changed = [rel for rel in after if after[rel] != before[rel]]
    assert len(changed) == 1  # the first replace happened, atomically; the rest is untouched
    for rel, data in after.items():
        if rel.endswith(".json"):
            assert data in (before[rel], (project / "out" / rel).read_bytes())
            json.loads(data)  # whole, parseable: never half a file


def test_write_atomic_replaces_whole_file(tmp_path):
    target = tmp_path / "a" / "b.json"
    outdir.write_atomic(target, b"one")
    outdir.write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]


def test_failure_while_staging_changes_nothing(project, monkeypatch):
    """Files are staged first and renamed only once all are written: a write that fails midway
    (disk full) leaves out/ exactly as it was."""
    settings = load_settings(project / "environments.yaml")
    for path in (project / "out/grafana").rglob("*.json"):
        path.write_text('{"old": true}\n')
    before = snapshot(project / "out")
    real_stage = outdir._stage
    calls = []

    def failing_stage(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real_stage(path, data)

    monkeypatch.setattr(outdir, "_stage", failing_stage)
    with pytest.raises(OSError, match="No space left"):
        generate(settings, ["dashboards"], None, project / "out", check=False)
    assert snapshot(project / "out") == before
