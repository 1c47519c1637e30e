"""Turn grafanalib's output into the JSON that current Grafana (10, 11) saves.

grafanalib 0.7 emits schemaVersion 12, datasources as plain strings and a number of legacy
fields (span, height, rows, intervalFactor, ...). Grafana would migrate such a dashboard on
load, so a later comparison with what Grafana holds would show differences that nobody made.
This module is the one place where that output is normalised.
"""

from __future__ import annotations

from typing import Any

# Grafana 10.3 .. 11.2 save schemaVersion 39; later versions migrate 39 without changing any field
# this tool emits (their migrations touch angular panels, empty refresh and time pickers).
SCHEMA_VERSION = 39

# The panel plugin version every panel claims. Grafana's frontend runs a panel's migration when the
# saved pluginVersion is missing or older than the plugin: a stat panel without one is migrated as
# if it came from Grafana 6.1 (and gains min 0 and max 1). With this set, nothing is migrated and
# the dashboard read back equals the one pushed. It is the version of Grafana's schema that
# tests/test_grafana_schema.py checks the dashboards against (grafana-foundation-sdk).
PLUGIN_VERSION = "11.6.0"

PROMETHEUS = "prometheus"

# The built-in annotation every dashboard Grafana saves carries; without it Grafana adds it on
# load and the saved copy differs from ours.
BUILTIN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}

# Fields grafanalib emits that Grafana >= 8 no longer reads (or drops when it saves).
_LEGACY_DASHBOARD_KEYS = {"__inputs", "gnetId", "hideControls", "rows", "sharedCrosshair", "style", "id", "version"}
_LEGACY_PANEL_KEYS = {
    "cacheTimeout", "editable", "error", "height", "hideTimeOverride", "maxDataPoints", "minSpan",
    "span", "thresholdType", "thresholds", "repeatDirection", "maxPerRow",
}
_TARGET_KEYS_KEPT = {"datasource", "expr", "format", "instant", "interval", "legendFormat", "refId", "hide"}
# Every variable carries these in Grafana's schema (the interval settings too, inert elsewhere);
# written out so that a load and save in Grafana adds nothing.
TEMPLATE_DEFAULTS = {"allowCustomValue": True, "auto": False, "auto_count": 30, "auto_min": "10s", "skipUrlSync": False}
# useTags & co. are Grafana 6; `definition` is a display copy of the query that Grafana's schema
# does not have.
_TEMPLATE_LEGACY = {"useTags", "tagsQuery", "tagValuesQuery", "definition"}
# What Grafana's stat panel adds on load when missing (Grafana 10.4+ options).
_STAT_OPTION_DEFAULTS = {"percentChangeColorMode": "standard", "showPercentChange": False, "wideLayout": True}


# What Grafana's table panel (Grafana 8+) adds on load when missing; grafanalib's Table also emits
# fields of the old Angular table that the new one drops on save.
_TABLE_OPTION_DEFAULTS = {"cellHeight": "sm", "frameIndex": 0, "showTypeIcons": False,
                          "footer": {"show": False, "reducer": [], "countRows": False}}
_TABLE_LEGACY_KEYS = {"columns", "fontSize", "color", "mappings", "styles", "scroll", "sort", "transform"}


# A threshold step's `value: null` means "from minus infinity": it must survive the None pruning.
_NULL_MEANINGFUL = frozenset({"value"})


_SCALARS = frozenset({str, int, bool, type(None)})  # floats are looked at: see ReprFloat


class ReprFloat(float):
    """A float below 1e-4 or from 1e16 up, for which repr() (and so json.dumps) uses an exponent
    and orjson does not. The writer (dashboards.dashboard_json) writes it with json, exactly."""


class NotAJSONNumber(ValueError):
    """NaN or an infinity: json.dumps would write a token no JSON parser (Grafana's included) reads."""


def _plain_float(value: float) -> float:
    if 1e-4 <= abs(value) < 1e16 or value == 0.0:
        return value
    if value != value or value in (float("inf"), float("-inf")):
        raise NotAJSONNumber(f"a value is {value}, which is not a number JSON (or Grafana) can read")
    return ReprFloat(value)


_PLAIN_TYPES = _SCALARS | {float, dict, list, tuple}


def to_plain(value: Any) -> Any:
    """grafanalib objects to plain JSON values, dropping None (Grafana omits unset fields).
    Plain values, most of a dashboard's 1,500 nodes, are told apart by their exact type first:
    asking each string for to_json_data cost more than the rest of the walk."""
    kind = type(value)
    if kind is dict:
        plain = {}
        for key, item in value.items():
            if type(item) not in _SCALARS:
                plain[key] = to_plain(item)
            elif item is not None or key in _NULL_MEANINGFUL:
                plain[key] = item
        return plain
    if kind is list or kind is tuple:
        return [item if type(item) in _SCALARS else to_plain(item) for item in value]
    if kind in _SCALARS:
        return value
    if kind is float:
        return _plain_float(value)
    while hasattr(value, "to_json_data"):
        value = value.to_json_data()
    if type(value) in _PLAIN_TYPES:
        return to_plain(value)  # what to_json_data returns: the fast paths above
    if isinstance(value, dict):
        return {
            key: to_plain(item)
            for key, item in value.items()
            if item is not None or key in _NULL_MEANINGFUL
        }
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    return value


def datasource_ref(value: Any, default_type: str = PROMETHEUS) -> Any:
    """A datasource as Grafana >= 8.3 stores it: an object with type and uid, never a name."""
    if isinstance(value, str):
        return {"type": default_type, "uid": value}
    return value


def _target(target: dict) -> dict:
    out = {key: value for key, value in target.items() if key in _TARGET_KEYS_KEPT}
    if not out.get("hide"):
        out.pop("hide", None)
    if not out.get("interval"):
        out.pop("interval", None)
    instant = bool(out.get("instant"))
    out["instant"] = instant
    out["range"] = not instant
    out["editorMode"] = "code"
    out.setdefault("format", "time_series")
    return out


def _panel(panel: dict, inherited_datasource: Any) -> dict:
    out = {key: value for key, value in panel.items() if key not in _LEGACY_PANEL_KEYS}
    if panel.get("type") == "row":
        # A row carries only its layout and, when collapsed, its panels.
        row = {key: out[key] for key in ("collapsed", "gridPos", "id", "panels", "title", "type") if key in out}
        row["panels"] = [_panel(child, inherited_datasource) for child in row.get("panels", [])]
        return row
    datasource = datasource_ref(out.get("datasource", inherited_datasource))
    out["datasource"] = datasource
    out["targets"] = [_target({**target, "datasource": datasource_ref(target.get("datasource", datasource))})
                      for target in out.get("targets", [])]
    if not out.get("repeat"):
        out.pop("repeat", None)
    for key in ("links", "transformations"):
        if out.get(key) == []:
            out.pop(key)
    out.setdefault("transparent", False)
    out.setdefault("repeatDirection", "h")
    out["pluginVersion"] = PLUGIN_VERSION
    options = out.get("options")
    if isinstance(options, dict):
        legend = options.get("legend")
        if isinstance(legend, dict):
            # Grafana's migration derives showLegend from displayMode when it is missing.
            legend["showLegend"] = legend.get("displayMode") != "hidden"
        if out.get("type") == "stat":
            for key, value in _STAT_OPTION_DEFAULTS.items():
                options.setdefault(key, value)
    if out.get("type") == "table":
        for key in _TABLE_LEGACY_KEYS:
            out.pop(key, None)
        options = out.setdefault("options", {})
        for key, value in _TABLE_OPTION_DEFAULTS.items():
            options.setdefault(key, value)
        custom = out.setdefault("fieldConfig", {}).setdefault("defaults", {}).setdefault("custom", {})
        custom.setdefault("inspect", False)
    return out


def panel_form(panel: dict, inherited_datasource: Any) -> dict:
    """One panel (plain JSON) in the normal form `normalise` gives it inside a dashboard."""
    return _panel(panel, inherited_datasource)


def _template(template: dict) -> dict:
    out = {key: value for key, value in template.items() if key not in _TEMPLATE_LEGACY}
    for key, value in TEMPLATE_DEFAULTS.items():
        out.setdefault(key, value)
    if out.get("type") == "query":
        out["datasource"] = datasource_ref(out.get("datasource"))
    current = out.get("current")
    if isinstance(current, dict):
        current = {key: value for key, value in current.items() if key != "tags"}
        if out.get("multi"):
            # A multi-select variable's selection is a list; Grafana turns a single value into
            # one on load, and the saved copy would differ from ours.
            for key in ("text", "value"):
                if key in current and not isinstance(current[key], list):
                    current[key] = [current[key]]
        out["current"] = current
    return out


def normalise(dashboard: Any, default_datasource: str = "${datasource}") -> dict:
    """The dashboard as Grafana 10/11 would save it, from a grafanalib Dashboard or a dict."""
    plain = to_plain(dashboard)
    out = {key: value for key, value in plain.items() if key not in _LEGACY_DASHBOARD_KEYS}
    out["schemaVersion"] = SCHEMA_VERSION
    out["panels"] = [_panel(panel, default_datasource) for panel in plain.get("panels", [])]
    _assign_panel_ids(out)
    out["templating"] = {"list": [_template(t) for t in plain.get("templating", {}).get("list", [])]}
    # Grafana's schema gives every annotation builtIn and hide; written out so a save adds nothing.
    annotations = [{"builtIn": 0, "hide": False, **a}
                   for a in plain.get("annotations", {}).get("list", []) if not a.get("builtIn")]
    out["annotations"] = {"list": [BUILTIN_ANNOTATION, *annotations]}
    timepicker = plain.get("timepicker") or {}
    out["timepicker"] = {k: v for k, v in timepicker.items() if k not in ("time_options", "nowDelay")}
    out["timepicker"].setdefault("hidden", False)
    out.setdefault("fiscalYearStartMonth", 0)
    out.setdefault("liveNow", False)
    out.setdefault("weekStart", "")
    return out


def _assign_panel_ids(model: dict) -> None:
    """Give panels without an id the next free one, in layout order, as grafanalib's
    auto_panel_ids would (done here on plain dicts: it is much cheaper than attr.evolve)."""
    panels = list(iter_panels(model))
    used = {panel["id"] for panel in panels if panel.get("id")}
    next_id = 1
    for panel in panels:
        if panel.get("id"):
            continue
        while next_id in used:
            next_id += 1
        panel["id"] = next_id
        used.add(next_id)


def iter_panels(model: dict):
    """Every panel of a dashboard model, rows included, collapsed rows' panels too."""
    for panel in model.get("panels", []):
        yield panel
        yield from panel.get("panels", []) if panel.get("type") == "row" else ()
