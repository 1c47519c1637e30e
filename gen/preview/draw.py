"""Each panel drawn from its own JSON, the way Grafana draws it, with matplotlib's Agg backend.

Coordinates are pixels from the top-left of the image (as Grafana's grid); `_rect` turns them into
the figure fractions matplotlib wants. Fonts and sizes are fixed and the PNG carries no timestamp
or software tag, so the same data always gives the same bytes."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import Any

from gen.preview import theme
from gen.preview.data import ERROR, NO_DATA, NOT_QUERIED, PanelData, Series
from gen.preview.layout import CELL_PX, COLUMNS, HEADER_PX, MARGIN_PX, WIDTH_PX, Layout, Placed
from gen.preview.units import format_value, tick_labels

BINARY_UNITS = {"bytes", "bits", "Bps", "binBps", "kbytes", "mbytes", "gbytes"}
TITLE_PX = 26
PAD_PX = 8
LEGEND_ROW_PX = 15
PT_PER_PX = 0.72  # at 100 dpi


@dataclass
class Drawn:
    """Where a panel landed, for the HTML page and the tests: box and plot area in image pixels
    (left, top, width, height)."""

    box: tuple[int, int, int, int]
    plot: tuple[int, int, int, int]


def _setup():
    import matplotlib

    matplotlib.use("Agg", force=True)
    matplotlib.rcParams.update({
        "font.family": theme.FONT, "font.size": 8, "svg.hashsalt": "gen-preview", "path.simplify": True,
        "axes.unicode_minus": False, "text.usetex": False, "text.antialiased": True,
    })


class Canvas:
    def __init__(self, width: int, height: int):
        _setup()
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.width, self.height = width, height
        self.figure = Figure(figsize=(width / 100, height / 100), dpi=100, facecolor=theme.CANVAS)
        FigureCanvasAgg(self.figure)

    def frac(self, left: float, top: float, width: float, height: float) -> list[float]:
        return [left / self.width, 1 - (top + height) / self.height, width / self.width, height / self.height]

    def text(self, x: float, y: float, text: str, size: float = 8, color=theme.TEXT, ha="left", va="top",
             weight="normal", clip_width: float | None = None) -> None:
        if clip_width is not None:
            text = _ellipsis(text, clip_width, size)
        self.figure.text(x / self.width, 1 - y / self.height, text, fontsize=size, color=color, ha=ha, va=va,
                         fontweight=weight, fontfamily=theme.FONT,
                         parse_math=False)  # "$namespace" in a legend is text, not TeX

    def box(self, left, top, width, height, face, edge=None, alpha=1.0, zorder=-4) -> None:
        """A filled rectangle below the axes (zorder < 0): backgrounds, swatches, bars."""
        from matplotlib.patches import Rectangle

        self.figure.patches.append(Rectangle(
            (left / self.width, 1 - (top + height) / self.height), width / self.width, height / self.height,
            transform=self.figure.transFigure, facecolor=face, edgecolor=edge or face, linewidth=0.8, alpha=alpha,
            figure=self.figure, zorder=zorder))

    def axes(self, left, top, width, height):
        ax = self.figure.add_axes(self.frac(left, top, width, height))
        ax.set_facecolor("none")
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.tick_params(colors=theme.TEXT_DIM, labelsize=7.5, length=0, pad=3)
        return ax

    def save(self, path) -> None:
        # compress_level 3: a fraction of the default's encoding time for a few per cent more bytes.
        self.figure.savefig(path, format="png", dpi=100, facecolor=theme.CANVAS, metadata={"Software": None},
                            pil_kwargs={"compress_level": 3})


def _text_px(text: str, size_pt: float) -> float:
    """Rough width of text in DejaVu Sans: 0.6 em per character."""
    return len(text) * size_pt / PT_PER_PX * 0.6


def _ellipsis(text: str, width_px: float, size_pt: float) -> str:
    limit = max(1, int(width_px / (size_pt / PT_PER_PX * 0.6)))
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


# -- field config -----------------------------------------------------------------------------------

def _defaults(panel: dict) -> dict:
    return ((panel.get("fieldConfig") or {}).get("defaults")) or {}


def _overrides(panel: dict, name: str) -> dict:
    found: dict[str, Any] = {}
    for override in (panel.get("fieldConfig") or {}).get("overrides") or []:
        matcher = override.get("matcher") or {}
        if matcher.get("id") in ("byName", "byDisplayName") and matcher.get("options") == name:
            for prop in override.get("properties") or []:
                found[prop.get("id")] = prop.get("value")
    return found


def series_color(panel: dict, index: int, name: str):
    override = _overrides(panel, name).get("color") or {}
    if override.get("mode") == "fixed" and override.get("fixedColor"):
        return theme.color(override["fixedColor"])
    config = _defaults(panel).get("color") or {}
    if config.get("mode") == "fixed":
        return theme.color(config.get("fixedColor"), theme.PALETTE[0])
    return theme.PALETTE[index % len(theme.PALETTE)]


def threshold_color(panel: dict, value: float) -> str:
    defaults = _defaults(panel)
    thresholds = defaults.get("thresholds") or {}
    steps = thresholds.get("steps") or [{"color": "green", "value": None}]
    if thresholds.get("mode") == "percentage":
        low, high = defaults.get("min", 0), defaults.get("max", 100)
        value = 100 * (value - low) / (high - low) if high != low else 0
    chosen = steps[0].get("color")
    for step in steps:
        if step.get("value") is None or (not math.isnan(value) and value >= float(step["value"])):
            chosen = step.get("color")
    return theme.color(chosen, theme.NAMED["green"])


def map_value(panel: dict, value: float) -> str | None:
    """Value mappings (value, range, special): the text Grafana shows instead of the number."""
    for mapping in _defaults(panel).get("mappings") or []:
        options = mapping.get("options") or {}
        kind = mapping.get("type")
        if kind == "value":
            for key, result in options.items():
                try:
                    if float(key) == value:
                        return (result or {}).get("text")
                except ValueError:
                    continue
        elif kind == "range":
            low, high = options.get("from"), options.get("to")
            if (low is None or value >= float(low)) and (high is None or value <= float(high)):
                return (options.get("result") or {}).get("text")
        elif kind == "special" and options.get("match") in ("nan", "null+nan") and math.isnan(value):
            return (options.get("result") or {}).get("text")
    return None


def display(panel: dict, value: float, unit: str | None = None) -> str:
    mapped = map_value(panel, value)
    if mapped:
        return mapped
    defaults = _defaults(panel)
    decimals = defaults.get("decimals")
    return format_value(value, unit if unit is not None else defaults.get("unit"),
                        int(decimals) if isinstance(decimals, (int, float)) else None)


REDUCERS = {
    "lastNotNull": lambda v: next((x for x in reversed(v) if not math.isnan(x)), math.nan),
    "last": lambda v: v[-1] if v else math.nan,
    "firstNotNull": lambda v: next((x for x in v if not math.isnan(x)), math.nan),
    "first": lambda v: v[0] if v else math.nan,
    "mean": lambda v: (sum(x for x in v if not math.isnan(x)) / max(1, sum(1 for x in v if not math.isnan(x))))
    if any(not math.isnan(x) for x in v) else math.nan,
    "max": lambda v: max((x for x in v if not math.isnan(x)), default=math.nan),
    "min": lambda v: min((x for x in v if not math.isnan(x)), default=math.nan),
    "sum": lambda v: sum(x for x in v if not math.isnan(x)),
    "count": lambda v: float(len(v)),
    "range": lambda v: (max((x for x in v if not math.isnan(x)), default=math.nan)
                        - min((x for x in v if not math.isnan(x)), default=math.nan)),
    "diff": lambda v: (v[-1] - v[0]) if v else math.nan,
}
CALC_NAMES = {"lastNotNull": "Last *", "last": "Last", "mean": "Mean", "max": "Max", "min": "Min", "sum": "Total",
              "firstNotNull": "First *", "first": "First", "count": "Count", "range": "Range", "diff": "Difference"}


def reduce(values: list[float], calc: str) -> float:
    return REDUCERS.get(calc, REDUCERS["lastNotNull"])(values)


# -- panels -----------------------------------------------------------------------------------------

def panel_box(placed: Placed) -> tuple[int, int, int, int]:
    col = WIDTH_PX / COLUMNS
    left = round(placed.x * col + MARGIN_PX / 2)
    top = HEADER_PX + placed.y * CELL_PX + MARGIN_PX // 2
    return left, top, round(placed.w * col - MARGIN_PX), placed.h * CELL_PX - MARGIN_PX


def draw_row(canvas: Canvas, placed: Placed) -> None:
    left, top, width, height = panel_box(placed)
    canvas.text(left + 2, top + height / 2 + 6, placed.panel.get("title") or "", size=10.5, weight="bold", va="center")


def draw_panel(canvas: Canvas, placed: Placed, data: PanelData, start: float, end: float) -> Drawn:
    panel = placed.panel
    left, top, width, height = panel_box(placed)
    transparent = bool(panel.get("transparent"))
    canvas.box(left, top, width, height, "none" if transparent else theme.PANEL, theme.BORDER, zorder=-5)
    canvas.text(left + PAD_PX, top + 7, panel.get("title") or "", size=8.5, weight="bold", clip_width=width - 2 * PAD_PX)
    content = (left + PAD_PX, top + TITLE_PX, width - 2 * PAD_PX, height - TITLE_PX - PAD_PX)
    kind = panel.get("type")
    if kind == "text":
        draw_text_panel(canvas, panel, content)
        return Drawn((left, top, width, height), content)
    if data.status == ERROR:
        canvas.box(left, top, 6, 6, theme.ERROR)
        _message(canvas, content, "Query error", data.cause, theme.ERROR)
        return Drawn((left, top, width, height), content)
    if data.status in (NO_DATA, NOT_QUERIED):
        no_value = _defaults(panel).get("noValue")
        if kind in ("stat", "gauge") and no_value not in (None, ""):
            _big_value(canvas, content, str(no_value), theme.TEXT)  # Grafana shows noValue instead
            return Drawn((left, top, width, height), content)
        _message(canvas, content, "No data", data.cause if data.status == NO_DATA else "the panel has no queries",
                 theme.TEXT_DIM)
        return Drawn((left, top, width, height), content)
    drawer = {"timeseries": draw_timeseries, "graph": draw_timeseries, "stat": draw_stat, "singlestat": draw_stat,
              "gauge": draw_gauge, "bargauge": draw_bargauge, "table": draw_table,
              "table-old": draw_table}.get(kind)
    if drawer is None:
        _message(canvas, content, f"{kind} panel", "this panel type is not drawn by gen preview; its data is "
                 "listed on the HTML page", theme.TEXT_DIM)
        return Drawn((left, top, width, height), content)
    plot = drawer(canvas, panel, data.series, content, start, end)
    return Drawn((left, top, width, height), tuple(int(round(v)) for v in (plot or content)))


def _message(canvas: Canvas, content, headline: str, detail: str, color) -> None:
    left, top, width, height = content
    canvas.text(left + width / 2, top + height / 2 - 4, headline, size=12, color=color, ha="center", va="bottom")
    if detail:
        chars = max(20, int(width / 5.2))
        lines = textwrap.wrap(detail, chars)[: max(1, int((height / 2 - 8) // 12))]
        for i, line in enumerate(lines):
            canvas.text(left + width / 2, top + height / 2 + 4 + i * 12, line, size=7, color=theme.TEXT_DIM,
                        ha="center")


def _big_value(canvas: Canvas, content, text: str, color, background=None) -> None:
    left, top, width, height = content
    if background is not None:
        canvas.box(left, top, width, height, background)
    size_px = min(height * 0.55, width / max(1, len(text) * 0.62))
    canvas.text(left + width / 2, top + height / 2, text, size=max(6, size_px * PT_PER_PX), color=color,
                ha="center", va="center")


def draw_text_panel(canvas: Canvas, panel: dict, content) -> None:
    left, top, width, height = content
    body = str((panel.get("options") or {}).get("content") or panel.get("content") or "")
    lines = []
    for raw in body.splitlines():
        lines.extend(textwrap.wrap(raw.lstrip("#> ").replace("**", ""), max(20, int(width / 5.6))) or [""])
    for i, line in enumerate(lines[: int(height // 13)]):
        canvas.text(left, top + i * 13, line, size=8)


# -- time series ------------------------------------------------------------------------------------

_TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]


def time_ticks(start: float, end: float, width_px: float) -> tuple[list[float], list[str]]:
    import datetime as dt

    most = max(2, int(width_px / 70))
    step = next((s for s in _TIME_STEPS if (end - start) / s <= most), _TIME_STEPS[-1])
    first = math.ceil(start / step) * step
    ticks = [first + i * step for i in range(int((end - first) // step) + 1)]
    fmt = ("%H:%M:%S" if step < 60 else "%H:%M" if end - start <= 86400 else "%m/%d %H:%M" if step < 86400
           else "%m/%d")
    return ticks, [dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime(fmt) for t in ticks]


def _aligned(series: list[Series]) -> tuple[list[float], list[list[float]]]:
    times = sorted({t for s in series for t in s.times})
    index = {t: i for i, t in enumerate(times)}
    rows = []
    for s in series:
        row = [math.nan] * len(times)
        for t, v in zip(s.times, s.values):
            row[index[t]] = v
        rows.append(row)
    return times, rows


def _legend_layout(panel: dict, count: int, content) -> tuple[str, list[str], int]:
    legend = (panel.get("options") or {}).get("legend") or {}
    mode = legend.get("displayMode", "list")
    if legend.get("showLegend") is False or mode == "hidden":
        return "hidden", [], 0
    calcs = [c for c in legend.get("calcs") or [] if c in REDUCERS] if mode == "table" else []
    rows = count + (1 if mode == "table" else 0)
    room = int(content[3] * 0.4 // LEGEND_ROW_PX)
    return mode, calcs, min(rows, max(1, room)) * LEGEND_ROW_PX + 4


def draw_timeseries(canvas: Canvas, panel: dict, series: list[Series], content, start: float, end: float):
    import numpy as np

    left, top, width, height = content
    defaults = _defaults(panel)
    custom = defaults.get("custom") or {}
    unit = defaults.get("unit")
    mode, calcs, legend_px = _legend_layout(panel, len(series), content)
    names = [(_overrides(panel, s.name).get("displayName") or s.name) for s in series]
    colors = [series_color(panel, i, s.name) for i, s in enumerate(series)]
    times, rows = _aligned(series)
    x = np.array(times, dtype=float)
    stacking = (custom.get("stacking") or {}).get("mode", "none")
    values = np.array(rows, dtype=float) if rows else np.zeros((0, 0))
    shown = values.copy()
    if stacking in ("normal", "percent") and len(rows):
        filled = np.nan_to_num(values)
        if stacking == "percent":
            totals = filled.sum(axis=0)
            filled = np.divide(filled, totals, out=np.zeros_like(filled), where=totals != 0)
        shown = np.cumsum(filled, axis=0)
        shown[np.isnan(values)] = np.nan
    y_label_px = 58
    plot = (left + y_label_px, top + 2, width - y_label_px - 4, height - legend_px - 20)
    ax = canvas.axes(*plot)
    ax.set_xlim(start, end)
    fill = float(custom.get("fillOpacity", 0) or 0) / 100
    line_width = float(custom.get("lineWidth", 1) or 1)
    draw_style = custom.get("drawStyle", "line")
    below = None
    for i in range(len(rows)):
        y = shown[i]
        if draw_style == "bars":
            ax.bar(x, y - (below if below is not None else 0), bottom=below, width=(x[1] - x[0]) * 0.8 if len(x) > 1
                   else 1, color=colors[i], alpha=max(fill, 0.6), linewidth=0)
        elif draw_style == "points":
            ax.scatter(x, y, s=6, color=colors[i], linewidths=0)
        else:
            ax.plot(x, y, color=colors[i], linewidth=line_width, solid_joinstyle="round")
            if len(x) and not np.isfinite(y).any():
                continue
            single = np.isfinite(y) & ~np.isfinite(np.roll(y, 1)) & ~np.isfinite(np.roll(y, -1))
            if single.any():  # Grafana shows isolated points as dots
                ax.scatter(x[single], y[single], s=5, color=colors[i], linewidths=0)
        if fill > 0 and draw_style != "bars":
            base = below if below is not None else np.zeros_like(y)
            ax.fill_between(x, base, y, where=np.isfinite(y), color=colors[i], alpha=fill, linewidth=0)
        if stacking in ("normal", "percent"):
            below = np.nan_to_num(shown[i])
    finite = shown[np.isfinite(shown)] if shown.size else np.array([])
    low = float(finite.min()) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 1.0
    low = min(low, 0.0) if low >= 0 and custom.get("axisSoftMin") is None else low
    if defaults.get("min") is not None:
        low = float(defaults["min"])
    if defaults.get("max") is not None:
        high = float(defaults["max"])
    if stacking == "percent":
        low, high = 0.0, 1.0
        unit = "percentunit"
    if high <= low:
        high = low + (abs(low) or 1.0)
    log = (custom.get("scaleDistribution") or {}).get("type") == "log"
    if log and low > 0:
        ax.set_yscale("log", base=(custom.get("scaleDistribution") or {}).get("log", 2))
        ax.set_ylim(low, high)
    else:
        from matplotlib.ticker import MaxNLocator

        # Binary units tick at powers of 1024 (256 MiB, not 238 MiB), as Grafana's axes do.
        scale = 1.0
        if unit in BINARY_UNITS:
            while max(abs(low), abs(high)) / scale >= 1024:
                scale *= 1024
        locator = MaxNLocator(nbins=max(2, int(plot[3] / 40)), steps=[1, 2, 2.5, 5, 10])
        ticks = [t * scale for t in locator.tick_values(low / scale, high / scale)
                 if low / scale - 1e-12 <= t <= (high / scale) * (1 + 1e-9) + 1e-12]
        if defaults.get("max") is None and ticks and ticks[-1] < high:
            step = ticks[1] - ticks[0] if len(ticks) > 1 else high
            ticks.append(ticks[-1] + step)
            high = ticks[-1]
        # A little room beyond the end ticks: a line at the minimum (a flat 0) or at a fixed maximum
        # (100% CPU) stays visible instead of being cut in half by the plot's edge.
        ax.set_ylim(low - (high - low) * 0.02, high + (high - low) * 0.02)
        ax.set_yticks(ticks)
        for label in ax.set_yticklabels(tick_labels(ticks, unit)):
            label.set_parse_math(False)
    xticks, xlabels = time_ticks(start, end, plot[2])
    ax.set_xticks(xticks)
    ax.set_xticklabels(xlabels)
    ax.grid(True, color=theme.GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    thresholds_style = (custom.get("thresholdsStyle") or {}).get("mode", "off")
    if thresholds_style in ("line", "line+area", "dashed", "dashed+area"):
        for step in (defaults.get("thresholds") or {}).get("steps") or []:
            if step.get("value") is not None and low <= float(step["value"]) <= high:
                ax.axhline(float(step["value"]), color=theme.color(step.get("color")), linewidth=1,
                           linestyle="--" if "dashed" in thresholds_style else "-")
    if mode != "hidden":
        _legend(canvas, panel, series, names, colors, calcs, mode,
                (left, top + height - legend_px + 2, width, legend_px), unit)
    return plot


def _legend(canvas: Canvas, panel, series, names, colors, calcs, mode, box, unit) -> None:
    left, top, width, height = box
    rows = int(height // LEGEND_ROW_PX)
    col_w = 74
    name_w = width - 18 - col_w * len(calcs)
    y = top
    if mode == "table":
        for j, calc in enumerate(calcs):
            canvas.text(left + 18 + name_w + j * col_w + col_w - 4, y, CALC_NAMES.get(calc, calc), size=7.5,
                        color=theme.TEXT_DIM, ha="right")
        y += LEGEND_ROW_PX
        rows -= 1
    if mode == "list":
        x = left
        line = 0
        for name, c in zip(names, colors):
            w = _text_px(name, 7.5) + 30
            if x + w > left + width and x > left:
                line += 1
                x = left
                if line >= rows:
                    break
            canvas.box(x, y + line * LEGEND_ROW_PX + 4, 12, 3, c)
            canvas.text(x + 16, y + line * LEGEND_ROW_PX, name, size=7.5)
            x += w
        return
    hidden = max(0, len(series) - rows)
    for i, (s, name, c) in enumerate(zip(series, names, colors)):
        if i >= rows - (1 if hidden else 0):
            canvas.text(left + 18, y, f"+{len(series) - i} more series", size=7.5, color=theme.TEXT_DIM)
            break
        canvas.box(left, y + 5, 12, 3, c)
        canvas.text(left + 18, y, name, size=7.5, clip_width=name_w - 6)
        for j, calc in enumerate(calcs):
            canvas.text(left + 18 + name_w + j * col_w + col_w - 4, y, display(panel, reduce(s.values, calc), unit),
                        size=7.5, ha="right")
        y += LEGEND_ROW_PX


# -- single values ----------------------------------------------------------------------------------

def _reduced(panel: dict, series: list[Series]) -> list[tuple[str, float, Series]]:
    options = (panel.get("options") or {}).get("reduceOptions") or {}
    calc = (options.get("calcs") or ["lastNotNull"])[0]
    return [(s.name, reduce(s.values, calc), s) for s in series]


def _cells(content, count: int, horizontal: bool):
    left, top, width, height = content
    count = max(1, count)
    if horizontal:
        w = width / count
        return [(left + i * w, top, w - 4, height) for i in range(count)]
    h = height / count
    return [(left, top + i * h, width, h - 4) for i in range(count)]


def draw_stat(canvas: Canvas, panel: dict, series: list[Series], content, start: float, end: float):
    options = panel.get("options") or {}
    values = _reduced(panel, series)
    orientation = options.get("orientation", "auto")
    horizontal = orientation == "vertical" or (orientation == "auto" and content[2] >= content[3])
    color_mode = options.get("colorMode", "value")
    text_mode = options.get("textMode", "auto")
    for (name, value, s), cell in zip(values, _cells(content, len(values), horizontal)):
        c = threshold_color(panel, value) if (_defaults(panel).get("color") or {}).get("mode", "thresholds") == "thresholds" \
            else series_color(panel, 0, name)
        left, top, width, height = cell
        show_name = text_mode in ("value_and_name", "name") or (text_mode == "auto" and len(values) > 1)
        if color_mode == "background":
            canvas.box(left, top, width, height, c)
        if show_name:
            canvas.text(left + width / 2, top + 2, name, size=8, ha="center", clip_width=width)
            top, height = top + 14, height - 14
        if options.get("graphMode") == "area" and len(s.values) > 1:
            # On a coloured background Grafana draws the sparkline in a lighter shade of it.
            line = (1, 1, 1, 0.55) if color_mode == "background" else c
            _sparkline(canvas, s, (left, top + height * 0.55, width, height * 0.45), line, start, end)
            height = height * 0.6
        text_color = "#ffffff" if color_mode == "background" else theme.TEXT if color_mode == "none" else c
        if text_mode != "name":
            _big_value(canvas, (left, top, width, height), display(panel, value), text_color)
    return content


def _sparkline(canvas: Canvas, s: Series, box, c, start, end) -> None:
    ax = canvas.axes(*box)
    ax.set_axis_off()
    ax.plot(s.times, s.values, color=c, linewidth=1)
    ax.fill_between(s.times, min([v for v in s.values if not math.isnan(v)] or [0]), s.values, color=c, alpha=0.2,
                    linewidth=0)
    ax.set_xlim(start, end)


def draw_gauge(canvas: Canvas, panel: dict, series: list[Series], content, start: float, end: float):
    from matplotlib.patches import Wedge

    defaults = _defaults(panel)
    unit = defaults.get("unit")
    low = float(defaults.get("min", 0) or 0)
    high = float(defaults.get("max", 1 if unit == "percentunit" else 100) or 100)
    values = _reduced(panel, series)
    for (name, value, _), cell in zip(values, _cells(content, len(values), content[2] >= content[3])):
        left, top, width, height = cell
        size = min(width, height * 1.3)
        ax = canvas.axes(left + (width - size) / 2, top + (height - size * 0.8) / 2, size, size * 0.8)
        ax.set_axis_off()
        ax.set_xlim(-1.1, 1.1)
        ax.set_ylim(-0.75, 1.1)
        share = 0 if math.isnan(value) or high == low else min(1, max(0, (value - low) / (high - low)))
        ax.add_patch(Wedge((0, 0), 1, -30, 210, width=0.18, color=theme.GRID))
        ax.add_patch(Wedge((0, 0), 1, 210 - 240 * share, 210, width=0.18, color=threshold_color(panel, value)))
        ax.text(0, 0.05, display(panel, value), ha="center", va="center", color=threshold_color(panel, value),
                fontsize=max(7, size * 0.12 * PT_PER_PX), parse_math=False)
        if len(values) > 1:
            ax.text(0, -0.55, name, ha="center", va="center", color=theme.TEXT, fontsize=7.5, parse_math=False)
    return content


def draw_bargauge(canvas: Canvas, panel: dict, series: list[Series], content, start: float, end: float):
    defaults = _defaults(panel)
    low = float(defaults.get("min", 0) or 0)
    values = _reduced(panel, series)
    finite = [v for _, v, _ in values if not math.isnan(v)]
    high = float(defaults["max"]) if defaults.get("max") is not None else max(finite + [low + 1])
    left, top, width, height = content
    row = min(28, height / max(1, len(values)))
    for i, (name, value, _) in enumerate(values[: int(height // max(row, 1))]):
        y = top + i * row
        share = 0 if math.isnan(value) or high == low else min(1, max(0, (value - low) / (high - low)))
        canvas.text(left, y + 2, name, size=7.5, clip_width=width * 0.3)
        bar_left, bar_w = left + width * 0.32, width * 0.5
        canvas.box(bar_left, y + 3, bar_w, row - 8, theme.GRID)
        canvas.box(bar_left, y + 3, max(1, bar_w * share), row - 8, threshold_color(panel, value))
        canvas.text(left + width, y + 2, display(panel, value), size=8, ha="right", color=threshold_color(panel, value))
    return content


# -- tables -----------------------------------------------------------------------------------------

def table_rows(panel: dict, series: list[Series]) -> tuple[list[str], list[list[str]]]:
    """Grafana's table of Prometheus results, merged by labels: one column per label, then one
    value column per query (Value, or Value #A, #B with several), the last value of each series."""
    refs = list(dict.fromkeys(s.ref for s in series))
    labels = sorted({k for s in series for k in s.labels if k != "__name__"})
    value_cols = ["Value"] if len(refs) == 1 else [f"Value #{r}" for r in refs]
    merged: dict[tuple, dict[str, float]] = {}
    for s in series:
        key = tuple(s.labels.get(k, "") for k in labels)
        merged.setdefault(key, {})[s.ref] = reduce(s.values, "lastNotNull")
    header = labels + value_cols
    rows = []
    for key in sorted(merged):
        cells = list(key) + [display(panel, merged[key][r]) if r in merged[key] else "" for r in refs]
        rows.append(cells)
    return header, rows


def draw_table(canvas: Canvas, panel: dict, series: list[Series], content, start: float, end: float):
    left, top, width, height = content
    header, rows = table_rows(panel, series)
    widths = [max([len(header[j])] + [len(r[j]) for r in rows]) + 2 for j in range(len(header))]
    scale = width / max(1, sum(widths))
    row_px = 17
    fits = int(height // row_px) - 1
    x = left
    for j, name in enumerate(header):
        canvas.text(x + 3, top + 2, name, size=7.5, color=theme.TEXT_DIM, weight="bold", clip_width=widths[j] * scale - 4)
        x += widths[j] * scale
    shown = rows if len(rows) <= fits else rows[: max(0, fits - 1)]
    for i, row in enumerate(shown):
        y = top + (i + 1) * row_px
        if i % 2 == 0:
            canvas.box(left, y, width, row_px, "#1f2226")
        x = left
        for j, cell in enumerate(row):
            canvas.text(x + 3, y + 3, cell, size=7.5, clip_width=widths[j] * scale - 4)
            x += widths[j] * scale
    if len(shown) < len(rows):
        canvas.text(left + 3, top + (len(shown) + 1) * row_px + 3, f"+{len(rows) - len(shown)} more rows", size=7.5,
                    color=theme.TEXT_DIM)
    return content


# -- the dashboard ----------------------------------------------------------------------------------

def draw_dashboard(model: dict, layout: Layout, data: list[PanelData], start: float, end: float, path,
                   label: str = "") -> list[Drawn]:
    import datetime as dt

    width, height = layout.size_px()
    canvas = Canvas(width, height)
    stamp = " to ".join(dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
                        for t in (start, end))
    canvas.text(MARGIN_PX, 12, (model.get("title") or model.get("uid") or "") + (f"  ({label})" if label else ""),
                size=13, weight="bold")
    canvas.text(width - MARGIN_PX, 15, stamp, size=8.5, color=theme.TEXT_DIM, ha="right")
    if layout.collapsed_rows:
        canvas.text(MARGIN_PX, 36, "collapsed rows left out: " + ", ".join(layout.collapsed_rows), size=7.5,
                    color=theme.TEXT_DIM)
    drawn = []
    panels = iter(data)
    for placed in layout.items:
        if placed.is_row:
            draw_row(canvas, placed)
            continue
        drawn.append(draw_panel(canvas, placed, next(panels), start, end))
    canvas.save(path)
    canvas.figure.clear()
    return drawn
