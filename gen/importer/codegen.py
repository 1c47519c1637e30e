"""A dashboard in the project's normal form, written back as a definition: `dashboard(env)` in
grafanalib, one constructor per panel with the keywords grafanalib has for what the panel sets,
and, for whatever grafanalib renders differently or cannot say, the difference as `extraJson`
(grafanalib's own escape hatch) or, where a field must go, `patched(..., {...: DELETE})`.

Every panel's code is evaluated here while it is written: the difference is measured against
what that very code renders, so the definition renders the dashboard it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gen.importer.literal import WIDTH, Code, block, call, literal, string
from gen.render.grafana_json import TEMPLATE_DEFAULTS, normalise, panel_form
from gen.settings import deep_merge

PANEL_CLASSES = {
    "timeseries": "TimeSeries", "stat": "Stat", "table": "Table", "text": "Text", "bargauge": "BarGauge",
    "gauge": "GaugePanel", "piechart": "PieChartv2", "heatmap": "Heatmap", "row": "RowPanel",
}
# Fields of a panel the grafanalib keywords below already say, or that Grafana manages.
PATCH_IGNORED = {"pluginVersion"}
DELETE_NAME = "DELETE"
ANNOTATION_DEFAULTS = {"builtIn": 0, "hide": False}
GRID_KEYS = ("h", "w", "x", "y")
ROUNDS = 4
# What a panel without a datasource gets in the build (gen/render/grafana_json.normalise).
INHERITED_DATASOURCE = "${datasource}"
MISSING = object()


@dataclass
class Substitution:
    """--env-variables: a literal that becomes an expression of the environment."""

    literal: str  # triton-prod
    code: str  # env.namespace


@dataclass
class Generated:
    source: str
    classes: set[str] = field(default_factory=set)
    helpers: set[str] = field(default_factory=set)


class Writer:
    def __init__(self, env: Any, substitutions: list[Substitution], uid_base: str):
        import grafanalib.core as core

        from gen.render import patched

        self.env = env
        self.substitutions = substitutions
        self.uid_base = uid_base
        self.classes: set[str] = {"Dashboard"}
        self.helpers: set[str] = {"uid_for"}
        self.namespace = {name: getattr(core, name) for name in dir(core) if name[:1].isupper()}
        # The uid is not compared here (the round trip renders with the project's own uid_for).
        self.namespace.update(patched=patched.patched, DELETE=patched.DELETE,
                              uid_for=lambda name, environment: name, env=env)

    # -- values ---------------------------------------------------------------------------------

    def text(self, value: str) -> Any:
        """A string, as an f-string of the environment where --env-variables found a literal."""
        hits = [s for s in self.substitutions if s.literal and s.literal in value]
        if not hits:
            return value
        body = value.replace("{", "{{").replace("}", "}}")
        for s in hits:
            body = body.replace(s.literal.replace("{", "{{").replace("}", "}}"), "{" + s.code + "}")
        quoted = string(body)
        if quoted.startswith("r"):
            return Code("rf" + quoted[1:])
        return Code("f" + quoted)

    def import_lines(self) -> tuple[str, str]:
        """The two imports the code written so far needs: grafanalib's classes, the project's helpers."""
        classes = sorted(self.classes)
        grafanalib = "from grafanalib.core import " + ", ".join(classes)
        if len(grafanalib) > WIDTH:
            grafanalib = "from grafanalib.core import (\n" + "".join(f"    {c},\n" for c in classes) + ")"
        helpers = ", ".join(sorted(self.helpers, key=lambda h: (h != DELETE_NAME, h)))
        return grafanalib, f"from dashboards._panels import {helpers}"

    def evaluate(self, code: str) -> Any:
        return eval(code, dict(self.namespace))  # noqa: S307 - code this module just wrote

    # -- panels ---------------------------------------------------------------------------------

    def target(self, t: dict) -> Code:
        kwargs: list[tuple[str, Any]] = []
        if t.get("expr") is not None:
            kwargs.append(("expr", self.text(str(t["expr"]))))
        for key in ("legendFormat", "refId", "interval", "format"):
            if t.get(key) not in (None, "") and not (key == "format" and t[key] == "time_series"):
                kwargs.append((key, self.text(t[key]) if isinstance(t[key], str) else t[key]))
        if t.get("instant"):
            kwargs.append(("instant", True))
        if t.get("hide"):
            kwargs.append(("hide", True))
        self.classes.add("Target")
        return block("Target", kwargs)

    def common(self, p: dict) -> list[tuple[str, Any]]:
        kwargs: list[tuple[str, Any]] = [("title", self.text(str(p.get("title") or "")))]
        if p.get("description"):
            kwargs.append(("description", self.text(str(p["description"]))))
        if p.get("id") is not None:
            kwargs.append(("id", p["id"]))
        grid = p.get("gridPos") or {}
        if all(isinstance(grid.get(k), int) for k in GRID_KEYS):  # else the patch says what it has
            self.classes.add("GridPos")
            kwargs.append(("gridPos", block("GridPos", [(k, grid[k]) for k in GRID_KEYS])))
        datasource = p.get("datasource")
        # grafanalib writes a name as {type: prometheus, uid}: only that shape is a keyword.
        if isinstance(datasource, dict) and datasource.get("type") == "prometheus" \
                and isinstance(datasource.get("uid"), str) and set(datasource) == {"type", "uid"}:
            kwargs.append(("dataSource", self.text(datasource["uid"])))
        targets = [t for t in p.get("targets") or [] if isinstance(t, dict)]
        if targets:
            kwargs.append(("targets", [self.target(t) for t in targets]))
        # `repeat` is grafanalib's Repeat object, not the variable's name: left to the patch.
        for key in ("interval", "timeFrom", "timeShift"):
            if p.get(key) not in (None, ""):
                kwargs.append((key, self.text(p[key]) if isinstance(p[key], str) else p[key]))
        if p.get("transparent"):
            kwargs.append(("transparent", True))
        if p.get("links"):
            kwargs.append(("links", self._textify(p["links"])))
        return kwargs

    def specific(self, p: dict) -> list[tuple[str, Any]]:
        defaults = (p.get("fieldConfig") or {}).get("defaults") or {}
        options = p.get("options") or {}
        kind = p.get("type")
        kwargs: list[tuple[str, Any]] = []
        if kind == "timeseries":
            custom = defaults.get("custom") or {}
            legend = options.get("legend") or {}
            pairs = [("unit", defaults.get("unit")), ("valueMin", defaults.get("min")), ("valueMax", defaults.get("max")),
                     ("valueDecimals", defaults.get("decimals")),
                     ("legendDisplayMode", legend.get("displayMode")), ("legendPlacement", legend.get("placement")),
                     ("legendCalcs", legend.get("calcs") or None),
                     ("tooltipMode", (options.get("tooltip") or {}).get("mode")),
                     ("drawStyle", custom.get("drawStyle")), ("lineInterpolation", custom.get("lineInterpolation")),
                     ("lineWidth", custom.get("lineWidth")), ("fillOpacity", custom.get("fillOpacity")),
                     ("gradientMode", custom.get("gradientMode")), ("showPoints", custom.get("showPoints")),
                     ("pointSize", custom.get("pointSize")), ("spanNulls", custom.get("spanNulls")),
                     ("stacking", custom.get("stacking")), ("axisPlacement", custom.get("axisPlacement")),
                     ("axisLabel", custom.get("axisLabel") or None), ("barAlignment", custom.get("barAlignment"))]
            kwargs = [(k, v) for k, v in pairs if v is not None]
        elif kind == "stat":
            reduce = options.get("reduceOptions") or {}
            steps = (defaults.get("thresholds") or {}).get("steps")
            pairs = [("format", defaults.get("unit")), ("decimals", defaults.get("decimals")),
                     ("graphMode", options.get("graphMode")), ("colorMode", options.get("colorMode")),
                     ("textMode", options.get("textMode")), ("orientation", options.get("orientation")),
                     ("reduceCalc", (reduce.get("calcs") or [None])[0]), ("noValue", defaults.get("noValue")),
                     ("thresholds", steps if isinstance(steps, list) and steps else None)]
            kwargs = [(k, v) for k, v in pairs if v is not None]
        elif kind in ("table", "piechart"):
            if defaults.get("unit"):
                kwargs.append(("unit", defaults["unit"]))
        elif kind == "text":
            if options.get("content") is not None:
                kwargs.append(("content", self.text(str(options["content"]))))
            if options.get("mode"):
                kwargs.append(("mode", options["mode"]))
        return kwargs

    def panel(self, p: dict) -> Code:
        kind = p.get("type")
        if kind == "row":
            return self.row(p)
        name = PANEL_CLASSES.get(kind)
        if name is None:
            # grafanalib has no class for this panel type: the panel as Grafana stores it.
            return Code(literal(self._textify(p)))
        self.classes.add(name)
        kwargs = self.common(p) + self.specific(p)
        # The changes are measured on the normal form and applied to grafanalib's output before
        # it: where the normal form fills in defaults, one more round settles what is left.
        difference: dict = {}
        for _ in range(ROUNDS):
            code = self._with_changes(name, kwargs, difference)
            extra = patch(panel_form(_plain(self.evaluate(code)), INHERITED_DATASOURCE), p)
            if not extra:
                break
            difference = deep_merge(difference, extra)
        else:
            code = self._with_changes(name, kwargs, difference)
        return Code(code)

    def _with_changes(self, name: str, kwargs: list, difference: dict) -> str:
        if not difference:
            return call(name, kwargs)
        if _has_delete(difference):
            self.helpers.update({"patched", DELETE_NAME})
            return call("patched", [("item", Code(call(name, kwargs))), ("changes", self._textify(difference))])
        return call(name, kwargs + [("extraJson", self._textify(difference))])

    def row(self, p: dict) -> Code:
        self.classes.add("RowPanel")
        kwargs = [("title", self.text(str(p.get("title") or "")))]
        if p.get("id") is not None:
            kwargs.append(("id", p["id"]))
        grid = p.get("gridPos") or {}
        if all(isinstance(grid.get(k), int) for k in GRID_KEYS):
            self.classes.add("GridPos")
            kwargs.append(("gridPos", block("GridPos", [(k, grid[k]) for k in GRID_KEYS])))
        if p.get("collapsed"):
            kwargs.append(("collapsed", True))
            kwargs.append(("panels", [self.panel(child) for child in p.get("panels") or []]))
        return block("RowPanel", kwargs)

    def _textify(self, value: Any) -> Any:
        """Strings inside plain JSON, with the environment's literals substituted; keys sorted, so
        that one dashboard always gives one text (gen pull compares texts)."""
        if isinstance(value, str) and not isinstance(value, Code):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self._textify(value[k]) for k in sorted(value, key=str)}
        if isinstance(value, list):
            return [self._textify(v) for v in value]
        if value is DELETE_SENTINEL:
            return Code(DELETE_NAME)
        return value

    # -- the dashboard --------------------------------------------------------------------------

    def dashboard(self, model: dict) -> str:
        kwargs: list[tuple[str, Any]] = [("title", self.text(str(model.get("title") or "")))]
        kwargs.append(("uid", Code(f"uid_for({string(self.uid_base)}, env)")))
        for key in ("description", "timezone", "refresh"):
            if model.get(key) not in (None, ""):
                kwargs.append((key, self.text(model[key])))
        if model.get("tags"):
            kwargs.append(("tags", [self.text(t) for t in model["tags"]]))
        if model.get("graphTooltip"):
            kwargs.append(("graphTooltip", model["graphTooltip"]))
        if model.get("editable") is False:
            kwargs.append(("editable", False))
        time = model.get("time") or {}
        if time.get("from") and time.get("to"):
            self.classes.add("Time")
            kwargs.append(("time", Code(f"Time({string(time['from'])}, {string(time['to'])})")))
        variables = (model.get("templating") or {}).get("list") or []
        if variables:
            self.classes.add("Templating")
            # What every variable carries in Grafana's schema is written by the build: not repeated.
            short = [{k: v for k, v in var.items() if TEMPLATE_DEFAULTS.get(k, MISSING) != v} for var in variables]
            kwargs.append(("templating", block("Templating", [("list", [self._textify(v) for v in short])])))
        annotations = [{k: v for k, v in a.items() if ANNOTATION_DEFAULTS.get(k, MISSING) != v}
                       for a in (model.get("annotations") or {}).get("list") or [] if not a.get("builtIn")]
        if annotations:
            self.classes.add("Annotations")
            kwargs.append(("annotations", block("Annotations", [("list", [self._textify(a) for a in annotations])])))
        kwargs.append(("panels", [self.panel(p) for p in model.get("panels") or []]))
        code = call("Dashboard", kwargs)
        rendered = normalise(self.evaluate(code))
        wanted = {k: v for k, v in model.items() if k != "panels"}
        have = {k: v for k, v in rendered.items() if k != "panels"}
        difference = patch(have, wanted, ignored={"uid"})
        if difference:
            self.helpers.update({"patched"} | ({DELETE_NAME} if _has_delete(difference) else set()))
            return call("patched", [("item", Code(code)), ("changes", self._textify(difference))])
        return code


DELETE_SENTINEL = object()


def patch(have: Any, want: Any, ignored: set[str] = frozenset()) -> dict:
    """What turns `have` into `want`: changed and added keys with their wanted value, dicts
    recursively, removed keys as DELETE. Lists are replaced whole."""
    out: dict[str, Any] = {}
    for key, value in want.items():
        if key in ignored or key in PATCH_IGNORED:
            continue
        if key not in have:
            out[key] = value
        elif isinstance(have[key], dict) and isinstance(value, dict):
            inner = patch(have[key], value)
            if inner:
                out[key] = inner
        elif have[key] != value or type(have[key]) is not type(value) and not _same_number(have[key], value):
            out[key] = value
    for key in have:
        if key not in want and key not in ignored and key not in PATCH_IGNORED:
            out[key] = DELETE_SENTINEL
    return out


def _same_number(a: Any, b: Any) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
        and not isinstance(b, bool) and a == b


def _has_delete(value: Any) -> bool:
    if value is DELETE_SENTINEL:
        return True
    if isinstance(value, dict):
        return any(_has_delete(v) for v in value.values())
    return False


def _plain(obj: Any) -> dict:
    from gen.render.grafana_json import to_plain

    return to_plain(obj)

