"""The data each panel shows: its own targets, with the variables and macros Grafana would put in,
queried over the time range; and when a panel gets nothing, the likely cause `gen validate` gives.

Substitution is gen validate's (gen.validate.live.Context): the environment's namespace, All as
`.+`, `$__rate_interval` from the scrape interval Prometheus reports; here with Grafana's interval
for the actual range and panel width: `$__interval` is range / width in pixels (at least the scrape
interval) and `$__rate_interval` is max($__interval + scrape interval, 4 x scrape interval)."""

from __future__ import annotations

import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gen.validate import live
from gen.validate.client import QueryError

NO_DATA, DATA, ERROR, NOT_QUERIED = "no data", "data", "error", "no queries"

# Grafana's interval rounding (rangeutil.roundInterval), in seconds.
_ROUND = [(0.015, 0.01), (0.035, 0.02), (0.075, 0.05), (0.15, 0.1), (0.35, 0.2), (0.75, 0.5), (1.5, 1), (3.5, 2),
          (7.5, 5), (12.5, 10), (17.5, 15), (25, 20), (45, 30), (90, 60), (210, 120), (450, 300), (750, 600),
          (1050, 900), (1500, 1200), (2700, 1800), (5400, 3600), (9000, 7200), (16200, 10800), (32400, 21600),
          (86400, 43200), (604800, 86400)]


def round_interval(seconds: float) -> float:
    for limit, value in _ROUND:
        if seconds < limit:
            return value
    return 604800.0


@dataclass
class Series:
    name: str  # the legend text
    labels: dict[str, str]
    times: list[float]
    values: list[float]
    ref: str = "A"


@dataclass
class PanelData:
    status: str
    series: list[Series] = field(default_factory=list)
    cause: str = ""  # why there is no data, or the query error
    queries: list[str] = field(default_factory=list)  # as sent, after substitution


class PreviewContext(live.Context):
    """gen validate's context, for a chosen time range and variable values."""

    def __init__(self, *args, start: float, end: float, overrides: dict[str, list[str]], dashboard: dict,
                 shared: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.start, self.end = start, end
        self.shared = shared if shared is not None else {}  # across the panels of one run: causes seen
        self.overrides = overrides
        self.dashboard = dashboard
        self.interval_s = 15.0

    def variables(self, cluster: str | None = None) -> dict[str, str]:
        values = dict(super().variables(cluster))
        for variable in (self.dashboard.get("templating") or {}).get("list") or []:
            name = variable.get("name")
            if not name or name in values or variable.get("type") in ("datasource",):
                continue
            current = (variable.get("current") or {}).get("value")
            if isinstance(current, list):
                current = current[0] if len(current) == 1 else None
            if variable.get("type") in ("constant", "custom", "textbox", "interval") and current and current != "$__all":
                values[name] = str(current)
        for name, chosen in self.overrides.items():
            values[name] = chosen[0] if len(chosen) == 1 else "(" + "|".join(re.escape(v) for v in chosen) + ")"
        return values

    def macros(self) -> dict[str, str]:
        span = max(1, int(self.end - self.start))
        rate = int(max(self.interval_s + self.scrape_s, 4 * self.scrape_s, 1))
        return {"__rate_interval": f"{rate}s", "__interval": f"{int(self.interval_s)}s",
                "__interval_ms": str(int(self.interval_s * 1000)), "__range": f"{span}s",
                "__range_s": str(span), "__range_ms": str(span * 1000)}


def legend(fmt: str, labels: dict[str, str], expr: str) -> str:
    """Grafana's display name: legendFormat with {{label}} filled in; without one, the series'
    name and labels, or the expression when it has neither."""
    if fmt and fmt != "__auto":
        return re.sub(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)
    name = labels.get("__name__", "")
    rest = {k: v for k, v in labels.items() if k != "__name__"}
    if not rest:
        return name or " ".join(expr.split())
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(rest.items())) + "}"


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def panel_interval(ctx: PreviewContext, panel: dict, width_px: int) -> float:
    """Grafana's $__interval: range / max data points (the panel's width), rounded, at least the
    scrape interval or the panel's own minimum interval."""
    span = max(1.0, ctx.end - ctx.start)
    points = panel.get("maxDataPoints") or max(100, width_px)
    minimum = ctx.scrape_s or 15.0
    if panel.get("interval"):
        try:
            minimum = max(minimum, live.seconds(str(panel["interval"]).lstrip("<>=")))
        except (ValueError, KeyError):
            pass
    interval = max(round_interval(span / points), minimum)
    return max(interval, math.ceil(span / 11000))  # Prometheus' 11,000 points per series


def fetch(ctx: PreviewContext, panel: dict, width_px: int) -> PanelData:
    targets = [t for t in panel.get("targets") or [] if t.get("expr") and not t.get("hide")]
    if not targets:
        return PanelData(NOT_QUERIED)
    ctx.interval_s = panel_interval(ctx, panel, width_px)
    step = ctx.interval_s
    data = PanelData(DATA)
    errors = []
    for target in targets:
        expr = ctx.prepare(target["expr"])
        data.queries.append(expr)
        instant = bool(target.get("instant")) and not target.get("range")
        try:
            ctx.count()
            if instant:
                matrix = ctx.client.query_range_between(expr, ctx.end, ctx.end, step)
            else:
                first = math.floor(ctx.start / step) * step
                matrix = ctx.client.query_range_between(expr, first, ctx.end, step)
        except QueryError as exc:
            errors.append(f"{target.get('refId', '?')}: {exc}")
            continue
        for item in sorted(matrix, key=lambda s: sorted((s.get("metric") or {}).items())):
            labels = dict(item.get("metric") or {})
            values = item.get("values") or ([item["value"]] if item.get("value") else [])
            data.series.append(Series(legend(target.get("legendFormat") or "", labels, target["expr"]), labels,
                                      [float(t) for t, _ in values], [_number(v) for _, v in values],
                                      target.get("refId") or "A"))
    if errors:
        data.status, data.cause = ERROR, "; ".join(errors)
    elif not data.series:
        data.status = NO_DATA
        data.cause = explain(ctx, [t["expr"] for t in targets])
    return data


def explain(ctx: PreviewContext, exprs: list[str]) -> str:
    """gen validate's likely cause of an empty answer (its live-targets and live-metric checks,
    then its hint for an empty panel)."""
    if "targets" not in ctx.shared:
        found = live.check_targets(ctx)
        ctx.shared["targets"] = f"{found[0].message}: {found[0].hint}" if found else ""
    if ctx.shared["targets"]:
        return ctx.shared["targets"]
    causes = []
    for expr in exprs:
        try:
            names = live.promql_ast.selectors(live.parse(ctx.prepare(expr)))
        except ValueError as exc:
            causes.append(f"does not parse: {exc}")
            continue
        for selector in names:
            if selector.name and selector.name not in ctx.present:
                try:
                    ctx.present[selector.name] = bool(ctx.query(f'count({selector.name}{{namespace="{ctx.ns}"}})'))
                except QueryError:
                    pass
        causes.append(live._explain_empty(ctx, expr))
    unique = list(dict.fromkeys(causes))
    return "; ".join(unique)


def fetch_all(ctx_for, items: list, concurrency: int) -> list[PanelData]:
    """Every panel's data, panels in parallel; ctx_for(item) gives each panel its own context (the
    interval differs by panel width)."""
    def one(item):
        placed, width_px = item
        return fetch(ctx_for(placed), placed.panel, width_px)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(one, items))
