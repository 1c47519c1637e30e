"""`gen review --against REF` on a real Prometheus holding a week of backfilled history (the
backtest's week, ending now), for a branch that changes one panel's query, adds a panel, lowers one
alert's threshold so that it would have fired twice more, and breaks one query's label. The report
shows exactly those, the images of the two panels, and exits 1; rendered as HTML (as GitHub renders
the comment) in headless Chromium, its images load."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.backtest_history import NAMESPACE, History
from tests.conftest import copy_project, require_binary, run_gen
from tests.stack import servers

pytestmark = pytest.mark.e2e

ALERT = "FixtureBertBurst"


def _rule(threshold: float) -> dict:
    """A critical alert per pod and model on the error ratio: bert's burst (20 % of requests on
    each of two pods, 45 minutes) passes 0.1 and not 0.5."""
    expr = (f'sum by (namespace, pod, model) (rate(nv_inference_request_failure{{namespace="{NAMESPACE}"}}[5m]))\n'
            f'/ sum by (namespace, pod, model) (rate(nv_inference_request_success{{namespace="{NAMESPACE}"}}[5m]))'
            f" > {threshold}")
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "review-fixture", "namespace": "monitoring"},
            "spec": {"groups": [{"name": "fixture.alerts", "interval": "1m", "rules": [
                {"alert": ALERT, "for": "5m", "labels": {"severity": "critical"}, "expr": expr,
                 "annotations": {"summary": "bert fails", "description": "bert fails",
                                 "runbook_url": "https://example.com/runbook"}}]}]}}


@contextlib.contextmanager
def week_prometheus(workdir: Path):
    """A real Prometheus holding the backtest's week, ending now; (server, end)."""
    workdir.mkdir(parents=True, exist_ok=True)
    end = int(time.time()) // 60 * 60
    history = History.ending(end, inference_count=True)
    with open(workdir / "week.om", "w") as handle:
        history.write_openmetrics(handle)
    done = subprocess.run([require_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                           str(workdir / "week.om"), str(workdir / "data")], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    with servers.prometheus_server(workdir, [], []) as prom:
        servers.wait_for(prom.url, f'nv_inference_count{{namespace="{NAMESPACE}"}}', timeout=120)
        yield prom, end


@pytest.fixture(scope="module")
def recent_week(tmp_path_factory):
    with week_prometheus(tmp_path_factory.mktemp("review-week")) as found:
        yield found


def _git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=project, check=True,
                   capture_output=True)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


@pytest.fixture
def branch(tmp_path):
    return make_branch(tmp_path / "project")


def make_branch(where: Path) -> Path:
    """The project at its base commit, and the branch's four changes in the working tree."""
    project = copy_project(where)
    for rules in (project / "out/dev").glob("prometheusrule-*.yaml"):
        rules.unlink()
    (project / "out/dev/prometheusrule-fixture.yaml").write_text(yaml.safe_dump(_rule(0.5), sort_keys=False))
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "base")
    triton = project / "dashboards/triton.py"
    # 1. one panel's query: successes by pod become failures by pod.
    _edit(triton, '[target(s.rate(SUCCESS, "pod"), s.legend("{{pod}}"))],',
          '[target(s.rate(FAILURE, "pod"), s.legend("{{pod}}"))],')
    # 2. a panel added to the Node row.
    _edit(triton, '''                BYTES,
            ),
        ],
    )


def _models''', '''                BYTES,
            ),
            timeseries(
                "Queue time by model",
                "Time requests waited in the queue per second, by model.",
                [target(s.rate(QUEUE_DURATION, "model"), s.legend("{{model}}"))],
                MICROSECONDS,
            ),
        ],
    )


def _models''')
    # 3. the alert's threshold lowered: bert's burst now fires it on both pods.
    (project / "out/dev/prometheusrule-fixture.yaml").write_text(yaml.safe_dump(_rule(0.1), sort_keys=False))
    # 4. one query's label broken: the namespace variable filters on a label no series has.
    _edit(project / "dashboards/_panels.py", '''query=f'label_values({metric}{{{cluster}namespace="{env.namespace}"}}, namespace)',''',
          '''query=f'label_values({metric}{{{cluster}namespace="{env.namespace}", pod_name!=""}}, namespace)',''')
    assert run_gen("dashboards", cwd=project).returncode == 0
    return project


def _html(report_dir: Path) -> Path:
    """review.md as GitHub shows the comment (raw HTML allowed: <details>, <img>), with a script
    that counts the images that loaded."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": True}).enable("table").render((report_dir / "review.md").read_text())
    script = ("<script>window.addEventListener('load', () => { const all = [...document.images];"
              " document.body.dataset.images = 'ok:' + all.filter(i => i.complete && i.naturalWidth > 0).length"
              " + '/' + all.length; });</script>")
    page = report_dir / "review.html"
    page.write_text(f"<!doctype html><html><head><meta charset='utf-8'>{script}</head><body>{body}</body></html>")
    return page


def test_the_report_shows_the_four_changes_with_pictures_and_blocks(recent_week, branch, tmp_path):
    prom, end = recent_week
    report_dir = tmp_path / "review"
    result = run_gen("review", "--against", "HEAD", "--prometheus-url", prom.url, "--env", "dev", "--range", "7d",
                     "--end", str(end), "--out-dir", str(report_dir), cwd=branch, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.strip() == str(report_dir / "review.md")
    report = json.loads((report_dir / "review.json").read_text())

    # Dashboards: the dev dashboard, with the query, the panel and the variable.
    (dashboard,) = report["dashboards"]
    assert dashboard["uid"] == "triton-dev"
    kinds = sorted((c["kind"], c["where"]) for c in dashboard["changes"] if c["kind"] != "panel-changed")
    assert ("query-changed", "panel 'Requests per second by pod' (row Pods)") in kinds
    assert ("panel-added", "panel 'Queue time by model' (row Node (as Triton sees it))") in kinds
    assert any(kind == "variable-changed" and where == "variable namespace" for kind, where in kinds)
    # Images of the two panels only: before and after of the changed one, after of the added one.
    images = {i["title"]: i for i in report["images"]}
    assert set(images) == {"Requests per second by pod", "Queue time by model"}
    assert images["Queue time by model"]["before"] is None
    for image in report["images"]:
        for side in ("before", "after"):
            if image[side]:
                assert (report_dir / image[side]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Rules: the one alert, and what it would have done last week.
    assert [(r["name"], r["status"]) for r in report["rules"]] == [(ALERT, "changed")]
    (firing,) = report["firings"]
    assert firing["name"] == ALERT and firing["before"][0] == 0 and firing["after"][0] == 2 and firing["more"] == 2
    assert any(ALERT in reason and "2 more" in reason for reason in report["blocking"])

    # Findings: the broken label is new (an error), and what is said of the added panel (this
    # server scrapes nothing, so a rate over its backfilled minutes is empty): nothing else.
    new = [f for f in report["findings"] if f["new"]]
    assert all("pod_name" in f["message"] or "variable $namespace" in f["object"] or "Queue time by model" in f["object"]
               for f in new), new
    assert {f["object"] for f in new if f["severity"] == "error"} == {
        "dev: metric nv_inference_count", "triton-dev / variable $namespace"}, new

    # The comment: under GitHub's limit, every section, nothing unchecked.
    text = (report_dir / "review.md").read_text()
    assert len(text) < 65_000
    for heading in ("### Dashboards", "### Rules", "### Findings", "### Manifests"):
        assert heading in text
    assert "### Not checked" not in text
    assert "| dev | `FixtureBertBurst` | critical | 0 (0 s, longest —) | 2 (" in text

    # As HTML, in a real browser: every image loads.
    chromium = require_binary("chromium")
    page = _html(report_dir)
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            "--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'data-images="ok:3/3"' in done.stdout, done.stdout[:800]


def test_without_a_prometheus_what_needs_one_is_listed_as_not_checked(branch, tmp_path):
    report_dir = tmp_path / "review"
    result = run_gen("review", "--against", "HEAD", "--env", "dev", "--out-dir", str(report_dir), cwd=branch)
    assert result.returncode == 0, result.stdout + result.stderr  # no error finding offline
    text = (report_dir / "review.md").read_text()
    assert "alerts not backtested (no --prometheus-url)" in text
    section = text.split("### Not checked", 1)[1]
    for part in ("live validation", "backtest of the changed alerts", "images of the changed panels"):
        assert part in section and "no --prometheus-url" in section
    report = json.loads((report_dir / "review.json").read_text())
    assert report["images"] == [] and report["firings"] == []
    assert [(r["name"], r["status"]) for r in report["rules"]] == [(ALERT, "changed")]
