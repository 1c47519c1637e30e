"""`gen preview` against the end-to-end stack (real Triton, real Prometheus), looked at the way a
person would: the images exist at the size of the grid, every panel with data drew something in
its plot area, "No data" is shown exactly where the queries return nothing, and the HTML page opens
in headless Chromium without errors."""

from __future__ import annotations

import colorsys
import copy
import json
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_project, require_binary, run_gen
from tests.stack import servers

pytestmark = pytest.mark.e2e

NS = '{namespace=~"$namespace", model=~"$model"}'


def _target(expr: str, legend: str = "", instant: bool = False, fmt: str = "time_series", ref: str = "A") -> dict:
    return {"expr": expr, "legendFormat": legend, "instant": instant, "range": not instant, "format": fmt,
            "refId": ref, "datasource": {"type": "prometheus", "uid": "${datasource}"}}


def fixture_dashboard(base: dict) -> dict:
    """A dashboard of our own beside the project's: every panel kind the preview draws, a panel on a
    metric Triton has no series for, one on a model that does not exist, and a collapsed row."""
    model = {k: copy.deepcopy(v) for k, v in base.items() if k in ("annotations", "templating", "time", "timezone",
                                                                     "schemaVersion", "refresh")}
    model.update(uid="preview-fixture-dev", title="Preview fixture (dev)", panels=[
        {"type": "row", "title": "Kinds", "collapsed": False, "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}, "panels": []},
        {"type": "timeseries", "title": "Stacked RPS", "id": 2, "gridPos": {"x": 0, "y": 1, "w": 12, "h": 8},
         "fieldConfig": {"defaults": {"unit": "reqps", "custom": {"stacking": {"mode": "normal"}, "fillOpacity": 40}},
                         "overrides": []},
         "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
         "targets": [_target(f"sum by (model) (rate(nv_inference_request_success{NS}[$__rate_interval]))", "{{model}}")]},
        {"type": "stat", "title": "Memory", "id": 3, "gridPos": {"x": 12, "y": 1, "w": 6, "h": 4},
         "fieldConfig": {"defaults": {"unit": "bytes", "thresholds": {"mode": "absolute", "steps": [
             {"color": "green", "value": None}, {"color": "red", "value": 1e15}]}}, "overrides": []},
         "options": {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background", "graphMode": "area"},
         "targets": [_target('sum(nv_cpu_memory_used_bytes{namespace=~"$namespace"})')]},
        {"type": "gauge", "title": "CPU", "id": 4, "gridPos": {"x": 18, "y": 1, "w": 6, "h": 4},
         "fieldConfig": {"defaults": {"unit": "percentunit", "min": 0, "max": 1}, "overrides": []},
         "targets": [_target('avg(nv_cpu_utilization{namespace=~"$namespace"})', instant=True)]},
        {"type": "table", "title": "Requests by model", "id": 5, "gridPos": {"x": 12, "y": 5, "w": 12, "h": 4},
         "fieldConfig": {"defaults": {"unit": "short"}, "overrides": []},
         "targets": [_target(f"sum by (model) (nv_inference_request_success{NS})", instant=True, fmt="table"),
                     _target(f"sum by (model) (nv_inference_count{NS})", instant=True, fmt="table", ref="B")]},
        {"type": "row", "title": "Empty", "collapsed": False, "gridPos": {"x": 0, "y": 9, "w": 24, "h": 1}, "panels": []},
        {"type": "timeseries", "title": "GPU power", "id": 7, "gridPos": {"x": 0, "y": 10, "w": 12, "h": 6},
         "fieldConfig": {"defaults": {"unit": "watt"}, "overrides": []},
         "targets": [_target('sum by (gpu_uuid) (nv_gpu_power_usage{namespace=~"$namespace"})', "{{gpu_uuid}}")]},
        {"type": "stat", "title": "Unknown model", "id": 8, "gridPos": {"x": 12, "y": 10, "w": 12, "h": 6},
         "fieldConfig": {"defaults": {"unit": "reqps"}, "overrides": []},
         "targets": [_target('sum(rate(nv_inference_request_success{namespace=~"$namespace", '
                             'model="no_such_model"}[$__rate_interval]))')]},
        {"type": "row", "title": "Folded", "collapsed": True, "gridPos": {"x": 0, "y": 16, "w": 24, "h": 1},
         "panels": [{"type": "timeseries", "title": "Hidden", "id": 10, "gridPos": {"x": 0, "y": 17, "w": 24, "h": 8},
                     "targets": [_target(f"sum(nv_inference_count{NS})")]}]},
    ])
    return model


def expected_height(model: dict) -> int:
    """56 px header, 38 px per grid unit, 8 px margin; a collapsed row takes no space."""
    panels = model["panels"]
    collapsed = [p["gridPos"]["y"] for p in panels if p.get("type") == "row" and p.get("collapsed")]
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] - sum(1 for y in collapsed if y <= p["gridPos"]["y"])
                 for p in panels if not (p.get("type") == "row" and p.get("collapsed")))
    return 56 + 38 * bottom + 8


def range_has_data(url: str, expr: str, start: float, end: float) -> bool:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": max(1, (end - start) / 250)})
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{params}", timeout=30) as response:
        return bool(json.load(response)["data"]["result"])


def range_only_zeros(url: str, expr: str, start: float, end: float) -> bool:
    """Every point of the query is 0: bars of height 0 are invisible, in Grafana as here."""
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": max(1, (end - start) / 250)})
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{params}", timeout=30) as response:
        result = json.load(response)["data"]["result"]
    return all(float(value) == 0 for series in result for _, value in series["values"])


def colored_pixels(image, box) -> int:
    """Pixels of a saturated colour (series, thresholds) inside box; text and grid lines are grey."""
    left, top, width, height = box
    raw = image.crop((left, top, left + width, top + height)).convert("RGB").tobytes()
    count = 0
    for i in range(0, len(raw), 3):
        _, s, v = colorsys.rgb_to_hsv(raw[i] / 255, raw[i + 1] / 255, raw[i + 2] / 255)
        count += s > 0.35 and v > 0.3
    return count


def bright_pixels(image, box) -> int:
    left, top, width, height = box
    raw = image.crop((left, top, left + width, top + height)).convert("L").tobytes()
    return sum(1 for p in raw if p > 110)


def wait_for_history(url: str, seconds: int, timeout: float = 180) -> None:
    """Prometheus scrapes every second: wait until the last `seconds` are covered, so a range of
    that length has data across the plot, not in its last pixels."""
    import time

    deadline = time.monotonic() + timeout
    expr = f'count_over_time(up{{namespace="triton-dev"}}[{seconds}s])'
    while time.monotonic() < deadline:
        params = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=10) as response:
            result = json.load(response)["data"]["result"]
        if result and float(result[0]["value"][1]) >= seconds * 0.9:
            return
        time.sleep(2)
    raise TimeoutError(f"{url}: less than {seconds}s of history after {timeout:.0f}s")


@pytest.fixture(scope="module")
def previewed(prometheus_dev, tmp_path_factory):
    wait_for_history(prometheus_dev.url, 60)
    tmp = tmp_path_factory.mktemp("preview")
    project = copy_project(tmp / "project")
    base = json.loads((REPO / "out/grafana/dev/triton-dev.json").read_text())
    (project / "out/grafana/dev/preview-fixture-dev.json").write_text(json.dumps(fixture_dashboard(base), indent=2))
    site = tmp / "site"
    result = run_gen("preview", "--prometheus-url", prometheus_dev.url, "--env", "dev", "--range", "1m",
                     "--out", str(site), cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project, site, json.loads((site / "preview.json").read_text()), result


def test_every_dashboard_has_an_image_of_the_grid_size(previewed):
    from PIL import Image

    project, site, manifest, _ = previewed
    sources = sorted(p.name for p in (project / "out/grafana/dev").glob("*.json"))
    assert sorted(Path(d["after"]["source"]).name for d in manifest["dashboards"]) == sources
    for entry in manifest["dashboards"]:
        shown = entry["after"]
        model = json.loads((project / shown["source"]).read_text())
        with Image.open(site / shown["image"]) as image:
            assert image.size == (1600, expected_height(model)), shown["image"]
            assert image.format == "PNG"


def test_panels_with_data_drew_something_and_no_data_is_exactly_the_empty_queries(previewed, prometheus_dev):
    from PIL import Image

    _, site, manifest, _ = previewed
    seen_kinds, no_data = set(), []
    for entry in manifest["dashboards"]:
        shown = entry["after"]
        with Image.open(site / shown["image"]) as image:
            image.load()
            for panel in shown["panels"]:
                has_data = any(range_has_data(prometheus_dev.url, q, shown["start"], shown["end"])
                               for q in panel["queries"])
                where = f"{shown['uid']} / {panel['title']}"
                assert (panel["status"] == "data") == has_data, (where, panel["status"], panel["cause"])
                if panel["status"] == "data":
                    seen_kinds.add(panel["type"])
                    if panel["type"] == "table":
                        assert bright_pixels(image, panel["plot"]) > 200, where
                    elif all(range_only_zeros(prometheus_dev.url, q, shown["start"], shown["end"])
                             for q in panel["queries"]):
                        pass  # e.g. container restarts as bars: all 0, nothing to see, as in Grafana
                    else:
                        assert colored_pixels(image, panel["plot"]) > 50, where
                else:
                    no_data.append(panel)
                    assert panel["cause"], where
                    assert colored_pixels(image, panel["plot"]) == 0, where
    assert {"timeseries", "stat", "gauge", "table"} <= seen_kinds
    causes = {p["title"]: p["cause"] for p in no_data}
    assert "optional metrics absent (nv_gpu_power_usage)" in causes["GPU power"]
    assert "matches nothing" in causes["Unknown model"] and 'model="no_such_model"' in causes["Unknown model"]
    # The collapsed row's panel is left out; it is on the page as a collapsed row.
    fixture = next(d["after"] for d in manifest["dashboards"] if d["after"]["uid"] == "preview-fixture-dev")
    assert "Hidden" not in {p["title"] for p in fixture["panels"]}
    assert fixture["collapsed_rows"] == ["Folded"]


def test_expand_opens_collapsed_rows_and_the_output_is_deterministic(previewed, prometheus_dev, tmp_path):
    project, _, manifest, _ = previewed
    end = str(int(manifest["dashboards"][0]["after"]["end"]) - 30)
    runs = []
    for name in ("a", "b"):
        result = run_gen("preview", "--prometheus-url", prometheus_dev.url, "--env", "dev", "--range", "1m",
                         "--end", end, "--expand", "--dashboard", "preview-fixture-dev", "--out",
                         str(tmp_path / name), cwd=project)
        assert result.returncode == 0, result.stderr
        runs.append(tmp_path / name)
    first = (runs[0] / "dev/preview-fixture-dev.png").read_bytes()
    assert first == (runs[1] / "dev/preview-fixture-dev.png").read_bytes()
    assert (runs[0] / "index.html").read_text() == (runs[1] / "index.html").read_text()
    shown = json.loads((runs[0] / "preview.json").read_text())["dashboards"][0]["after"]
    assert "Hidden" in {p["title"] for p in shown["panels"]} and shown["collapsed_rows"] == []
    assert shown["height"] == 56 + 38 * 25 + 8


def test_the_html_page_opens_in_headless_chromium_without_errors(previewed, tmp_path):
    chromium = require_binary("chromium")
    _, site, manifest, _ = previewed
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom",
            (site / "index.html").as_uri()]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    images = len(manifest["dashboards"])
    assert f'data-images="ok:{images}"' in done.stdout, done.stdout[:500]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
               or "Failed to load resource" in line]
    assert console == []
    for entry in manifest["dashboards"]:
        assert entry["after"]["title"] in done.stdout


def test_against_a_ref_draws_the_changed_dashboards_before_and_after(previewed, prometheus_dev, tmp_path):
    from PIL import Image

    project, _, _, _ = previewed
    repo = copy_project(tmp_path / "repo")
    fixture = repo / "out/grafana/dev/preview-fixture-dev.json"
    fixture.write_text((project / "out/grafana/dev/preview-fixture-dev.json").read_text())
    for argv in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"]):
        subprocess.run(["git", *argv], cwd=repo, check=True, capture_output=True)
    model = json.loads(fixture.read_text())
    model["panels"][1]["title"] = "Stacked RPS (renamed)"
    model["panels"][2]["gridPos"]["h"] = 8  # the stat grows: the layout below it moves
    fixture.write_text(json.dumps(model, indent=2))
    site = tmp_path / "site"
    result = run_gen("preview", "--prometheus-url", prometheus_dev.url, "--env", "dev", "--range", "1m",
                     "--against", "HEAD", "--out", str(site), cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((site / "preview.json").read_text())
    assert manifest["unchanged"] == ["triton-dev"]
    (entry,) = manifest["dashboards"]
    assert entry["before"]["uid"] == entry["after"]["uid"] == "preview-fixture-dev"
    assert "Stacked RPS" in {p["title"] for p in entry["before"]["panels"]}
    assert "Stacked RPS (renamed)" in {p["title"] for p in entry["after"]["panels"]}
    for side in ("before", "after"):
        with Image.open(site / entry[side]["image"]) as image:
            assert image.size == (1600, entry[side]["height"])
    page = (site / "index.html").read_text()
    assert "dev/preview-fixture-dev.before.png" in page and "dev/preview-fixture-dev.png" in page


def test_every_panel_empty_is_one_hint_and_exit_1(tmp_path):
    """A Prometheus that scrapes no Triton: every panel is No data, for one reason, said once
    (not a line per panel), and the run is a finding. The output folder is git-ignored."""
    with servers.prometheus_server(tmp_path / "empty", [], []) as prom:
        out = tmp_path / "preview"
        result = run_gen("preview", "--prometheus-url", prom.url, "--env", "dev", "--dashboard", "triton-dev",
                         "--range", "5m", "--out", str(out), cwd=REPO)
    assert result.returncode == 1, result.stdout + result.stderr
    hints = [line for line in result.stderr.splitlines() if line.startswith("every panel (")]
    assert len(hints) == 1 and "is No data: " in hints[0], result.stderr
    assert not any(": no data: " in line for line in result.stdout.splitlines()), result.stdout
    assert (out / ".gitignore").read_text().splitlines()[-1] == "*"
