"""Panel shapes shared by the dashboard definitions, built with grafanalib.

Queries are written against Grafana's variables: `$namespace` and `$model` are matched with
`=~` so the model variable's All value (`.+`) works without a huge alternation regex.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafanalib.core import (
    GridPos,
    RowPanel,
    Stat,
    Target,
    Template,
    Templating,
    TimeSeries,
)

from gen.settings import Environment

DATASOURCE = "${datasource}"
RATE = "$__rate_interval"
NS = 'namespace=~"$namespace"'
NS_MODEL = 'namespace=~"$namespace", model=~"$model"'

# Grafana unit ids. The micro sign is U+00B5, not the Greek mu (U+03BC): with the wrong one
# Grafana shows the raw number without a unit.
MICROSECONDS = "\u00b5s"
PERCENT_0_1 = "percentunit"
REQUESTS_PER_SECOND = "reqps"
BYTES = "bytes"
COUNT = "short"

REFRESH_ON_TIME_RANGE_CHANGE = 2


def uid_for(name: str, env: Environment) -> str:
    """Stable per environment; Grafana rejects uids over 40 characters (checked by the builder)."""
    return f"{name}-{env.name}"


def variables(env: Environment, metric: str = "nv_inference_count") -> Templating:
    """datasource / namespace / model, as the reference dashboard has them."""
    return Templating(
        list=[
            Template(
                name="datasource",
                label="Data source",
                type="datasource",
                query="prometheus",
                default="default",
                refresh=1,
            ),
            Template(
                name="namespace",
                label="Namespace",
                dataSource=DATASOURCE,
                query=f"label_values({metric}, namespace)",
                default=env.namespace,
                refresh=REFRESH_ON_TIME_RANGE_CHANGE,
            ),
            Template(
                name="model",
                label="Model",
                dataSource=DATASOURCE,
                query=f'label_values({metric}{{{NS}}}, model)',
                default="$__all",
                includeAll=True,
                multi=True,
                allValue=".+",
                refresh=REFRESH_ON_TIME_RANGE_CHANGE,
            ),
        ]
    )


def target(expr: str, legend: str = "", ref_id: str = "A", instant: bool = False) -> Target:
    return Target(expr=expr, legendFormat=legend, refId=ref_id, instant=instant, datasource=DATASOURCE)


def targets(*pairs: tuple[str, str]) -> list[Target]:
    """Several (expr, legend) queries in one panel, with refIds A, B, C, ..."""
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def rate(metric: str, selector: str = NS_MODEL, by: str = "model") -> str:
    group = f" by ({by}) " if by else ""
    return f"sum{group}(rate({metric}{{{selector}}}[{RATE}]))"


def ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator, with no NaN or +Inf: series whose denominator is 0 (no traffic)
    are dropped instead, so an idle model shows "no data" rather than a misleading value."""
    return f"{numerator}\n/\n({denominator} > 0)"


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
) -> TimeSeries:
    return TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=queries,
        unit=unit,
        valueMin=0 if min_zero else None,
        valueMax=max_value,
        fillOpacity=30 if stacked else 10,
        stacking={"mode": "normal", "group": "A"} if stacked else {"mode": "none", "group": "A"},
        legendDisplayMode="table",
        legendCalcs=list(legend_calcs),
        tooltipMode="multi",
        tooltipSort="desc",
        thresholds=[{"color": "green", "value": None}],
        gridPos=GridPos(h=height, w=width, x=0, y=0),
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
) -> Stat:
    return Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=[target(expr, instant=True)],
        format=unit,
        decimals=decimals,
        graphMode="none",
        reduceCalc="lastNotNull",
        noValue="0" if unit == COUNT else "No traffic",
        thresholds=thresholds or [{"color": "green", "value": None}],
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
