"""Offline checks of out/: a registry of small functions, each returning Findings.

Dashboard rules follow grafana/dashboard-linter (the ids are its rule names where one exists);
alert rules follow mixtool's lint; manifest checks come from gen/manifests_check.py.
"""

from __future__ import annotations

from collections import Counter

import re
from typing import Callable, Iterable

from gen import manifests_check
from gen.findings import ERROR, INFO, WARNING, Finding
from gen.render.dashboards import PANELS_WITHOUT_QUERIES
from gen.promql import parse, substitute, variable_names
from gen.settings import Settings
from gen.settings.schema import SEVERITIES
from gen.validate import promql_ast
from gen.validate.inventory import Dashboard, Inventory, label_values

DATASOURCE_REFS = {"${datasource}", "$datasource", "[[datasource]]"}
RATE_FUNCTIONS = ("rate", "irate", "increase")
MACROS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms",
          "__dashboard", "__from", "__to", "__name", "__org", "__user", "__timeFilter", "__auto"}
REFRESH_ON_TIME_RANGE_CHANGE = 2
ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
LABEL_IN_TEMPLATE = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)|index\s+\$labels\s+\"([^\"]+)\"")

# Grafana's unit ids (public/app/... valueFormats), the ones a Prometheus dashboard uses.
UNITS = {
    "none", "short", "percent", "percentunit", "humidity", "dB", "hex0x", "hex", "sci", "locale", "pixel",
    "ns", "\u00b5s", "ms", "s", "m", "h", "d", "dtdurationms", "dtdurations", "dthms", "dtdhms", "clockms", "clocks",
    "bytes", "decbytes", "bits", "decbits", "kbytes", "deckbytes", "mbytes", "decmbytes", "gbytes", "decgbytes",
    "tbytes", "dectbytes", "pbytes", "decpbytes", "binBps", "Bps", "binbps", "bps", "KiBs", "KBs", "Kibits",
    "Kbits", "MiBs", "MBs", "Mibits", "Mbits", "GiBs", "GBs", "Gibits", "Gbits",
    "reqps", "rps", "wps", "iops", "opm", "rpm", "wpm", "ops", "cps", "mps", "counts/sec", "counts/min",
    "hertz", "watt", "kwatt", "joule", "watth", "kwatth", "celsius", "fahrenheit", "bool", "bool_yes_no", "bool_on_off",
    "currencyUSD", "currencyEUR", "dateTimeAsIso", "dateTimeFromNow", "string",
}

Check = Callable[[Inventory, Settings | None], list[Finding]]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn

    return register


def _datasource_uid(ref) -> str | None:
    if isinstance(ref, dict):
        return ref.get("uid")
    return ref


def _panels(dashboard: Dashboard):
    return [p for p in dashboard.panels() if p.get("type") != "row"]


# -- dashboards ---------------------------------------------------------------------------------

@check("template-datasource")
def template_datasource(inv: Inventory, settings) -> list[Finding]:
    found = []
    for d in inv.dashboards:
        ds = [v for v in d.variables() if v.get("type") == "datasource"]
        if not ds:
            found.append(Finding(ERROR, d.uid, "no datasource variable", hint="add a variable of type datasource",
                                 check="template-datasource"))
        for v in ds:
            if v.get("query") != "prometheus":
                found.append(Finding(ERROR, f"{d.uid} / variable ${v.get('name')}",
                                     f"datasource variable is of type {v.get('query')!r}, not prometheus",
                                     check="template-datasource"))
    return found


@check("template-label-promql")
def template_label_promql(inv: Inventory, settings) -> list[Finding]:
    found = []
    for d in inv.dashboards:
        for v in d.variables():
            if v.get("type") != "query":
                continue
            query = v.get("query")
            query = query.get("query", "") if isinstance(query, dict) else str(query or "")
            selector, label = label_values(query)
            obj = f"{d.uid} / variable ${v.get('name')}"
            if not label and not query.strip().startswith(("label_names", "metrics", "query_result")):
                found.append(Finding(WARNING, obj, "query is not label_values(selector, label)", query,
                                     check="template-label-promql"))
                continue
            if selector:
                try:
                    parse(substitute(selector))
                except ValueError as exc:
                    found.append(Finding(ERROR, obj, f"selector does not parse: {_one_line(exc)}", query,
                                         check="template-label-promql"))
    return found


@check("template-on-time-change-reload")
def template_reload(inv: Inventory, settings) -> list[Finding]:
    return [
        Finding(WARNING, f"{d.uid} / variable ${v.get('name')}",
                "does not refresh on time range change (refresh should be 2)",
                hint="values from another time range go stale", check="template-on-time-change-reload")
        for d in inv.dashboards for v in d.variables()
        if v.get("type") == "query" and v.get("refresh") != REFRESH_ON_TIME_RANGE_CHANGE
    ]


@check("panel-datasource")
def panel_datasource(inv: Inventory, settings) -> list[Finding]:
    found = []
    for d in inv.dashboards:
        for p in _panels(d):
            refs = [("panel", p.get("datasource"))] + [
                (f"target {t.get('refId', '?')}", t.get("datasource")) for t in p.get("targets") or []
            ]
            for where, ref in refs:
                uid = _datasource_uid(ref)
                if uid not in DATASOURCE_REFS:
                    found.append(Finding(ERROR, f"{d.uid} / panel '{p.get('title')}' / {where}",
                                         f"datasource {uid!r} is not the ${{datasource}} variable "
                                         "(a hard-coded uid breaks in every other Grafana)",
                                         check="panel-datasource"))
    return found


@check("panel-title-description")
def panel_title_description(inv: Inventory, settings) -> list[Finding]:
    found = []
    for d in inv.dashboards:
        for p in _panels(d):
            for key in ("title", "description"):
                if not str(p.get(key) or "").strip():
                    found.append(Finding(WARNING, f"{d.uid} / panel #{p.get('id')} '{p.get('title', '')}'",
                                         f"panel has no {key}", check="panel-title-description"))
    return found


@check("panel-units")
def panel_units(inv: Inventory, settings) -> list[Finding]:
    found = []
    for d in inv.dashboards:
        for p in _panels(d):
            unit = ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
            obj = f"{d.uid} / panel '{p.get('title')}'"
            if not unit:
                found.append(Finding(WARNING, obj, "panel has no unit", check="panel-units"))
            elif unit not in UNITS and not unit.startswith(("suffix:", "prefix:", "currency:", "si:", "count:")):
                hint = "the micro sign is U+00B5 (µs)" if unit.endswith("s") and "\u03bc" in unit else ""
                found.append(Finding(ERROR, obj, f"unit {unit!r} is not a Grafana unit id", hint=hint,
                                     check="panel-units"))
    return found


@check("panel-no-targets")
def panel_no_targets(inv: Inventory, settings) -> list[Finding]:
    return [
        Finding(ERROR, f"{d.uid} / panel '{p.get('title')}'", "panel has no query", check="panel-no-targets")
        for d in inv.dashboards for p in _panels(d)
        if p.get("type") not in PANELS_WITHOUT_QUERIES and not any(t.get("expr") for t in p.get("targets") or [])
    ]


@check("panel-ids-unique")
def panel_ids_unique(inv: Inventory, settings) -> list[Finding]:
    found = []
    for d in inv.dashboards:
        seen: set = set()
        for p in d.panels():
            if p.get("id") in seen:
                found.append(Finding(ERROR, f"{d.uid} / panel '{p.get('title')}'", f"panel id {p.get('id')} is used twice",
                                     check="panel-ids-unique"))
            seen.add(p.get("id"))
    return found


@check("panel-title-unique")
def panel_title_unique(inv: Inventory, settings) -> list[Finding]:
    """Two panels with one title: an on-call cannot tell which graph a link or a report means."""
    found = []
    for d in inv.dashboards:
        titles = Counter(p.get("title") for p in _panels(d) if p.get("title"))
        for title, n in sorted(titles.items()):
            if n > 1:
                found.append(Finding(WARNING, f"{d.uid} / panel '{title}'", f"{n} panels share the title '{title}'",
                                     hint="give each panel a title of its own", check="panel-title-unique"))
    return found


@check("panel-grid-overlap")
def panel_grid_overlap(inv: Inventory, settings) -> list[Finding]:
    found = []
    for d in inv.dashboards:
        # Panels inside a collapsed row are laid out when the row opens: compare per layer.
        layers: dict[int, list[dict]] = {}
        for p in d.model.get("panels") or []:
            layers.setdefault(0, []).append(p)
            for child in p.get("panels") or []:
                layers.setdefault(id(p), []).append(child)
        for panels in layers.values():
            boxes = [(p, p.get("gridPos") or {}) for p in panels]
            for i, (a, ga) in enumerate(boxes):
                for b, gb in boxes[i + 1:]:
                    if _overlap(ga, gb):
                        found.append(Finding(ERROR, f"{d.uid} / panel '{a.get('title')}'",
                                             f"overlaps panel '{b.get('title')}' on the grid",
                                             check="panel-grid-overlap"))
    return found


def _overlap(a: dict, b: dict) -> bool:
    try:
        return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
                and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])
    except KeyError:
        return False


@check("target-promql")
def target_promql(inv: Inventory, settings) -> list[Finding]:
    found = []
    for q in inv.queries():
        if q.kind == "variable" and not q.expr:
            continue
        try:
            parse(substitute(q.expr))
        except ValueError as exc:
            found.append(Finding(ERROR, q.object,
                                 f"does not parse as PromQL: {_one_line(exc)}", q.expr, check="target-promql"))
    return found


@check("target-rate-interval")
def target_rate_interval(inv: Inventory, settings) -> list[Finding]:
    found = []
    for q in inv.queries():
        if q.kind != "panel":
            continue
        for fn, window in re.findall(r"\b(rate|irate|increase)\s*\([^\[\]]*\[([^\]]+)\]", q.expr):
            # An instant total over the dashboard's range is the one sound exception.
            if window == "$__rate_interval" or (fn == "increase" and window == "$__range" and q.instant):
                continue
            found.append(Finding(WARNING, q.object, f"{fn}() over [{window}] instead of [$__rate_interval]", q.expr,
                                 hint="a fixed or too short window shows no data at some zoom levels",
                                 check="target-rate-interval"))
    return found


@check("template-variables-exist")
def template_variables_exist(inv: Inventory, settings) -> list[Finding]:
    found = []
    for d in inv.dashboards:
        names = {v.get("name") for v in d.variables()}
        exprs = [(f"{d.uid} / variable ${v.get('name')}", str(v.get("query") or "")) for v in d.variables()
                 if v.get("type") == "query"]
        exprs += [(f"{d.uid} / panel '{p.get('title')}'", t.get("expr", "")) for p in _panels(d)
                  for t in p.get("targets") or []]
        exprs += [(f"{d.uid} / annotation '{a.get('name')}'", a["expr"]) for a in d.annotations()]
        for obj, expr in exprs:
            for name in variable_names(expr):
                if name not in names and name not in MACROS:
                    found.append(Finding(ERROR, obj, f"uses ${name}, which is not a variable of the dashboard", expr,
                                         check="template-variables-exist"))
    return found


# -- rules --------------------------------------------------------------------------------------

@check("alert-name-camelcase")
def alert_name_camelcase(inv: Inventory, settings) -> list[Finding]:
    return [Finding(ERROR, r.object, "alert name is not CamelCase", check="alert-name-camelcase")
            for r in inv.rules if r.is_alert and not ALERT_NAME.match(r.name)]


@check("alert-severity")
def alert_severity(inv: Inventory, settings) -> list[Finding]:
    return [Finding(ERROR, r.object, f"severity {((r.rule.get('labels') or {}).get('severity'))!r} is not one of "
                    f"{', '.join(SEVERITIES)}", check="alert-severity")
            for r in inv.rules if r.is_alert and (r.rule.get("labels") or {}).get("severity") not in SEVERITIES]


@check("alert-annotations")
def alert_annotations(inv: Inventory, settings) -> list[Finding]:
    found = []
    for r in inv.rules:
        if not r.is_alert:
            continue
        annotations = r.rule.get("annotations") or {}
        for key in ("summary", "description", "runbook_url"):
            if not str(annotations.get(key) or "").strip():
                found.append(Finding(ERROR, r.object, f"annotation {key} is missing", check="alert-annotations"))
    return found


@check("alert-for")
def alert_for(inv: Inventory, settings) -> list[Finding]:
    return [Finding(WARNING, r.object, "no `for`: the alert fires on a single evaluation", r.rule.get("expr", ""),
                    check="alert-for")
            for r in inv.rules if r.is_alert and not r.rule.get("for")]


@check("alert-labels-kept")
def alert_labels_kept(inv: Inventory, settings) -> list[Finding]:
    found = []
    for env in inv.envs():
        records: dict[str, set[str] | None] = {}
        for name, expr in inv.records(env).items():
            try:
                records[name] = promql_ast.output_labels(parse(expr), records)
            except ValueError:
                records[name] = None
        for r in inv.rules:
            if r.env != env or not r.is_alert:
                continue
            try:
                labels = promql_ast.output_labels(parse(r.rule["expr"]), records)
            except ValueError:
                continue  # target-promql reports it
            if labels is None:
                continue
            labels = labels | set((r.rule.get("labels") or {}))
            used = set()
            for text in (r.rule.get("annotations") or {}).values():
                for a, b in LABEL_IN_TEMPLATE.findall(str(text)):
                    used.add(a or b)
            for label in sorted(used - labels):
                found.append(Finding(ERROR, r.object, f"annotations use $labels.{label}, which the expression "
                                     "aggregates away (it is always empty)", r.rule["expr"],
                                     hint=f"keep {label} in the by (...) clause", check="alert-labels-kept"))
    return found


@check("queue-caps")
def queue_caps(inv: Inventory, settings) -> list[Finding]:
    """An environment where no model's queue cap is known: a full queue answers HTTP 503, which
    no Triton metric counts, and no queue-full rule exists. Said, never silent."""
    if settings is None:
        return []
    found = []
    for name in inv.envs():
        env = settings.environments.get(name)
        if env is None or any(model.max_queue_size for model in env.models.values()):
            continue
        source = f"models.<model>.max_queue_size, or {env.queue_caps_file}" if env.queue_caps_file else \
            "models.<model>.max_queue_size"
        found.append(Finding(
            WARNING, f"{name}: queue caps",
            f"no model's queue cap is known ({source}): TritonModelQueueNearFull is not generated, and a full "
            "queue (HTTP 503, counted by no metric) alerts nothing",
            hint=f"gen doctor --env {name} --triton-url URL --write-queue-caps, then gen build (models without a "
                 "queue cap need nothing); with --prometheus-url, validate names each model served without one",
            check="queue-caps"))
    return found


# -- manifests ----------------------------------------------------------------------------------

@check("manifests")
def manifests(inv: Inventory, settings) -> list[Finding]:
    return manifests_check.run(manifests_check.load(inv.out_dir), settings)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def run(inv: Inventory, settings: Settings | None = None, checks: Iterable[str] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for name in checks or CHECKS:
        findings.extend(CHECKS[name](inv, settings))
    if not inv.dashboards and not inv.rules:
        findings.append(Finding(INFO, str(inv.out_dir), "nothing to check: no dashboards and no rules in out/"))
    return findings
