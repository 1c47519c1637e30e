"""gen preview without a server: Grafana's units, the grid layout, drawing from fake data (every
panel kind, text with `$`), and identical bytes for identical data."""

from __future__ import annotations

import json

import pytest

from gen.preview.data import DATA, NO_DATA, PanelData, Series, legend
from gen.preview.draw import draw_dashboard, table_rows
from gen.preview.html import page
from gen.preview.layout import layout
from gen.preview.units import format_value, tick_labels
from tests.conftest import REPO


@pytest.mark.parametrize("value,unit,text", [
    (530, "µs", "530 µs"), (1234, "µs", "1.23 ms"), (2_500_000, "µs", "2.50 s"),
    (0.0532, "percentunit", "5.32%"), (53.2, "percent", "53.2%"),
    (1536, "bytes", "1.50 KiB"), (3.2e9, "bytes", "2.98 GiB"), (1500, "decbytes", "1.50 kB"),
    (12.34, "reqps", "12.3 req/s"), (15300, "reqps", "15.3K req/s"),
    (1500, "short", "1.50 K"), (0, "short", "0"), (123.4, "none", "123"),
    (90, "s", "1.50 min"), (0.25, "s", "250 ms"), (42, "ms", "42 ms"), (7, "widgets", "7 widgets"),
])
def test_grafana_units(value, unit, text):
    assert format_value(value, unit) == text


def test_axis_labels_are_exact():
    assert tick_labels([0, 0.25, 0.5, 0.75], "none") == ["0", "0.25", "0.5", "0.75"]
    assert tick_labels([0, 512 * 1024 ** 2, 1024 ** 3], "bytes") == ["0 B", "512 MiB", "1 GiB"]


def test_legend_format():
    labels = {"__name__": "x", "model": "a", "reason": "BACKEND"}
    assert legend("{{model}} {{ reason }}", labels, "x") == "a BACKEND"
    assert legend("", labels, "x") == 'x{model="a", reason="BACKEND"}'
    assert legend("", {}, "sum(x)") == "sum(x)"


def _model():
    def ts(title, x, y, w=12, h=8, **extra):
        return {"type": "timeseries", "title": title, "gridPos": {"x": x, "y": y, "w": w, "h": h}, **extra}

    return {"title": "T", "uid": "t", "panels": [
        {"type": "row", "title": "One", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}, "panels": []},
        ts("A", 0, 1, fieldConfig={"defaults": {"unit": "reqps", "custom": {"stacking": {"mode": "normal"},
                                                                            "fillOpacity": 30}}},
           options={"legend": {"displayMode": "table", "calcs": ["mean", "max"]}}),
        {"type": "stat", "title": "S", "gridPos": {"x": 12, "y": 1, "w": 6, "h": 4},
         "fieldConfig": {"defaults": {"unit": "percentunit", "thresholds": {"steps": [
             {"color": "green", "value": None}, {"color": "red", "value": 0.05}]}}}},
        {"type": "table", "title": "Tb", "gridPos": {"x": 18, "y": 1, "w": 6, "h": 4}},
        {"type": "gauge", "title": "G", "gridPos": {"x": 12, "y": 5, "w": 6, "h": 4}},
        {"type": "text", "title": "Txt", "gridPos": {"x": 18, "y": 5, "w": 6, "h": 4},
         "options": {"content": "# Notes\nCosts $5 or $6."}},
        {"type": "row", "title": "Two", "collapsed": True, "gridPos": {"x": 0, "y": 9, "w": 24, "h": 1},
         "panels": [ts("Inner", 0, 10)]},
        ts("After", 0, 10, w=24, h=6),
    ]}


def _data(model, expand=False):
    times = [1000.0 + 60 * i for i in range(30)]
    a = [Series("$model a", {"model": "a"}, times, [float(i % 7) for i in range(30)]),
         Series("b", {"model": "b"}, times, [2.0] * 30)]
    by_title = {
        "A": PanelData(DATA, a), "S": PanelData(DATA, [Series("", {}, times, [0.07] * 30)]),
        "Tb": PanelData(DATA, [Series("x", {"model": "a"}, [2740.0], [3.0], "A"),
                               Series("y", {"model": "a"}, [2740.0], [4.0], "B")]),
        "G": PanelData(DATA, [Series("", {}, [2740.0], [42.0])]),
        "Txt": PanelData("no queries"), "Inner": PanelData(DATA, a),
        "After": PanelData(NO_DATA, cause="metric absent in ns: $x"),
    }
    return [by_title[p.panel["title"]] for p in layout(model, expand).panels()]


def test_layout_leaves_collapsed_rows_out_unless_expanded():
    model = _model()
    closed, opened = layout(model), layout(model, expand=True)
    assert [p.panel["title"] for p in closed.panels()] == ["A", "S", "Tb", "G", "Txt", "After"]
    assert closed.collapsed_rows == ["Two"] and closed.bottom == 15
    after = next(p for p in opened.items if p.panel["title"] == "After")
    assert "Inner" in [p.panel["title"] for p in opened.panels()] and after.y == 18
    assert closed.size_px() == (1600, 56 + 38 * 15 + 8)


def test_drawing_is_deterministic_and_sized_by_the_grid(tmp_path):
    from PIL import Image

    model = _model()
    for name in ("one.png", "two.png"):
        draw_dashboard(model, layout(model), _data(model), 1000, 2800, tmp_path / name)
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "two.png").read_bytes()
    with Image.open(tmp_path / "one.png") as image:
        assert image.size == (1600, 56 + 38 * 15 + 8)
    assert b"Software" not in (tmp_path / "one.png").read_bytes()
    draw_dashboard(model, layout(model, True), _data(model, True), 1000, 2800, tmp_path / "open.png")
    with Image.open(tmp_path / "open.png") as image:
        assert image.size == (1600, 56 + 38 * 24 + 8)


def test_table_merges_queries_by_labels():
    header, rows = table_rows({"fieldConfig": {"defaults": {"unit": "short"}}},
                              [Series("x", {"model": "a"}, [1.0], [3.0], "A"),
                               Series("y", {"model": "a"}, [1.0], [4.0], "B"),
                               Series("z", {"model": "b"}, [1.0], [5.0], "A")])
    assert header == ["model", "Value #A", "Value #B"]
    assert rows == [["a", "3", "4"], ["b", "5", ""]]


def test_the_page_escapes_and_lists_every_panel():
    manifest = {"prometheus_url": "http://p", "against": None, "dashboards": [{"before": None, "after": {
        "title": "<T>", "env": "dev", "uid": "t", "start": 0, "end": 60, "image": "dev/t.png", "width": 1600,
        "source": "out/grafana/dev/t.json", "collapsed_rows": [],
        "panels": [{"row": "", "title": "P", "description": "<b>", "type": "stat", "status": "no data",
                    "cause": "metric absent", "series": 0}]}}]}
    text = page(manifest)
    assert "&lt;T&gt;" in text and "&lt;b&gt;" in text and "No data</span>: metric absent" in text


def test_the_project_dashboards_lay_out():
    for path in sorted((REPO / "out/grafana").glob("*/*.json")):
        model = json.loads(path.read_text())
        placed = layout(model)
        assert placed.panels(), path
        assert all(0 <= p.x and p.x + p.w <= 24 for p in placed.items)
