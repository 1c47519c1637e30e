"""Every rendered dashboard is already in the form Grafana saves: loaded into Grafana's own types
(grafana-foundation-sdk, generated from Grafana's schema) and serialised back, it is the same JSON.
So Grafana's frontend migrations have nothing to change, and a dashboard read back from Grafana
equals the one `gen push` sent (no phantom conflicts, no phantom diffs)."""

from __future__ import annotations

import json

import pytest

from gen.render.grafana_json import PLUGIN_VERSION, iter_panels
from tests.conftest import REPO

DASHBOARDS = sorted((REPO / "out/grafana").glob("*/*.json"))


def _round_trip(model: dict) -> dict:
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    register_default_plugins()
    return json.loads(json.dumps(Dashboard.from_json(model), cls=JSONEncoder))


def test_there_are_dashboards_to_check():
    assert DASHBOARDS


# A Prometheus annotation query's own fields: Grafana stores them with the query (its Prometheus
# datasource reads them), but the SDK's generic AnnotationQuery model has no place for them.
PROMETHEUS_ANNOTATION_FIELDS = {"expr", "step", "tagKeys", "textFormat", "titleFormat", "useValueForTime"}


def _without_datasource_fields(model: dict) -> dict:
    model = json.loads(json.dumps(model))
    for annotation in model["annotations"]["list"]:
        for key in PROMETHEUS_ANNOTATION_FIELDS - {"expr"}:
            annotation.pop(key, None)
    return model


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_grafana_schema_round_trip_changes_nothing(path):
    model = json.loads(path.read_text())
    assert _without_datasource_fields(_round_trip(model)) == _without_datasource_fields(model)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_nothing_left_for_frontend_migrations(path):
    model = json.loads(path.read_text())
    for panel in iter_panels(model):
        if panel["type"] == "row":
            continue
        assert panel["pluginVersion"] == PLUGIN_VERSION, panel["title"]
        legend = (panel.get("options") or {}).get("legend")
        if legend is not None:
            assert legend["showLegend"] == (legend.get("displayMode") != "hidden"), panel["title"]
    for variable in model["templating"]["list"]:
        if variable.get("multi"):
            assert isinstance(variable["current"]["value"], list), variable["name"]
            assert isinstance(variable["current"]["text"], list), variable["name"]


def test_the_check_can_fail():
    model = json.loads(DASHBOARDS[0].read_text())
    panel = next(p for p in iter_panels(model) if p["type"] == "stat")
    del panel["options"]["wideLayout"]  # what Grafana's stat panel adds on load
    assert _round_trip(model) != model
