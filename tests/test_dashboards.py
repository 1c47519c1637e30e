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

# Metrics Triton labels with `model` (docs/triton-facts.md); the others are per process.
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
    assert list(variables) == ["datasource", "namespace", "model", "version"]

    datasource = variables["datasource"]
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")

    namespace = variables["namespace"]
    # Only the environment's namespace: the overview's recording rules exist for it alone.
    assert namespace["query"] == f'label_values(nv_inference_count{{namespace="triton-{env}"}}, namespace)'
    assert namespace["current"]["value"] == f"triton-{env}"
    assert namespace["datasource"] == DATASOURCE
    assert namespace["refresh"] == 2  # on time range change

    model_var = variables["model"]
    assert model_var["query"] == 'label_values(nv_inference_count{namespace=~"$namespace"}, model)'
    assert model_var["multi"] is True and model_var["includeAll"] is True
    assert model_var["allValue"] == ".+"
    assert model_var["refresh"] == 2
    assert model_var["datasource"] == DATASOURCE

    version = variables["version"]
    assert version["query"] == 'label_values(nv_inference_count{namespace=~"$namespace", model=~"$model"}, version)'
    assert version["multi"] is True and version["includeAll"] is True and version["allValue"] == ".+"
    assert version["refresh"] == 2


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
    assert set(types.values()) <= {"timeseries", "stat", "table"}  # no legacy graph panel

    rps = panel(model, "Requests per second (RPS)")
    assert rps["fieldConfig"]["defaults"]["unit"] == "reqps"
    assert "namespace_model:nv_inference_request_success:rate5m{" in rps["targets"][0]["expr"]

    latency = panel(model, "Average request latency")
    assert latency["fieldConfig"]["defaults"]["unit"] == "\u00b5s"
    expr = latency["targets"][0]["expr"]
    # per model from the recording rules: rate(duration) / rate(success), both recorded over 5m
    assert re.search(r"nv_inference_request_duration_us:rate5m\{.*\n/\n.*nv_inference_request_success:rate5m\{",
                     expr, re.S)

    queue = panel(model, "Average queue time")
    assert queue["fieldConfig"]["defaults"]["unit"] == "\u00b5s"
    assert "nv_inference_queue_duration_us:rate5m{" in queue["targets"][0]["expr"]

    # Triton's CPU and memory figures are the node's (/proc inside a container): titled so
    cpu = panel(model, "Node CPU utilization (as Triton sees it)")
    assert cpu["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert "nv_cpu_utilization{" in cpu["targets"][0]["expr"]
    memory = panel(model, "Node memory used (as Triton sees it)")
    assert memory["fieldConfig"]["defaults"]["unit"] == "bytes"
    assert ["nv_cpu_memory_used_bytes" in memory["targets"][0]["expr"],
            "nv_cpu_memory_total_bytes" in memory["targets"][1]["expr"]] == [True, True]

    total = panel(model, "Inferences in range")
    assert total["type"] == "stat"
    assert "nv_inference_count{" in total["targets"][0]["expr"]


def test_operator_panels_beyond_the_reference(model):
    failures = panel(model, "Failures by reason")
    assert "by (model, reason)" in failures["targets"][0]["expr"]
    assert "nv_inference_request_errors:rate5m" in panel(model, "Error ratio by model")["targets"][0]["expr"]
    assert "nv_inference_pending_request_count" in panel(model, "Pending requests")["targets"][0]["expr"]
    breakdown = panel(model, "Latency breakdown")
    assert [t["legendFormat"] for t in breakdown["targets"]] == [
        "queue", "compute input", "compute infer", "compute output"
    ]
    batching = panel(model, "Batching efficiency")["targets"][0]["expr"]
    assert "rate(nv_inference_count{" in batching and "rate(nv_inference_exec_count{" in batching
    rows = [(p["title"], p["collapsed"]) for p in model["panels"] if p["type"] == "row"]
    assert rows == [
        ("Overview", False), ("Traffic and errors", False), ("Latency", False), ("Queue and batching", False),
        ("Node (as Triton sees it)", False), ("Loaded models", False), ("Pods", False),
        ("Versions ($version)", False), ("Tail latency", False), ("Errors and overload", False),
        ("Error budget (availability SLO over 30d)", True), ("Response cache (only with the cache on)", True), ("GPU (only with GPUs)", True),
    ]


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


SELECTOR = re.compile(r"\b((?:namespace_model:)?[a-zA-Z_][\w:]*)\{([^}]*)\}")
# Per model: Triton's per-model series, our recorded series and the cache's per-model counters.
MODEL_METRICS = re.compile(r"^(nv_inference_|namespace_model:|nv_cache_\w+_per_model)")
KUBERNETES = re.compile(r"^(container_|kube_)")


def test_every_query_filters_by_namespace_and_model(model):
    values = {"namespace": "NS", "model": "MODEL", "version": "VERSION"}
    for title, expr in exprs(model):
        names = metric_names(parse_grafana(expr, values))
        assert names, title
        selectors = SELECTOR.findall(substitute(expr, values))
        assert set(names) == {metric for metric, _ in selectors}, (title, "a metric without a selector")
        for metric, matchers in selectors:
            assert 'namespace=~"NS"' in matchers, (title, metric)
            # energy is per GPU: per inference means all models of the pod together
            if MODEL_METRICS.match(metric) and title != "GPU energy per inference":
                assert 'model=~"MODEL"' in matchers, (title, metric)
            # Only the Versions row follows $version: the recording rules carry no version.
            assert ('version=~"VERSION"' in matchers) == (title.endswith("by version")), (title, metric)


def test_pod_resources_are_restricted_to_triton_pods(model):
    """cAdvisor and kube-state-metrics describe every pod of the namespace: each query keeps only
    the pods Prometheus scrapes as Triton."""
    pods = [p for p in panels(model) if any(KUBERNETES.match(m) for _, m in _metrics(p))]
    assert {p["title"] for p in pods} == {
        "Triton instances up against expected", "Container restarts", "Pod CPU usage against limit",
        "Pod CPU throttling", "Pod memory working set against limit", "Pod CPU against limit",
    }
    for p in pods:
        for t in p["targets"]:
            if not any(KUBERNETES.match(m) for m in metric_names(parse_grafana(t["expr"]))):
                continue  # Triton's own targets (up)
            if "kube_deployment_spec_replicas" in t["expr"]:
                continue  # desired replicas of the namespace's Deployments
            assert '\nand on (namespace, pod)\nup{job="triton", namespace=~"$namespace"}' in t["expr"], t["expr"]
            if "(container_" in t["expr"]:  # cAdvisor
                assert 'container!="", container!="POD"' in t["expr"]


def test_joins_match_on_labels_both_sides_keep(model):
    """`a and on (namespace, pod) b` matches nothing when a was summed by pod alone: every label a
    join matches on must survive on both sides."""
    import promql_parser as pp

    from gen.validate import promql_ast

    joins = 0
    for title, expr in exprs(model):
        for node, _ in promql_ast.walk(parse_grafana(expr)):
            if isinstance(node, pp.BinaryExpr) and node.modifier and node.modifier.matching and "Include" in str(
                    node.modifier.matching.type):
                on = set(node.modifier.matching.labels)
                for side in (node.lhs, node.rhs):
                    labels = promql_ast.output_labels(side)
                    assert labels is None or on <= labels, (title, sorted(on), sorted(labels or ()), expr)
                joins += 1
    assert joins >= 6


def _metrics(p):
    for t in p["targets"]:
        for name in metric_names(parse_grafana(t["expr"])):
            yield t["refId"], name


def test_overview_agrees_with_the_namespace_picker(model):
    """The overview reads recorded series, which the rules record for the environment's namespace
    only; the namespace variable offers exactly that namespace, so a stat always shows what the
    pickers say."""
    import yaml

    env = model["uid"].rsplit("-", 1)[1]
    namespace = SETTINGS.environments[env].namespace
    variable = {v["name"]: v for v in model["templating"]["list"]}["namespace"]
    selector = re.fullmatch(r"label_values\((.*), namespace\)", variable["query"]).group(1)
    assert SELECTOR.fullmatch(selector).group(2) == f'namespace="{namespace}"'
    rules = yaml.safe_load((REPO / f"out/{env}/prometheusrule-triton.yaml").read_text())
    recorded = {r["record"]: r["expr"] for g in rules["spec"]["groups"] for r in g["rules"] if "record" in r}
    read = {name for _, expr in exprs(model) for name in metric_names(parse_grafana(expr)) if ":" in name}
    assert read and read <= set(recorded)
    for name in read:
        assert f'namespace="{namespace}"' in recorded[name], name
    # Pod resources come from cAdvisor and kube-state-metrics, restricted to Triton's pods.
    overview = [p for p in panels(model) if p["type"] == "stat" and p["title"] != "Pod CPU against limit"]
    assert all(":" in name for p in overview[1:] for _, name in _metrics(p))


def test_runbook_links_point_at_existing_sections(model):
    anchors = {line[3:].strip().lower() for line in (REPO / "docs/runbooks.md").read_text().splitlines()
               if line.startswith("## ")}
    env = SETTINGS.environments[model["uid"].rsplit("-", 1)[1]]
    linked = 0
    for p in panels(model):
        for link in p.get("links", []):
            base, anchor = link["url"].split("#")
            assert base == env.runbooks_url and anchor in anchors, link
            assert link["title"].lower() == f"runbook: {anchor}" and link["targetBlank"] is True
            linked += 1
    assert linked >= 10
    for title in ("Error ratio", "Average latency", "Failures by reason", "Seconds of backlog",
                  "Triton instances up against expected", "Node CPU utilization (as Triton sees it)"):
        assert panel(model, title)["links"], title


def test_firing_alerts_annotation(model):
    (annotation,) = [a for a in model["annotations"]["list"] if not a.get("builtIn")]
    assert annotation["datasource"] == DATASOURCE and annotation["enable"] is True
    assert annotation["expr"] == 'ALERTS{alertstate="firing", alertname=~"Triton.+", namespace=~"$namespace"}'
    assert annotation["titleFormat"] == "{{alertname}}"
    parse_grafana(annotation["expr"])


def test_loaded_models_table(model):
    table = panel(model, "Loaded models")
    assert table["type"] == "table"
    assert all(t["instant"] is True and t["format"] == "table" for t in table["targets"])
    organize = table["transformations"][1]["options"]
    assert table["transformations"][0]["id"] == "merge"
    assert organize["renameByName"] == {"Value #A": "Pods", "Value #B": "Requests/s", "Value #C": "Error ratio",
                                        "Value #D": "Average latency"}
    units = {o["matcher"]["options"]: o["properties"][0]["value"] for o in table["fieldConfig"]["overrides"]}
    assert units == {"Pods": "short", "Requests/s": "reqps", "Error ratio": "percentunit", "Average latency": "\u00b5s"}
    assert table["options"]["sortBy"] == [{"displayName": "Requests/s", "desc": True}]
    for t in table["targets"]:
        assert "by (model, version)" in t["expr"], t["expr"]


def test_tail_latency_is_absent_tolerant(model):
    for title in ("Request latency p50 / p90 / p99", "Queue time p50 / p90 / p99"):
        p = panel(model, title)
        assert "summary_latencies=true" in p["description"] and "summary_latencies=true" in p["fieldConfig"]["defaults"]["noValue"]
        assert ">= 0)" in p["targets"][0]["expr"]  # the NaN before traffic is dropped
    first = panel(model, "Time to first response p50 / p90 / p99")
    assert [t["expr"].split(",")[0] for t in first["targets"]] == [
        "histogram_quantile(0.5", "histogram_quantile(0.9", "histogram_quantile(0.99"]
    assert all("nv_inference_first_response_histogram_ms_bucket{" in t["expr"] and "model, le)" in t["expr"]
               for t in first["targets"])


def test_errors_explain_rejected_and_queue_full(model):
    reasons = panel(model, "Failures by reason")["description"]
    assert "REJECTED: a request timed out in the queue" in reasons
    assert "counted by no Triton metric" in reasons
    backlog = panel(model, "Seconds of backlog")
    assert backlog["fieldConfig"]["defaults"]["unit"] == "s"
    assert backlog["targets"][0]["expr"].startswith("sum by (model) (nv_inference_pending_request_count{")


def test_core_panels_stay_at_the_top(model):
    # The seed dashboard's five, CPU as the pod's against its limit (the seed meant the server's).
    core = ["Requests per second (RPS)", "Average request latency", "Average queue time",
            "Pod CPU against limit", "Inferences in range"]
    # On the first screen at 1080p: Grafana shows 24 grid lines (30 px each) without scrolling.
    assert {t: panel(model, t)["gridPos"]["y"] + panel(model, t)["gridPos"]["h"] <= 24 for t in core} == \
        {t: True for t in core}
    cpu = panel(model, "Pod CPU against limit")
    assert "container_cpu_usage_seconds_total" in cpu["targets"][0]["expr"]
    assert 'kube_pod_container_resource_limits{' in cpu["targets"][0]["expr"]
    assert 'resource="cpu"' in cpu["targets"][0]["expr"]
    lowest_core = max(panel(model, t)["gridPos"]["y"] for t in core)
    # The node's CPU, as Triton reports it, stays below.
    assert panel(model, "Node CPU utilization (as Triton sees it)")["gridPos"]["y"] > lowest_core
    rows = [p for p in model["panels"] if p["type"] == "row"]
    new_rows = rows[rows.index(next(r for r in rows if r["title"] == "Loaded models")):]
    assert all(r["gridPos"]["y"] > lowest_core for r in new_rows)


def test_error_ratio_panels_read_what_the_alerts_read(model):
    # The alerts leave CANCELED out (alerts/_slo.py): the panels read the same recorded series.
    for title in ("Error ratio", "Error ratio by model"):
        expr = panel(model, title)["targets"][0]["expr"]
        assert "namespace_model:nv_inference_request_errors:rate5m{" in expr, title
        assert "namespace_model:nv_inference_requests:rate5m{" in expr, title
        assert "nv_inference_request_failure:rate5m" not in expr, title


def test_expected_replicas_are_the_deployment_the_alert_reads(model):
    expected = panel(model, "Triton instances up against expected")
    exprs = {t["legendFormat"]: t["expr"] for t in expected["targets"]}
    assert 'deployment="triton"' in exprs["expected"]
    assert 'kube_pod_status_ready{' in exprs["ready"] and 'condition="true"' in exprs["ready"]


def test_every_rate_uses_rate_interval(model):
    for p in panels(model):
        for t in p["targets"]:
            expr = t["expr"]
            for window in re.findall(r"\brate\([^\[]*\[([^\]]+)\]", expr):
                assert window == "$__rate_interval", (p["title"], expr)
            for fn, window in re.findall(r"\b(irate|increase)\([^\[]*\[([^\]]+)\]", expr):
                # instant totals over the dashboard's range are the exception (stat and table panels)
                assert window == "$__rate_interval" or (fn == "increase" and window == "$__range" and t["instant"]), (
                    p["title"], expr)


def test_divisions_are_guarded_against_nan_and_inf(model):
    for title, expr in exprs(model):
        if "\n/\n" in expr:
            # `and on (namespace, pod) up{...}` (Triton pods only) binds looser than `/`
            denominator = expr.split("\n/\n", 1)[1].split("\nand on (", 1)[0]
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


def test_a_broken_annotation_query_is_found_by_validate(project):
    """Annotation queries are part of what validate checks (they run on every graph)."""
    from tests.conftest import run_gen

    path = project / "out/grafana/dev/triton-dev.json"
    dashboard = json.loads(path.read_text())
    (annotation,) = [a for a in dashboard["annotations"]["list"] if not a.get("builtIn")]
    annotation["expr"] = annotation["expr"].replace("ALERTS{", "ALERTS{{")
    path.write_text(json.dumps(dashboard))
    result = run_gen("validate", "--format", "json", cwd=project)
    assert result.returncode == 1
    found = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "target-promql"]
    assert [f["object"] for f in found] == ["triton-dev / annotation 'Firing Triton alerts'"]


def test_queue_fill_only_for_models_whose_cap_the_settings_know():
    settings = load_settings(REPO / "environments.yaml")
    for built in build_dashboards(settings):
        caps = {name: m.max_queue_size for name, m in built.env.models.items() if m.max_queue_size}
        panels = [p for p in iter_panels(built.model) if p.get("title") == "Queue fill against max_queue_size"]
        if not caps:
            assert panels == [], built.env.name
            continue
        (panel,) = panels
        exprs = [t["expr"] for t in panel["targets"]]
        assert len(exprs) == len(caps)
        for (name, cap), expr in zip(sorted(caps.items()), exprs):
            assert f'model="{name}"' in expr and expr.endswith(f" / {cap}"), expr
        assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"


def test_error_budget_row_reads_the_slo_records():
    settings = load_settings(REPO / "environments.yaml")
    for built in build_dashboards(settings):
        (row,) = [p for p in built.model["panels"] if p.get("title", "").startswith("Error budget")]
        assert row["collapsed"] is True
        exprs = " ".join(t["expr"] for p in row["panels"] for t in p["targets"])
        window = built.env.slo.window
        for record in ("slo_budget_ratio", f"slo_budget_remaining{window}", "ratio_rate1h", "ratio_rate6h"):
            assert f"namespace_model:nv_inference_request_errors:{record}" in exprs, record
