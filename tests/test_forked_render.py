"""A fleet's dashboards are rendered by forked workers (gen.render.forked): the same files, the
same first error, whatever the workers do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest
import yaml

from gen.errors import UserError
from gen.render import forked
from tests.conftest import REPO, run_gen, snapshot

PARENT = os.getpid()

# Each case runs in a fresh interpreter: this one may run server threads (an earlier test's
# fixtures), and map_chunks forks only a single-threaded process.
PRELUDE = """
import json, os, signal, sys
from gen.errors import UserError
from gen.render import forked
os.environ[forked.WORKERS_ENV] = sys.argv[1]
PARENT = os.getpid()
def no_children_left():
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False
"""


def _run(case: str, workers: int = 4) -> dict:
    done = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(case), str(workers)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_chunks_come_back_in_order_from_several_processes():
    result = _run("""
        results = forked.map_chunks(lambda chunk: [(item, os.getpid()) for item in chunk], list(range(100)))
        print(json.dumps({"items": [item for item, _ in results], "pids": sorted({pid for _, pid in results}),
                          "parent": PARENT, "reaped": no_children_left()}))
    """)
    assert result["items"] == list(range(100))
    assert len(result["pids"]) == 4 and result["parent"] in result["pids"]
    assert result["reaped"]


def test_few_items_or_other_threads_keep_the_work_in_this_process(monkeypatch):
    monkeypatch.setenv(forked.WORKERS_ENV, "4")
    few = forked.map_chunks(lambda chunk: [os.getpid() for _ in chunk], list(range(forked.MIN_ITEMS_PER_WORKER)))
    assert set(few) == {PARENT}
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        many = forked.map_chunks(lambda chunk: [os.getpid() for _ in chunk], list(range(100)))
    finally:
        stop.set()
        thread.join()
    assert set(many) == {PARENT}


def test_a_worker_that_dies_has_its_chunk_rendered_here():
    result = _run("""
        def render(chunk):
            if os.getpid() != PARENT and chunk[0] >= 50:
                os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
            return [(item, os.getpid()) for item in chunk]
        results = forked.map_chunks(render, list(range(90)))
        print(json.dumps({"items": [item for item, _ in results], "parent": PARENT, "reaped": no_children_left(),
                          "late": sorted({pid for item, pid in results if item >= 60})}))
    """, workers=3)
    assert result["items"] == list(range(90))
    assert result["late"] == [result["parent"]]
    assert result["reaped"]


@pytest.mark.parametrize("bad", [[5, 70], [70, 95], [95]])
def test_the_error_is_the_first_in_order_as_on_one_core(bad):
    result = _run(f"""
        def render(chunk):
            for item in chunk:
                if item in {bad}:
                    raise UserError(f"item {{item}} is bad")
            return list(chunk)
        try:
            forked.map_chunks(render, list(range(100)))
            error = None
        except UserError as exc:
            error = str(exc)
        print(json.dumps({{"error": error, "reaped": no_children_left()}}))
    """)
    assert result == {"error": f"item {bad[0]} is bad", "reaped": True}


def test_a_worker_count_that_is_not_a_number_is_bad_input(monkeypatch):
    monkeypatch.setenv(forked.WORKERS_ENV, "many")
    with pytest.raises(UserError, match="TRITON_OBS_WORKERS: 'many' is not a number of processes"):
        forked.map_chunks(list, list(range(100)))


# --- the CLI on a fleet ---------------------------------------------------------------------------

FLEET = 40

FAILS_FOR_ONE = '''
from dashboards.triton import dashboard as triton


def dashboard(env):
    if env.name == "cluster-033":
        raise ValueError(f"no dashboard for {env.name}")
    return triton(env)
'''


def _fleet(project) -> None:
    settings = project / "environments.yaml"
    document = yaml.safe_load(settings.read_text())
    document["environments"] = {
        f"cluster-{i:03d}": {"namespace": f"triton-{i:03d}", "prometheus_release": f"monitoring-{i:03d}",
                             "grafana": {"folder_uid": f"triton-cluster-{i:03d}",
                                         "folder_title": f"Triton (cluster-{i:03d})"}}
        for i in range(FLEET)
    }
    settings.write_text(yaml.safe_dump(document))


def test_a_fleet_gives_the_same_files_on_one_core_and_on_four(project, tmp_path):
    _fleet(project)
    one = run_gen("dashboards", "--out", str(tmp_path / "one"), cwd=project, env={"TRITON_OBS_WORKERS": "1"})
    four = run_gen("dashboards", "--out", str(tmp_path / "four"), cwd=project, env={"TRITON_OBS_WORKERS": "4"})
    assert one.returncode == four.returncode == 0, one.stderr + four.stderr
    files = snapshot(tmp_path / "one")
    assert len([rel for rel in files if rel.startswith("grafana/")]) == FLEET
    assert snapshot(tmp_path / "four") == files
    assert four.stdout.replace("four", "one") == one.stdout


def test_a_failure_late_in_a_fleet_is_reported_as_on_one_core(project, tmp_path):
    _fleet(project)
    (project / "dashboards/zz_partial.py").write_text(FAILS_FOR_ONE)
    before = snapshot(project / "out")
    runs = [run_gen("dashboards", cwd=project, env={"TRITON_OBS_WORKERS": count}) for count in ("1", "4")]
    for result in runs:
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
    assert runs[0].stderr == runs[1].stderr
    assert runs[1].stderr.strip() == (
        "error: dashboards/zz_partial.py: dashboard() for environment 'cluster-033' failed (line 7): "
        "ValueError: no dashboard for cluster-033"
    )
    assert snapshot(project / "out") == before
