"""`gen dashboards` on a copy of the project: determinism, atomic writes, pruning, --check,
and the errors a broken definition gets."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gen import outdir
from gen.errors import Interrupted, UserError
from gen.render.generate import generate
from gen.settings import load_settings
from tests.conftest import REPO, run_gen, snapshot

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


@pytest.mark.parametrize("command", ["dashboards", "build"])
def test_a_reader_that_goes_away_is_not_a_crash(project, tmp_path, command):
    """`gen dashboards | head`: the reader closes the pipe before gen has said everything. The
    files are written; gen stops talking and exits 141 (as a C tool killed by SIGPIPE), without
    calling itself buggy."""
    proc = subprocess.Popen([sys.executable, "-m", "gen", command, "--out", str(tmp_path / "out")], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, stderr
    assert stderr == ""
    assert (tmp_path / "out/grafana/dev").is_dir()


def test_where_the_files_are_is_one_short_line_for_a_fleet():
    """200 environments: the first directories and a count, not 200 paths on one line."""
    from gen.commands.render import _where

    fleet = [outdir.Artifact(path, b"") for i in range(FLEET) for path in (
        f"grafana/cluster-{i:03d}/triton-cluster-{i:03d}.json", f"cluster-{i:03d}/dashboard-triton.yaml")]
    assert _where(fleet, "out") == [
        "dashboard JSON (import by hand, or `gen push`): out/grafana/cluster-000/, out/grafana/cluster-001/, "
        "out/grafana/cluster-002/ and 197 more",
        "manifests (`kubectl apply -k` or Argo CD): out/cluster-000/, out/cluster-001/, out/cluster-002/ and 197 more",
    ]
    # A few environments are all listed.
    few = [a for a in fleet if "cluster-00" in a.path and a.path.split("cluster-00")[1][0] in "01234"]
    assert _where(few, "out")[1] == ("manifests (`kubectl apply -k` or Argo CD): "
                                     + ", ".join(f"out/cluster-00{i}/" for i in range(5)))


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


def test_failure_at_the_swap_leaves_out_as_it_was(project, monkeypatch):
    """The commit is one step: a failure before it leaves every file old and nothing temporary."""
    settings = load_settings(project / "environments.yaml")
    for path in (project / "out/grafana").rglob("*.json"):
        path.write_text('{"old": true}\n')
    before = snapshot(project / "out")
    beside = sorted(os.listdir(project))

    def failing_exchange(a, b):
        raise OSError(5, "Input/output error", str(b))

    monkeypatch.setattr(outdir, "_exchange", failing_exchange)
    with pytest.raises(UserError, match=r"/out: cannot write: Input/output error$"):
        generate(settings, ["dashboards"], None, project / "out", check=False)

    assert snapshot(project / "out") == before
    assert sorted(os.listdir(project)) == beside


def test_a_signal_just_after_the_staging_tree_is_made_leaves_nothing(project, monkeypatch):
    """SIGTERM the moment the staging tree exists (what test_a_killed_build_leaves_out_old_or_new
    hits now and then on a busy machine): the cleanup is armed before the signal lands."""
    from gen.errors import on_termination

    settings = load_settings(project / "environments.yaml")
    (project / "out/grafana/dev/triton-dev.json").write_text("{}\n")  # something to write
    before = snapshot(project / "out")
    beside = sorted(os.listdir(project))
    make_tree = outdir.tempfile.mkdtemp

    def make_tree_then_signal(*args, **kwargs):
        path = make_tree(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return path

    monkeypatch.setattr(outdir.tempfile, "mkdtemp", make_tree_then_signal)
    previous = signal.signal(signal.SIGTERM, on_termination)
    try:
        with pytest.raises(Interrupted):
            generate(settings, ["dashboards"], None, project / "out", check=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert sorted(os.listdir(project)) == beside
    assert snapshot(project / "out") == before


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_another_thread_receives_still_waits_for_the_deferred_block(signum):
    """A process with other threads (a pytest-xdist worker, a program that embeds gen) may have
    a process-directed signal delivered to any of them; Python then runs the handler in the main
    thread whatever the main thread's mask says. The block must still finish before it acts."""
    import threading

    from gen.errors import on_termination

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    # Python's own handlers, whatever the process running the test set (a test worker ignores Ctrl-C).
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, on_termination),
                signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler)}
    steps = []
    try:
        with pytest.raises((Interrupted, KeyboardInterrupt)):
            with outdir._signals_deferred():
                signal.pthread_kill(other.ident, signum)  # lands on the thread that does not block it
                for step in range(2000):  # loops and calls: where Python runs a pending handler
                    steps.append(step)
                time.sleep(0.05)
                steps.append("done")
        assert steps[-1] == "done"
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        stop.set()
        other.join()


def test_every_file_and_directory_is_synced_before_the_swap(project, monkeypatch):
    """Only what was written is synced (not the machine), and all of it before out/ changes."""
    synced: list[str] = []
    swapped: list[list[str]] = []
    fsync, swap = os.fsync, outdir._swap

    def recording_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return fsync(fd)

    def recording_swap(out_dir, stage):
        swapped.append(list(synced))
        return swap(out_dir, stage)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(outdir, "_swap", recording_swap)
    monkeypatch.setattr(os, "sync", lambda: pytest.fail("os.sync() flushes the whole machine"))
    _fleet_settings(project, 0.05)
    (project / "out/grafana/dev/triton-dev.json").write_text("{}\n")

    generate(load_settings(project / "environments.yaml"), ["dashboards"], None, project / "out", check=False)

    [before_swap] = swapped
    stage = os.path.commonpath(before_swap)
    assert os.path.basename(stage).startswith(".out.gen-new-")
    written = {os.path.relpath(path, stage) for path in before_swap}
    out = project / "out"
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and "cluster-" in p.as_posix()}
    assert len(files) == 3 * FLEET and files <= written  # each new dashboard, ConfigMap, kustomization
    dirs = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_dir() and "cluster-" in p.name}
    assert len(dirs) == 2 * FLEET and dirs <= written  # each new directory (its entries)
    assert "." in written and "grafana" in written
    assert len(before_swap) == len(written)  # each once
    assert synced[len(before_swap):] == [str(project)]  # then the directory holding out/, for the swap


def test_write_atomic_replaces_whole_file(tmp_path):
    target = tmp_path / "a" / "b.json"
    outdir.write_atomic(target, b"one")
    outdir.write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]


def test_disk_full_while_staging_changes_nothing(project, monkeypatch):
    """Files are staged first and swapped in only once all are written: a write that fails midway
    (disk full) is one line naming the file, and leaves out/ and the directory beside it as they were."""
    settings = load_settings(project / "environments.yaml")
    for path in (project / "out/grafana").rglob("*.json"):
        path.write_text('{"old": true}\n')
    before = snapshot(project / "out")
    beside = sorted(os.listdir(project))
    real_write = os.write
    calls = []

    def failing_write(fd, data):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(outdir.os, "write", failing_write)
    with pytest.raises(UserError) as raised:
        generate(settings, ["dashboards"], None, project / "out", check=False)
    assert re.fullmatch(r".*/out/\S+: cannot write: No space left on device; nothing was changed in out/",
                        raised.value.message), raised.value.message
    assert snapshot(project / "out") == before
    assert sorted(os.listdir(project)) == beside


# --- leftovers of killed runs, unwritable out/ -----------------------------------------------------

LEFTOVER_FILE = "grafana/dev/.triton-dev.json.ab12cd_9.tmp"  # what versions before the swap left
LEFTOVER_TREE = ".out.gen-new-x1y2z3w4"  # a staging tree beside out/


def test_leftovers_are_stale_for_check_and_removed_by_the_next_run(project):
    assert run_gen("build", cwd=project).returncode == 0
    (project / "out" / LEFTOVER_FILE).write_bytes(b"x" * 1000)
    (project / LEFTOVER_TREE / "grafana/dev").mkdir(parents=True)
    (project / LEFTOVER_TREE / "grafana/dev/triton-dev.json").write_text("{}\n")
    (project / "out/.backup/prod").mkdir(parents=True)
    (project / "out/.backup/prod/triton-prod.json").write_text('{"saved": true}\n')
    (project / "out/.backup/prod/.triton-prod.json.k3j4h5g6.tmp").write_text("{")  # push was killed

    check = run_gen("build", "--check", cwd=project)
    assert check.returncode == 1
    assert check.stdout.splitlines() == [
        f"stale: out/../{LEFTOVER_TREE}",
        "stale: out/.backup/prod/.triton-prod.json.k3j4h5g6.tmp",
        f"stale: out/{LEFTOVER_FILE}",
    ]

    result = run_gen("build", cwd=project)
    assert result.returncode == 0, result.stderr
    assert f"removed out/{LEFTOVER_FILE}" in result.stdout
    assert not (project / LEFTOVER_TREE).exists()
    assert not (project / "out" / LEFTOVER_FILE).exists()
    assert not (project / "out/.backup/prod/.triton-prod.json.k3j4h5g6.tmp").exists()
    assert (project / "out/.backup/prod/triton-prod.json").read_text() == '{"saved": true}\n'
    assert run_gen("build", "--check", cwd=project).returncode == 0


def test_leftovers_are_ignored_by_git(tmp_path):
    git = shutil.which("git")
    if not git:
        pytest.skip("git is not installed")
    subprocess.run([git, "init", "-q", str(tmp_path)], check=True)
    shutil.copy(REPO / ".gitignore", tmp_path / ".gitignore")
    for rel in (f"out/{LEFTOVER_FILE}", f"{LEFTOVER_TREE}/grafana/dev/triton-dev.json",
                ".out.gen-old-a1b2c3d4/dev/kustomization.yaml", "out/dev/kustomization.yaml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n")
    status = subprocess.run([git, "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert sorted(status) == ["?? .gitignore", "?? out/dev/kustomization.yaml"]


def test_a_crash_between_the_two_renames_is_undone_by_the_next_run(project, monkeypatch):
    """Where the filesystem cannot exchange two directories, out/ is renamed aside, then the new
    tree renamed in. Killed in between, out/ is missing: the next run puts the old tree back."""
    settings = load_settings(project / "environments.yaml")
    before = snapshot(project / "out")
    (project / "out/grafana/dev/triton-dev.json").write_text('{"old": true}\n')
    monkeypatch.setattr(outdir, "_exchange", lambda a, b: False)
    real_rename = os.rename
    calls = []

    def rename_then_killed(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise Interrupted("SIGKILL, as far as the tree on disk knows")
        real_rename(src, dst)

    monkeypatch.setattr(outdir.os, "rename", rename_then_killed)
    with pytest.raises(Interrupted):
        generate(settings, ["dashboards"], None, project / "out", check=False)
    monkeypatch.setattr(outdir.os, "rename", real_rename)
    assert (project / "out/grafana/dev/triton-dev.json").read_text() == '{"old": true}\n'  # rolled back
    # What a SIGKILL at that moment leaves: no out/, the old tree aside, the new one staged.
    real_rename(project / "out", project / ".out.gen-old-a1b2c3d4")
    (project / ".out.gen-new-e5f6g7h8/grafana").mkdir(parents=True)
    assert not (project / "out").exists()

    generate(settings, ["dashboards"], None, project / "out", check=False)

    assert snapshot(project / "out") == before
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".out")) == []


def test_out_naming_a_file_is_one_line(project):
    (project / "afile").write_text("not a directory\n")
    for args in (["--out", "afile"], ["--out", "afile/sub"], ["--out", "afile", "--check"]):
        result = run_gen("build", *args, cwd=project)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
        assert "afile: not a directory" in result.stderr
    assert (project / "afile").read_text() == "not a directory\n"
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".")) == []


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real filesystem of our own (mounted as root) to fill or make read-only."""
    mount = shutil.which("mount")
    if os.geteuid() != 0 or not mount:
        pytest.skip("mounting a tmpfs needs root")
    point = tmp_path / "fs"
    point.mkdir()

    def mounted(options: str) -> Path:
        subprocess.run([mount, "-t", "tmpfs", "-o", options, "tmpfs", str(point)], check=True)
        return point

    try:
        yield mounted
    finally:
        subprocess.run(["umount", str(point)], check=False)


def _one_line_exit_2(result, *words):
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_a_full_disk_is_one_line_and_leaves_out_as_it_was(project, small_tmpfs):
    # Room for out/ once and a half (it grows with the dashboards), not for a second tree.
    out_bytes = sum(p.stat().st_size for p in (project / "out").rglob("*") if p.is_file())
    fs = small_tmpfs(f"size={max(600, out_bytes * 3 // 2 // 1024)}k")
    assert run_gen("build", "--out", str(fs / "out"), cwd=project).returncode == 0
    before = snapshot(fs / "out")
    (fs / "filler").write_bytes(b"\0" * (fs_free(fs) - 32 * 1024))  # too little room for a new tree
    _change_every_dashboard(project)

    result = run_gen("build", "--out", str(fs / "out"), cwd=project)

    _one_line_exit_2(result, "cannot write: No space left on device")
    assert snapshot(fs / "out") == before
    assert sorted(os.listdir(fs)) == ["filler", "out"]  # no staging tree, no temporary file


def test_out_in_a_fresh_directory_on_a_full_disk(project, small_tmpfs):
    fs = small_tmpfs("size=64k")
    result = run_gen("build", "--out", str(fs / "out"), cwd=project)
    _one_line_exit_2(result, "cannot write: No space left on device")
    assert os.listdir(fs) == []


def test_a_read_only_out_is_one_line(project, small_tmpfs):
    """out/ is a read-only mount point: it cannot be swapped, so gen writes file by file, and
    the first file fails. out/ as it was, nothing temporary."""
    fs = small_tmpfs("size=4m")
    assert run_gen("build", "--out", str(fs), cwd=project).returncode == 0
    before = snapshot(fs)
    subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
    _change_every_dashboard(project)

    result = run_gen("build", "--out", str(fs), cwd=project)

    _one_line_exit_2(result, "cannot write: ")
    assert "Read-only file system" in result.stderr or "read-only" in result.stderr
    assert snapshot(fs) == before
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".")) == []


def test_a_mounted_out_is_written_file_by_file(project, small_tmpfs):
    fs = small_tmpfs("size=4m")
    assert run_gen("build", "--out", str(fs), cwd=project).returncode == 0
    (fs / ".backup").mkdir()
    (fs / ".backup/keep.json").write_text("{}\n")
    _change_every_dashboard(project)
    result = run_gen("build", "--out", str(fs), cwd=project)
    assert result.returncode == 0, result.stderr
    assert "wrote " in result.stdout
    assert run_gen("build", "--out", str(fs), "--check", cwd=project).returncode == 0
    assert (fs / ".backup/keep.json").read_text() == "{}\n"
    assert not [p for p in fs.rglob("*.tmp")]


def fs_free(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def _change_every_dashboard(project: Path) -> None:
    """A settings change that changes every dashboard and rule file."""
    settings = project / "environments.yaml"
    document = yaml.safe_load(settings.read_text())
    document["defaults"]["thresholds"]["error_ratio"]["threshold"] = 0.0625
    settings.write_text(yaml.safe_dump(document))


# --- a real killed `gen build` on a fleet of 200 environments --------------------------------------

FLEET = 200


def _fleet_settings(project: Path, threshold: float) -> None:
    settings = project / "environments.yaml"
    document = yaml.safe_load(settings.read_text())
    document["defaults"]["thresholds"]["error_ratio"]["threshold"] = threshold
    document["environments"] = {
        f"cluster-{i:03d}": {
            "namespace": f"triton-{i:03d}",
            "prometheus_release": f"monitoring-{i:03d}",
            "grafana": {"folder_uid": f"triton-cluster-{i:03d}", "folder_title": f"Triton (cluster-{i:03d})"},
        }
        for i in range(FLEET)
    }
    settings.write_text(yaml.safe_dump(document))


def _digest(directory: Path) -> dict[str, str]:
    import hashlib

    return {rel: hashlib.sha1(data).hexdigest() for rel, data in snapshot(directory).items()}


def _git(*args: str, cwd: Path) -> list[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.splitlines()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A project of 200 environments with out/ built and committed (the old tree), and the digest
    of the tree the changed settings give (the new one)."""
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    from tests.conftest import copy_project

    root = tmp_path_factory.mktemp("fleet")
    project = copy_project(root / "project")
    shutil.rmtree(project / "out")
    shutil.copy(REPO / ".gitignore", project / ".gitignore")
    _fleet_settings(project, 0.05)
    assert run_gen("build", cwd=project).returncode == 0
    (project / "out/.backup/cluster-000").mkdir(parents=True)
    (project / "out/.backup/cluster-000/triton-cluster-000.json").write_text('{"saved": true}\n')
    (project / "out/README.md").write_text("hand-written\n")
    _git("init", "-q", cwd=project)
    _git("add", "-A", cwd=project)
    _git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "old", cwd=project)
    old = _digest(project / "out")

    _fleet_settings(project, 0.0625)
    assert run_gen("build", "--out", str(root / "new"), cwd=project).returncode == 0
    new = _digest(root / "new")
    new.update({rel: digest for rel, digest in old.items() if rel.startswith(".backup/") or rel == "README.md"})
    changed = [rel for rel in new if new[rel] != old.get(rel)]
    assert len(changed) >= 2 * FLEET  # every dashboard and rule file: a mix would show
    return project, old, new


def _ours_to_ignore(status_line: str) -> bool:
    """Ignored entries that are not leftovers: Python's caches, push's backups."""
    return "__pycache__" in status_line or status_line.startswith("!! out/.backup/")


def _leftovers_on_disk(project: Path) -> list[str]:
    """Staging trees beside out/ (git does not show an empty one) and temporary files in out/."""
    return sorted([name for name in os.listdir(project) if name.startswith(".out.")]
                  + [p.relative_to(project).as_posix() for p in (project / "out").rglob(".*.tmp")])


def _wait_for(condition, proc, timeout=120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, "gen build finished before the moment to kill it"
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.0005)


@pytest.mark.parametrize(
    "signum, moment",
    [
        (signal.SIGKILL, "staging"),
        (signal.SIGTERM, "staging"),
        (signal.SIGKILL, "swapped"),
        (signal.SIGHUP, "swapped"),
    ],
    ids=["SIGKILL-staging", "SIGTERM-staging", "SIGKILL-swapped", "SIGHUP-swapped"],
)
def test_a_killed_build_leaves_out_old_or_new(fleet, tmp_path, signum, moment):
    """Killed while the new tree is staged, or just after the swap while the old tree is removed:
    out/ is the old tree or the new one, as a whole. SIGTERM and SIGHUP clean up like Ctrl-C;
    what a SIGKILL leaves is ignored by git, stale for --check and removed by the next run."""
    template, old, new = fleet
    project = tmp_path / "project"
    shutil.copytree(template, project, symlinks=True)
    out = project / "out"
    inode = out.stat().st_ino

    def staging() -> bool:
        return any(".out.gen-new-" in name for name in os.listdir(project))

    def swapped() -> bool:
        return out.stat().st_ino != inode

    proc = subprocess.Popen([sys.executable, "-m", "gen", "build"], cwd=project,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(staging if moment == "staging" else swapped, proc)
        proc.send_signal(signum)
        stderr = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    after = _digest(out)
    assert after in (old, new), "out/ is a mix of old and new files"
    assert after == (old if moment == "staging" else new)
    status = _git("status", "--porcelain", "--untracked-files=all", cwd=project)
    assert [line for line in status if line.startswith("??")] == []  # nothing `git add -A` would pick up
    if after == old:
        assert status == [" M environments.yaml"]
    left = _leftovers_on_disk(project)

    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        check = run_gen("build", "--check", cwd=project)
        stale = sorted(line for line in check.stdout.splitlines() if line.startswith("stale: "))
        if moment == "staging":
            assert left  # SIGKILL runs no cleanup: the staging tree is there
        if left:
            assert check.returncode == 1
            assert all(".out.gen-new-" in line for line in stale), stale
        if moment == "swapped" and not left:
            assert check.returncode == 0
        rerun = run_gen("build", cwd=project)
        assert rerun.returncode == 0, rerun.stderr
        assert _leftovers_on_disk(project) == []
        assert [line for line in _git("status", "--porcelain", "--ignored", "--untracked-files=all", cwd=project)
                if line.startswith("!!") and not _ours_to_ignore(line)] == []
        assert _digest(out) == new
    else:
        assert proc.returncode == 130, stderr
        assert stderr.strip().splitlines()[-1].startswith("interrupted ("), stderr
        assert "Traceback" not in stderr
        assert left == []  # cleaned up like Ctrl-C: no staging tree, no temporary file


# --- the JSON writer: orjson, byte for byte json.dumps(indent=2, sort_keys=True) ---------------------

def _json_dumps(model) -> str:
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_every_dashboard_is_written_as_json_dumps_would(project):
    """The project's dashboards for its environments and a fleet, plus one with non-ASCII text."""
    from gen.render.dashboards import build_dashboards, dashboard_json

    (project / "dashboards/unicode.py").write_text(
        "from dashboards.triton import dashboard as triton\n"
        "import attr\n"
        "def dashboard(env):\n"
        "    return attr.evolve(triton(env), uid='unicode-' + env.name,\n"
        "                       title='Triton – Zürich 東京 \\U0001F680 (' + env.name + ')',\n"
        "                       description='\\u2028 \\x7f \\ufeff \\\"quoted\\\" back\\\\slash \\x01')\n",
        encoding="utf-8",
    )
    _fleet_settings(project, 0.05)
    built = build_dashboards(load_settings(project / "environments.yaml"))
    assert len(built) == 2 * FLEET
    for item in built:
        assert dashboard_json(item.model) == _json_dumps(item.model), item.json_path
    assert "東京 \U0001F680" in dashboard_json(built[1].model)


TRICKY_VALUES = {
    "text": "Zürich 東京 \U0001F680 \u2028\u2029 \ufeff \x7f quote\" back\\slash\ttab\nnewline \x00\x01\x1f </script>",
    "floats": [0.0, -0.0, 0.1, 1 / 3, 0.0001, 0.00009999, 1e-5, 1.234e-7, 5e-324, 123456.789, 9999999999999998.0,
               1e16, 1.5e17, 1e300, -2.5e-8, 1.7976931348623157e308],
    "ints": [0, -1, 2**53, 2**63 - 1, -(2**63)],
    "nested": {"b": [], "a": {}, "c": [{"z": None, "y": True, "x": False}], "B": "upper sorts first", "é": 1},
}


@pytest.mark.parametrize("key", sorted(TRICKY_VALUES))
def test_tricky_values_are_written_as_json_dumps_would(key):
    from gen.render.dashboards import dashboard_json
    from gen.render.grafana_json import to_plain

    model = to_plain({"title": "t", key: TRICKY_VALUES[key]})
    assert dashboard_json(model) == _json_dumps(model)


def test_values_orjson_refuses_take_the_exact_path():
    from gen.render.dashboards import dashboard_json

    for model in ({"big": 2**64}, {"big": -(2**70)}, {"keys": {1: "int key"}}):
        assert dashboard_json(model) == json.dumps(model, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def test_a_dashboard_with_nan_is_refused(project):
    (project / "dashboards/nan.py").write_text(
        "from dashboards.triton import dashboard as triton\n"
        "import attr\n"
        "def dashboard(env):\n"
        "    d = triton(env)\n"
        "    return attr.evolve(d, title='NaN', uid='nan-' + env.name, refresh=float('nan'))\n"
    )
    result = run_gen("dashboards", cwd=project)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert "dashboards/nan.py" in result.stderr and "nan" in result.stderr.lower()


@pytest.mark.parametrize("text", [
    '{\n  "a": 1\n}\n', "one line\n", "Zürich µs 東京\n  x\n", "\n", "a\n\nb\n", "\nstarts empty\n",
    "trailing spaces  \n  x\n", "x\n\n",
])
def test_configmap_indents_as_line_by_line(text):
    from gen.render.k8s import _indented

    expected = "".join(f"    {line}\n" if line else "\n" for line in text[:-1].split("\n"))
    assert _indented(text.encode("utf-8")) == expected.encode("utf-8")


def test_a_second_run_waits_for_the_first(project):
    """Two runs on one out/: the second waits (and says so) instead of taking the first one's
    staging tree for a leftover."""
    import fcntl

    fd = os.open(project, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running gen holds it
    proc = subprocess.Popen([sys.executable, "-m", "gen", "dashboards"], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert line.startswith("waiting for another gen that is writing ") and line.rstrip().endswith("/out")
        assert proc.poll() is None
    finally:
        os.close(fd)  # the first run ends
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert "out is up to date: " in stdout


def test_the_swap_keeps_what_it_does_not_write(project):
    """Unchanged files are hard-linked into the new tree (same inode, no copy), hand-written files,
    symlinks and hidden folders come along, and out/ keeps its permissions."""
    out = project / "out"
    (out / ".backup/prod").mkdir(parents=True)
    (out / ".backup/prod/triton-prod.json").write_text('{"saved": true}\n')
    (out / "notes").mkdir()
    (out / "notes/README.md").write_text("hand-written\n")
    (out / "latest").symlink_to("grafana/prod")
    os.chmod(out, 0o750)
    unchanged = out / "prod/prometheusrule-triton.yaml"
    inode = unchanged.stat().st_ino
    (out / "grafana/dev/triton-dev.json").write_text("{}\n")  # to be rewritten: a swap happens

    result = run_gen("build", cwd=project)

    assert result.returncode == 0, result.stderr
    assert "wrote out/grafana/dev/triton-dev.json" in result.stdout
    assert unchanged.stat().st_ino == inode
    assert (out / ".backup/prod/triton-prod.json").read_text() == '{"saved": true}\n'
    assert (out / "notes/README.md").read_text() == "hand-written\n"
    assert (out / "latest").is_symlink() and os.readlink(out / "latest") == "grafana/prod"
    assert out.stat().st_mode & 0o777 == 0o750
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".out")) == []


# --- what a run imports: a structural guard for speed (no timing) ------------------------------------

# Heavy packages a render never needs: each costs 0.05-0.5 s per run. typer 0.29 brought pydantic
# into every run this way; these tests name the command and the package that crept in.
NEVER_IMPORTED_BY_A_RENDER = ("pydantic", "requests", "urllib3", "matplotlib", "numpy", "prometheus_api_client")
# `gen --help` stays near `import typer`: nothing a command needs for its work.
NEVER_IMPORTED_BY_HELP = (*NEVER_IMPORTED_BY_A_RENDER, "grafanalib", "jsonschema", "yaml", "orjson", "attr")


def _imported_packages(stderr: str) -> set[str]:
    """Top-level packages from `python -X importtime` (PYTHONPROFILEIMPORTTIME) output."""
    packages = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            packages.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return packages


@pytest.mark.parametrize("args, forbidden", [
    (("dashboards",), NEVER_IMPORTED_BY_A_RENDER),
    (("dashboards", "--check"), NEVER_IMPORTED_BY_A_RENDER),
    (("--help",), NEVER_IMPORTED_BY_HELP),
    (("dashboards", "--help"), NEVER_IMPORTED_BY_HELP),
], ids=["dashboards", "dashboards-check", "help", "dashboards-help"])
def test_a_run_imports_nothing_it_does_not_need(project, args, forbidden):
    result = run_gen(*args, cwd=project, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    imported = _imported_packages(result.stderr)
    assert "gen" in imported and "typer" in imported  # the output was read
    assert not imported & set(forbidden), f"gen {' '.join(args)} imports {sorted(imported & set(forbidden))}"


@pytest.mark.parametrize("args", [
    ["dashboards", "--help"], ["alerts", "--help"], ["alerts", "backtest", "--help"], ["build", "--help"],
    ["validate", "--help"], ["push", "--help"], ["diff", "--help"], ["doctor", "--help"], ["preview", "--help"],
    ["--debug", "build", "--bogus"], ["dashboards", "--env"],
])
def test_the_app_built_for_one_command_says_what_the_whole_app_says(args):
    """`gen X` builds only X (typer would build every command's parameters, and import their
    modules): its help and usage errors are the whole app's, word for word."""
    from typer.testing import CliRunner

    from gen.cli import _invoked, make_app

    command = _invoked(args)
    assert command == next(a for a in args if not a.startswith("-"))
    whole, alone = (CliRunner().invoke(app, args, prog_name="gen") for app in (make_app(), make_app([command])))
    assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output)
    assert alone.output.strip()


def test_help_and_unknown_commands_get_the_whole_app():
    from gen.cli import COMMANDS, _invoked

    assert [_invoked(args) for args in ([], ["--help"], ["-h"], ["--version"], ["--debug"], ["dashboard"],
                                        ["--debug", "--help", "build"])] == [None] * 7
    assert _invoked(["--debug", "build"]) == "build" and set(COMMANDS) >= {"dashboards", "alerts", "build"}


def test_the_render_runs_the_garbage_collector_less_often_and_restores_it(project):
    """A definition sees the raised threshold (a fifth of the render was collections of a heap
    that only grows); whoever called generate() gets the collector as it was."""
    import gc

    (project / "dashboards/gc_probe.py").write_text(
        "import gc\nfrom dashboards.triton import dashboard as triton\nimport attr\nSEEN = []\n"
        "def dashboard(env):\n"
        "    SEEN.append(gc.get_threshold()[0])\n"
        "    return attr.evolve(triton(env), uid='gc-' + env.name, title='GC ' + env.name)\n"
    )
    before = gc.get_threshold()
    generate(load_settings(project / "environments.yaml"), ["dashboards"], None, project / "out", check=True)
    import dashboards.gc_probe as probe

    assert probe.SEEN and min(probe.SEEN) >= 10_000
    assert gc.get_threshold() == before and gc.isenabled()
