"""Panel shapes shared by the dashboard definitions, built with grafanalib.

Every query is written against Grafana's variables through one `Scope` per environment, so the
label matchers and the grouping are the same on every panel:
  - `$namespace`, `$model` (and `$version` where a panel breaks down by version) are matched with
    `=~`, so a variable's All value (`.+`) works without a huge alternation regex;
  - with the environment's `cluster_label` set, every selector also matches `$cluster` and every
    aggregation keeps the cluster label, so a global view (Thanos, Mimir, VictoriaMetrics) shows
    one line per cluster and never adds two clusters' series into one.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafanalib.core import (
    GridPos,
    RowPanel,
    Stat,
    Table,
    TableSortByField,
    Target,
    Template,
    Templating,
    TimeSeries,
)

from gen.render.patched import DELETE, Patched, patched  # noqa: F401 - imported definitions read them here
from gen.settings import Environment

DATASOURCE = "${datasource}"
RATE = "$__rate_interval"
RANGE = "$__range"

# Grafana unit ids. The micro sign is U+00B5, not the Greek mu (U+03BC): with the wrong one
# Grafana shows the raw number without a unit.
MICROSECONDS = "\u00b5s"
MILLISECONDS = "ms"
SECONDS = "s"
PERCENT_0_1 = "percentunit"
REQUESTS_PER_SECOND = "reqps"
BYTES = "bytes"
COUNT = "short"
WATTS = "watt"
JOULES = "joule"

REFRESH_ON_TIME_RANGE_CHANGE = 2

# Matchers of an environment without a cluster label, for definitions that need no Scope.
NS = 'namespace=~"$namespace"'
NS_MODEL = 'namespace=~"$namespace", model=~"$model"'
# Matches every value, and series without the label too: a cluster's own Prometheus stores no
# external labels, so the same dashboard works there and on the global view.
ALL_INCLUDING_UNLABELLED = ".*"
ALL = ".+"


def uid_for(name: str, env: Environment) -> str:
    """Stable per environment; Grafana rejects uids over 40 characters (checked by the builder)."""
    return f"{name}-{env.name}"


@dataclass(frozen=True)
class Scope:
    """Label matchers and grouping for one environment's queries."""

    cluster_label: str | None = None

    @classmethod
    def of(cls, env: Environment) -> "Scope":
        return cls(env.cluster_label)

    def sel(self, *, model: bool = True, version: bool = False, extra: str = "") -> str:
        """The matchers inside {...}: cluster, namespace, then model and version when asked."""
        parts = [f'{self.cluster_label}=~"$cluster"'] if self.cluster_label else []
        parts.append('namespace=~"$namespace"')
        if model:
            parts.append('model=~"$model"')
        if version:
            parts.append('version=~"$version"')
        if extra:
            parts.append(extra)
        return ", ".join(parts)

    def labels(self, *labels: str) -> list[str]:
        return ([self.cluster_label] if self.cluster_label else []) + [label for label in labels if label]

    def by(self, *labels: str) -> str:
        """`sum by (cluster, model)`'s grouping, or "" for one total (no cluster label)."""
        return ", ".join(self.labels(*labels))

    def agg(self, op: str, expr: str, *labels: str) -> str:
        grouping = self.by(*labels)
        return f"{op} by ({grouping}) ({expr})" if grouping else f"{op}({expr})"

    def legend(self, text: str = "") -> str:
        """A legend that names the cluster first when there are clusters."""
        head = "{{" + self.cluster_label + "}}" if self.cluster_label else ""
        return " ".join(part for part in (head, text) if part)

    def rate(self, metric: str, *labels: str, selector: str | None = None) -> str:
        sel = self.sel() if selector is None else selector
        return self.agg("sum", f"rate({metric}{{{sel}}}[{RATE}])", *labels)

    def increase(self, metric: str, *labels: str, selector: str | None = None) -> str:
        sel = self.sel() if selector is None else selector
        return self.agg("sum", f"increase({metric}{{{sel}}}[{RANGE}])", *labels)

    def on(self, *labels: str) -> str:
        return f"on ({', '.join(self.labels(*labels))})"


def variables(env: Environment, metric: str = "nv_inference_count") -> Templating:
    """datasource, cluster (with a cluster label), namespace, model and version.

    The namespace variable offers the environment's namespace only: the overview reads recording
    rules that exist for that namespace alone (alerts/), and a stat must show what the pickers say."""
    scope = Scope.of(env)
    cluster = f'{env.cluster_label}=~"$cluster", ' if env.cluster_label else ""
    namespace = Template(
        name="namespace",
        label="Namespace",
        dataSource=DATASOURCE,
        query=f'label_values({metric}{{{cluster}namespace="{env.namespace}"}}, namespace)',
        default=env.namespace,
        refresh=REFRESH_ON_TIME_RANGE_CHANGE,
    )
    model = Template(
        name="model",
        label="Model",
        dataSource=DATASOURCE,
        query=f"label_values({metric}{{{scope.sel(model=False)}}}, model)",
        default="$__all",
        includeAll=True,
        multi=True,
        allValue=ALL,
        refresh=REFRESH_ON_TIME_RANGE_CHANGE,
    )
    version = Template(
        name="version",
        label="Version",
        dataSource=DATASOURCE,
        query=f"label_values({metric}{{{scope.sel()}}}, version)",
        default="$__all",
        includeAll=True,
        multi=True,
        allValue=ALL,
        refresh=REFRESH_ON_TIME_RANGE_CHANGE,
    )
    datasource = Template(
        name="datasource",
        label="Data source",
        type="datasource",
        query="prometheus",
        default="default",
        refresh=1,
    )
    clusters = []
    if env.cluster_label:
        clusters.append(
            Template(
                name="cluster",
                label="Cluster",
                dataSource=DATASOURCE,
                query=f'label_values({metric}{{namespace="{env.namespace}"}}, {env.cluster_label})',
                default="$__all",
                includeAll=True,
                multi=True,
                allValue=ALL_INCLUDING_UNLABELLED,
                refresh=REFRESH_ON_TIME_RANGE_CHANGE,
            )
        )
    templates = [datasource, *clusters, namespace, model, version]
    return Templating(list=templates)


def alerts_annotation(env: Environment) -> dict:
    """The environment's firing Triton alerts as annotations on every graph (Prometheus' ALERTS
    series, which carries the alert's labels)."""
    scope = Scope.of(env)
    return {
        "datasource": {"type": "prometheus", "uid": DATASOURCE},
        "enable": True,
        "expr": f'ALERTS{{alertstate="firing", alertname=~"Triton.+", {scope.sel(model=False)}}}',
        "iconColor": "red",
        "name": "Firing Triton alerts",
        "step": "60s",
        "titleFormat": "{{alertname}}",
        "textFormat": "{{severity}} " + scope.legend("{{namespace}} {{model}} {{pod}}"),
        "tagKeys": "severity",
        "useValueForTime": False,
    }


def runbook_links(env: Environment, *alerts: str) -> list[dict]:
    """Links to the runbook section of each alert (one section per alert in docs/runbooks.md,
    anchored by the lower-cased alert name, which is what GitHub and GitLab generate)."""
    return [
        {"title": f"Runbook: {alert}", "url": f"{env.runbooks_url}#{alert.lower()}", "targetBlank": True}
        for alert in alerts
    ]


def target(expr: str, legend: str = "", ref_id: str = "A", instant: bool = False, table: bool = False) -> Target:
    return Target(expr=expr, legendFormat=legend, refId=ref_id, instant=instant, datasource=DATASOURCE,
                  format="table" if table else "time_series")


def targets(*pairs: tuple[str, str]) -> list[Target]:
    """Several (expr, legend) queries in one panel, with refIds A, B, C, ..."""
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def rate(metric: str, selector: str = NS_MODEL, by: str = "model") -> str:
    """sum by (<by>) of rate(metric{selector}[$__rate_interval]), without a Scope (no cluster label)."""
    group = f" by ({by}) " if by else ""
    return f"sum{group}(rate({metric}{{{selector}}}[{RATE}]))"


def ratio(numerator: str, denominator: str, matching: str = "") -> str:
    """numerator / denominator, with no NaN or +Inf: series whose denominator is 0 (no traffic)
    are dropped instead, so an idle model shows "no data" rather than a misleading value.
    `matching` is a vector-matching modifier (`on (cluster) group_left ()`) when the sides differ."""
    operator = f"/ {matching}" if matching else "/"
    return f"{numerator}\n{operator}\n({denominator} > 0)"


def timeseries(
    title: str,
    description: str,
    queries: list[Target],
    unit: str,
    *,
    width: int = 12,
    height: int = 8,
    stacked: bool = False,
    min_zero: bool = True,
    max_value: int | None = None,
    legend_calcs: tuple[str, ...] = ("mean", "max", "lastNotNull"),
    links: list[dict] | None = None,
    no_value: str | None = None,
    bars: bool = False,
) -> TimeSeries:
    extra = {"fieldConfig": {"defaults": {"noValue": no_value}}} if no_value else None
    return TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=queries,
        unit=unit,
        valueMin=0 if min_zero else None,
        valueMax=max_value,
        fillOpacity=30 if stacked or bars else 10,
        drawStyle="bars" if bars else "line",
        stacking={"mode": "normal", "group": "A"} if stacked else {"mode": "none", "group": "A"},
        legendDisplayMode="table",
        legendCalcs=list(legend_calcs),
        tooltipMode="multi",
        tooltipSort="desc",
        thresholds=[{"color": "green", "value": None}],
        gridPos=GridPos(h=height, w=width, x=0, y=0),
        links=links or [],
        extraJson=extra,
    )


def stat(
    title: str,
    description: str,
    expr: str,
    unit: str,
    *,
    width: int = 6,
    height: int = 4,
    thresholds: list[dict] | None = None,
    decimals: int | None = None,
    legend: str = "",
    links: list[dict] | None = None,
) -> Stat:
    return Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=[target(expr, legend, instant=True)],
        format=unit,
        decimals=decimals,
        graphMode="none",
        reduceCalc="lastNotNull",
        noValue="0" if unit == COUNT else "No traffic",
        thresholds=thresholds or [{"color": "green", "value": None}],
        gridPos=GridPos(h=height, w=width, x=0, y=0),
        links=links or [],
    )


def table(
    title: str,
    description: str,
    columns: list[tuple[str, str, str]],
    unit: str,
    *,
    hidden: tuple[str, ...] = (),
    sort_by: str,
    width: int = 24,
    height: int = 10,
) -> Table:
    """One row per series: instant queries (name, expr, unit) merged on their labels, each column
    named and given its unit; `hidden` label columns are dropped. Sortable by any column."""
    queries = [target(expr, "", chr(ord("A") + i), instant=True, table=True) for i, (_, expr, _) in enumerate(columns)]
    rename = {f"Value #{chr(ord('A') + i)}": name for i, (name, _, _) in enumerate(columns)}
    overrides = [
        {"matcher": {"id": "byName", "options": name}, "properties": [{"id": "unit", "value": column_unit}]}
        for name, _, column_unit in columns
    ]
    return Table(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=queries,
        unit=unit,
        overrides=overrides,
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True, **{h: True for h in hidden}},
                                           "renameByName": rename}},
        ],
        sortBy=[TableSortByField(displayName=sort_by, desc=True)],
        filterable=True,
        gridPos=GridPos(h=height, w=width, x=0, y=0),
    )


@dataclass
class Row:
    title: str
    panels: list
    collapsed: bool = False


def layout(rows: list[Row]) -> list:
    """Place rows and their panels on Grafana's 24-column grid, left to right, top to bottom.

    Collapsed rows hold their panels inside the row; open rows are followed by them."""
    placed: list = []
    y = 0
    for row in rows:
        row_y = y
        row_panel = RowPanel(title=row.title, collapsed=row.collapsed, gridPos=GridPos(h=1, w=24, x=0, y=row_y))
        y += 1
        x, line_height, children = 0, 0, []
        for panel in row.panels:
            w, h = panel.gridPos.w, panel.gridPos.h
            if x + w > 24:
                x, y = 0, y + line_height
                line_height = 0
            panel.gridPos = GridPos(h=h, w=w, x=x, y=y)
            children.append(panel)
            x += w
            line_height = max(line_height, h)
        y += line_height
        if row.collapsed:
            # A collapsed row takes one grid line; its panels keep the place they get when opened.
            row_panel.panels = children
            placed.append(row_panel)
            y = row_y + 1
        else:
            placed.extend([row_panel, *children])
    return placed
