"""Grafana's dark theme and its named colours, so a preview looks like the dashboard it stands for."""

from __future__ import annotations

import re

CANVAS = "#111217"
PANEL = "#181b1f"
BORDER = "#2a2d33"
TEXT = "#ccccdc"
TEXT_DIM = "#8e8e9e"
GRID = "#26282d"
ERROR = "#f2495c"
FONT = "DejaVu Sans"  # shipped with matplotlib: the same glyphs on every machine

# Grafana's classic palette (palette-classic), in order.
PALETTE = ["#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9", "#705DA0", "#37872D",
           "#FADE2A", "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477", "#B7DBAB", "#F4D598",
           "#70DBED", "#F9BA8F"]

NAMED = {
    "green": "#73BF69", "semi-dark-green": "#56A64B", "dark-green": "#37872D", "light-green": "#96D98D",
    "red": "#F2495C", "semi-dark-red": "#E02F44", "dark-red": "#C4162A", "light-red": "#FF7383",
    "yellow": "#FADE2A", "semi-dark-yellow": "#F2CC0C", "dark-yellow": "#E0B400", "light-yellow": "#FFEE52",
    "orange": "#FF9830", "semi-dark-orange": "#FF780A", "dark-orange": "#FA6400", "light-orange": "#FFB357",
    "blue": "#5794F2", "semi-dark-blue": "#3274D9", "dark-blue": "#1F60C4", "light-blue": "#8AB8FF",
    "purple": "#B877D9", "semi-dark-purple": "#A352CC", "dark-purple": "#8F3BB8", "light-purple": "#CA95E5",
    "text": TEXT, "transparent": "#00000000", "white": "#ffffff", "black": "#000000",
}


def color(value: str | None, default: str = PALETTE[0]) -> str | tuple:
    """A Grafana colour (a name, #hex, rgb(...) or rgba(...)) as matplotlib takes it."""
    if not value:
        return default
    value = str(value).strip()
    if value in NAMED:
        return NAMED[value]
    if re.fullmatch(r"#[0-9a-fA-F]{3,8}", value):
        return value
    match = re.fullmatch(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*([\d.]+)\s*)?\)", value)
    if match:
        r, g, b = (min(255.0, float(match.group(i))) / 255 for i in (1, 2, 3))
        return (r, g, b, float(match.group(4)) if match.group(4) else 1.0)
    return default
