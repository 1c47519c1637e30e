"""The Triton dashboard as rendered: variables, panels, units, queries, Grafana's format."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from gen.render.dashboards import build_dashboards
from gen.render.grafana_json import SCHEMA_VERSION, iter_panels
from gen.promql import metric_names, parse_grafana, substitute
from gen.settings import load_settings
from tests.conftest import REPO

SETTINGS = load_settings(REPO / "environments.yaml")
BUILT = build_dashboards(SETTINGS)
MODELS = {b.uid: b.model for b in BUILT}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# Metrics Triton labels with `model` (shared/triton/README.md); the others are per process.
PER_MODEL = re.compile(r"^nv_inference_")


def panels(model):
    return [p for p in iter_panels(model) if p["type"] != "row"]


def panel(model, title):
    (found,) = [p for p in panels(model) if p["title"] == title]
    return found


def exprs(model):
    for p in panels(model):
        for t in p["targets"]:
            yield p["title"], t["expr"]


@pytest.fixture(params=sorted(MODELS), ids=sorted(MODELS))
def model(request):
    return MODELS[request.param]


def test_one_dashboard_per_environment_with_stable_uid_and_title():
    assert sorted(MODELS) == ["triton-dev", "triton-prod"]
    assert MODELS["triton-dev"]["title"] == "Triton Inference Server (dev)"
    assert MODELS["triton-prod"]["title"] == "Triton Inference Server (prod)"
    assert all(len(uid) <= 40 for uid in MODELS)


def test_written_files_are_what_the_definitions_build():
    # out/ is committed: it must be exactly the build (gen build --check says the same, as CI runs it)
    for built in BUILT:
        on_disk = json.loads((REPO / "out" / built.json_path).read_text(encoding="utf-8"))
        assert on_disk == built.model
        configmap = yaml.safe_load((REPO / "out" / built.configmap_path).read_text(encoding="utf-8"))
        assert json.loads(configmap["data"][f"{built.uid}.json"]) == built.model


def test_variables(model):
    env = "dev" if model["uid"].endswith("-dev") else "prod"
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert list(variables) == ["datasource", "namespace", "model"]

    datasource = variables["datasource"]
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")

    namespace = variables["namespace"]
    assert namespace["query"] == "label_values(nv_inference_count, namespace)"
    assert namespace["current"]["value"] == f"triton-{env}"
    assert namespace["datasource"] == DATASOURCE
    assert namespace["refresh"] == 2  # on time range change

    model_var = variables["model"]
    assert model_var["query"] == 'label_values(nv_inference_count{namespace=~"$namespace"}, model)'
    assert model_var["multi"] is True and model_var["includeAll"] is True
    assert model_var["allValue"] == ".+"
    assert model_var["refresh"] == 2
    assert model_var["datasource"] == DATASOURCE


def test_grafana_10_11_save_format(model):
    assert model["schemaVersion"] == SCHEMA_VERSION >= 39
    for legacy in ("rows", "style", "hideControls", "sharedCrosshair", "__inputs", "gnetId", "id", "version"):
        assert legacy not in model
    text = json.dumps(model)
    # every datasource reference is an object, never a plain name or uid string
    for p in iter_panels(model):
        if p["type"] == "row":
            assert "datasource" not in p
            continue
        assert p["datasource"] == DATASOURCE
        for t in p["targets"]:
            assert t["datasource"] == DATASOURCE
            for legacy in ("intervalFactor", "step", "query", "target", "metric"):
                assert legacy not in t
        for legacy in ("span", "height", "minSpan", "error", "maxDataPoints"):
            assert legacy not in p
    assert '"datasource": "' not in text


def test_core_panels_of_the_reference_dashboard(model):
    types = {p["title"]: p["type"] for p in panels(model)}
    assert set(types.values()) <= {"timeseries", "stat"}  # no legacy graph panel

    rps = panel(model, "Requests per second (RPS)")
    assert rps["fieldConfig"]["defaults"]["unit"] == "reqps"
    assert "rate(nv_inference_request_success{" in rps["targets"][0]["expr"]

    latency = panel(model, "Average request latency")
    assert latency["fieldConfig"]["defaults"]["unit"] == "\u00b5s"
    expr = latency["targets"][0]["expr"]
    assert re.search(r"rate\(nv_inference_request_duration_us\{.*\n/\n.*rate\(nv_inference_request_success\{", expr, re.S)

    queue = panel(model, "Average queue time")
    assert queue["fieldConfig"]["defaults"]["unit"] == "\u00b5s"
    assert "rate(nv_inference_queue_duration_us{" in queue["targets"][0]["expr"]

    cpu = panel(model, "CPU utilization")
    assert cpu["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert "nv_cpu_utilization{" in cpu["targets"][0]["expr"]
    assert panel(model, "CPU memory used")["fieldConfig"]["defaults"]["unit"] == "bytes"

    total = panel(model, "Inferences in range")
    assert total["type"] == "stat"
    assert "nv_inference_count{" in total["targets"][0]["expr"]


def test_operator_panels_beyond_the_reference(model):
    failures = panel(model, "Failures by reason")
    assert "by (model, reason)" in failures["targets"][0]["expr"]
    assert "nv_inference_request_failure" in panel(model, "Error ratio by model")["targets"][0]["expr"]
    assert "nv_inference_pending_request_count" in panel(model, "Pending requests")["targets"][0]["expr"]
    breakdown = panel(model, "Latency breakdown")
    assert [t["legendFormat"] for t in breakdown["targets"]] == [
        "queue", "compute input", "compute infer", "compute output"
    ]
    batching = panel(model, "Batching efficiency")["targets"][0]["expr"]
    assert "rate(nv_inference_count{" in batching and "rate(nv_inference_exec_count{" in batching
    rows = [p["title"] for p in model["panels"] if p["type"] == "row"]
    assert rows == ["Overview", "Traffic and errors", "Latency", "Queue and batching", "CPU", "GPU (only with GPUs)"]


def test_every_panel_has_unit_description_and_queries(model):
    for p in panels(model):
        assert p["description"].strip(), p["title"]
        assert p["fieldConfig"]["defaults"].get("unit"), p["title"]
        assert p["targets"], p["title"]


def test_every_query_parses_as_promql_after_substitution(model):
    for title, expr in exprs(model):
        parse_grafana(expr)  # raises ValueError on invalid PromQL
    for variable in model["templating"]["list"]:
        if variable["type"] == "query":
            inner = re.fullmatch(r"label_values\((.*), *\w+\)", variable["query"]).group(1)
            parse_grafana(inner)


def test_every_query_filters_by_namespace_and_model(model):
    for title, expr in exprs(model):
        ast = parse_grafana(expr, {"namespace": "NS", "model": "MODEL"})
        names = metric_names(ast)
        assert names, title
        # every selector of the substituted query, one by one
        selectors = re.findall(
            r"((?:namespace_model:)?nv_[\w:]+)\{([^}]*)\}", substitute(expr, {"namespace": "NS", "model": "MODEL"})
        )
        assert set(names) == {metric for metric, _ in selectors}, (title, "a metric without a selector")
        for metric, matchers in selectors:
            assert 'namespace=~"NS"' in matchers, (title, metric)
            if PER_MODEL.match(metric):
                assert 'model=~"MODEL"' in matchers, (title, metric)


def test_every_rate_uses_rate_interval(model):
    for title, expr in exprs(model):
        for window in re.findall(r"\brate\([^\[]*\[([^\]]+)\]", expr):
            assert window == "$__rate_interval", (title, expr)
        for fn, window in re.findall(r"\b(irate|increase)\([^\[]*\[([^\]]+)\]", expr):
            # the one instant total over the dashboard's range is the exception (see the stat panel)
            assert window == "$__rate_interval" or (fn == "increase" and window == "$__range"), (title, expr)


def test_divisions_are_guarded_against_nan_and_inf(model):
    for title, expr in exprs(model):
        if "\n/\n" in expr:
            denominator = expr.split("\n/\n", 1)[1]
            assert denominator.endswith("> 0)"), (title, expr)


def test_microsecond_unit_is_the_micro_sign(model):
    units = {p["fieldConfig"]["defaults"]["unit"] for p in panels(model)}
    assert "\u00b5s" in units
    assert "\u03bcs" not in units  # Greek mu: Grafana would not recognise it


def test_grid_positions_do_not_overlap(model):
    occupied = {}
    open_panels = [p for p in model["panels"]]  # collapsed rows' children are not on the grid
    for p in open_panels:
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in occupied, (p["title"], occupied.get((x, y)))
                occupied[(x, y)] = p["title"]
        assert g["x"] + g["w"] <= 24


def test_panel_ids_unique(model):
    ids = [p["id"] for p in iter_panels(model)]
    assert len(ids) == len(set(ids))


def test_golden_summaries():
    """tests/golden/*.txt are reviewed summaries of each dashboard; regenerate on purpose with
    `python -m tests.golden update` and read the diff."""
    from tests.golden import HERE, expected_files

    expected = expected_files()
    assert sorted(p.name for p in HERE.glob("*.txt")) == sorted(expected)
    for name, text in expected.items():
        assert (HERE / name).read_text(encoding="utf-8") == text, f"tests/golden/{name} differs"
