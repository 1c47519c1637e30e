"""What Grafana does to an older dashboard when it loads it, for the parts a Prometheus dashboard
uses, so that an import starts from the dashboard Grafana 11 would show and save:

- datasources: names and `${DS_...}` inputs become references `{type, uid}` (schemaVersion 33
  and 36); an external export's inputs point at a `datasource` variable, added when missing;
- `graph` becomes `timeseries` and `singlestat` becomes `stat` (Grafana 11 without Angular
  migrates them on load: unit, min, max, decimals, legend, stacking, fill and line width carried over);
- then the project's own normal form (gen/render/grafana_json.normalise): the one every rendered
  dashboard passes through, so import and render are compared in one form.

What is not migrated here (other Angular panels) stays as it is and is named in a warning.
"""

from __future__ import annotations

import copy
from typing import Any

from gen.importer.read import Source
from gen.render.grafana_json import iter_panels, normalise

DATASOURCE_VARIABLE = "datasource"
ANGULAR_LEFT_AS_IS = {"grafana-piechart-panel", "grafana-worldmap-panel", "table-old", "grafana-clock-panel",
                      "natel-discrete-panel", "flant-statusmap-panel"}


def migrate(source: Source, warnings: list[str], datasource_uid: str | None = None) -> dict[str, Any]:
    """The dashboard as Grafana would load it, in the project's normal form. With
    `datasource_uid`, every Prometheus datasource points at it (`${datasource}`, --env-variables)."""
    model = copy.deepcopy(source.dashboard)
    source.retarget = datasource_uid is not None
    # A panel without a datasource reads Grafana's default one; the build gives every panel the
    # dashboard's datasource variable, which defaults to it: the variable is added for them too.
    inherits = any(p.get("type") != "row" and p.get("datasource") is None for p in iter_panels(model))
    placeholder = _datasource_placeholder(model, source, datasource_uid, inherits)
    if inherits:
        warnings.append("panels without a datasource read Grafana's default one: they now read the "
                        "${datasource} variable, which defaults to it")
    default = {"type": "prometheus", "uid": placeholder} if placeholder else None
    for index, panel in enumerate(iter_panels(model)):
        if panel.get("type") == "graph":
            _graph_to_timeseries(panel)
        elif panel.get("type") == "singlestat":
            _singlestat_to_stat(panel)
        elif panel.get("type") in ANGULAR_LEFT_AS_IS:
            warnings.append(f"panels ({panel.get('title', '?')}): type {panel['type']} is an Angular panel Grafana 11 "
                            "no longer draws; imported as it is")
        if panel.get("type") != "row":
            _datasources(panel, source, placeholder, default)
    for variable in (model.get("templating") or {}).get("list") or []:
        if isinstance(variable, dict) and variable.get("type") == "query":
            variable["datasource"] = _ref(variable.get("datasource"), source, placeholder, default)
    for annotation in (model.get("annotations") or {}).get("list") or []:
        if isinstance(annotation, dict) and not annotation.get("builtIn"):
            annotation["datasource"] = _ref(annotation.get("datasource"), source, placeholder, default)
    for key in ("__inputs", "__requires", "__elements"):
        model.pop(key, None)
    return normalise(model, default_datasource=default)


def _datasource_placeholder(model: dict, source: Source, forced: str | None, inherits: bool = False) -> str | None:
    """The uid datasource inputs (and, when forced, every Prometheus datasource) point at: the
    dashboard's datasource variable, added when the dashboard has none."""
    if not source.inputs and not forced and not inherits:
        return None
    templating = model.setdefault("templating", {}).setdefault("list", [])
    existing = next((v for v in templating if isinstance(v, dict) and v.get("type") == "datasource"), None)
    if existing is None:
        templating.insert(0, {"name": DATASOURCE_VARIABLE, "label": "Data source", "type": "datasource",
                              "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "",
                              "includeAll": False, "multi": False, "options": []})
        name = DATASOURCE_VARIABLE
    else:
        name = str(existing.get("name") or DATASOURCE_VARIABLE)
    return "${" + name + "}"


def _ref(value: Any, source: Source, placeholder: str | None, default: dict | None) -> Any:
    """A datasource as a reference. Inputs (${DS_...}) point at the placeholder; with
    --env-variables (source.retarget) every Prometheus datasource does."""
    everything = placeholder is not None and source.retarget
    if isinstance(value, str):
        if value in source.inputs or (everything and value not in ("-- Grafana --", "-- Mixed --", "-- Dashboard --")):
            return {"type": source.inputs.get(value, "prometheus"), "uid": placeholder or value}
        if value.startswith("-- ") and value.endswith(" --"):
            return {"type": "datasource", "uid": value.strip("- ").lower()} if value != "-- Grafana --" else \
                {"type": "grafana", "uid": "-- Grafana --"}
        return {"type": "prometheus", "uid": value}
    if isinstance(value, dict):
        uid = value.get("uid")
        if isinstance(uid, str) and (uid in source.inputs or (everything and value.get("type", "prometheus")
                                                               == "prometheus")):
            return {**value, "uid": placeholder or uid}
        return value
    return default if value is None else value


def _datasources(panel: dict, source: Source, placeholder: str | None, default: dict | None) -> None:
    if "datasource" in panel or default is not None:
        panel["datasource"] = _ref(panel.get("datasource"), source, placeholder, default)
    for target in panel.get("targets") or []:
        if isinstance(target, dict) and ("datasource" in target or default is not None):
            target["datasource"] = _ref(target.get("datasource"), source, placeholder, panel.get("datasource"))


def _graph_to_timeseries(panel: dict) -> None:
    """Grafana's graph -> timeseries migration (public/app/plugins/panel/timeseries/migrations),
    for the options a Prometheus graph uses."""
    yaxes = panel.pop("yaxes", None) or [{}]
    left = yaxes[0] if isinstance(yaxes, list) and yaxes and isinstance(yaxes[0], dict) else {}
    defaults: dict[str, Any] = {}
    if left.get("format"):
        defaults["unit"] = left["format"]
    for key in ("min", "max"):
        if left.get(key) not in (None, ""):
            try:
                defaults[key] = float(left[key]) if "." in str(left[key]) else int(left[key])
            except ValueError:
                pass
    if panel.get("decimals") is not None:
        defaults["decimals"] = panel.pop("decimals")
    custom = {
        "drawStyle": "bars" if panel.get("bars") else ("points" if panel.get("points") and not panel.get("lines", True)
                                                       else "line"),
        "lineWidth": panel.pop("linewidth", 1),
        "fillOpacity": int(panel.pop("fill", 1)) * 10,
        "showPoints": "always" if panel.get("points") else "never",
        "spanNulls": panel.get("nullPointMode") == "connected",
        "stacking": {"mode": "percent" if panel.get("percentage") else ("normal" if panel.get("stack") else "none"),
                     "group": "A"},
    }
    defaults["custom"] = custom
    field_config = panel.setdefault("fieldConfig", {})
    field_config["defaults"] = {**defaults, **(field_config.get("defaults") or {})}
    field_config.setdefault("overrides", [])
    legend = panel.pop("legend", None) or {}
    calcs = [name for key, name in (("avg", "mean"), ("max", "max"), ("min", "min"), ("current", "lastNotNull"),
                                    ("total", "sum")) if legend.get(key)]
    panel["options"] = {
        "legend": {"displayMode": "table" if legend.get("alignAsTable") else "list",
                   "placement": "right" if legend.get("rightSide") else "bottom",
                   "calcs": calcs, "showLegend": legend.get("show", True)},
        "tooltip": {"mode": "multi" if (panel.pop("tooltip", None) or {}).get("shared") else "single", "sort": "none"},
    }
    for key in ("bars", "lines", "points", "percentage", "stack", "nullPointMode", "steppedLine", "xaxis", "yaxis",
                "aliasColors", "dashLength", "dashes", "spaceLength", "pointradius", "renderer", "seriesOverrides",
                "fillGradient", "hiddenSeries", "timeRegions", "thresholds", "options_legacy"):
        panel.pop(key, None)
    panel["type"] = "timeseries"


def _singlestat_to_stat(panel: dict) -> None:
    defaults: dict[str, Any] = {}
    if panel.get("format"):
        defaults["unit"] = panel.pop("format")
    if panel.get("decimals") is not None:
        defaults["decimals"] = panel.pop("decimals")
    thresholds = str(panel.pop("thresholds", "") or "")
    colors = panel.pop("colors", None) or ["green", "orange", "red"]
    steps = [{"color": colors[0], "value": None}]
    for i, value in enumerate(v for v in thresholds.split(",") if v.strip()):
        try:
            steps.append({"color": colors[min(i + 1, len(colors) - 1)], "value": float(value)})
        except ValueError:
            pass
    defaults["thresholds"] = {"mode": "absolute", "steps": steps}
    defaults.setdefault("color", {"mode": "thresholds"})
    field_config = panel.setdefault("fieldConfig", {})
    field_config["defaults"] = {**defaults, **(field_config.get("defaults") or {})}
    field_config.setdefault("overrides", [])
    calc = {"avg": "mean", "current": "lastNotNull", "total": "sum", "max": "max", "min": "min"}.get(
        str(panel.pop("valueName", "avg")), "mean")
    sparkline = panel.pop("sparkline", None) or {}
    panel["options"] = {"reduceOptions": {"calcs": [calc], "fields": "", "values": False},
                        "graphMode": "area" if sparkline.get("show") else "none",
                        "colorMode": "background" if panel.get("colorBackground") else "value",
                        "textMode": "auto", "orientation": "auto", "justifyMode": "auto"}
    for key in ("colorBackground", "colorValue", "gauge", "mappingType", "mappingTypes", "nullPointMode",
                "nullText", "postfix", "postfixFontSize", "prefix", "prefixFontSize", "rangeMaps", "tableColumn",
                "valueFontSize", "valueMaps"):
        panel.pop(key, None)
    panel["type"] = "stat"
