"""Grafana's grid: 24 columns, rows of 30 px plus an 8 px margin. Panels sit at their gridPos; a
row is a heading across the grid. A collapsed row keeps its panels inside it: they are left out
(and the panels below move up by the row's height) unless `expand`, which opens every collapsed row
and moves what is below it down by the height of its panels, as Grafana does when a row is opened."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COLUMNS = 24
WIDTH_PX = 1600
CELL_PX = 38  # 30 px row height + 8 px margin (Grafana's GRID_CELL_HEIGHT, GRID_CELL_VMARGIN)
HEADER_PX = 56  # dashboard title and time range
MARGIN_PX = 8


@dataclass(frozen=True)
class Placed:
    panel: dict[str, Any]
    x: int
    y: int
    w: int
    h: int
    row: str = ""  # title of the row the panel belongs to

    @property
    def is_row(self) -> bool:
        return self.panel.get("type") == "row"


@dataclass
class Layout:
    items: list[Placed] = field(default_factory=list)
    collapsed_rows: list[str] = field(default_factory=list)  # rows left out (not expanded)

    @property
    def bottom(self) -> int:
        return max((p.y + p.h for p in self.items), default=0)

    def size_px(self) -> tuple[int, int]:
        return WIDTH_PX, HEADER_PX + self.bottom * CELL_PX + MARGIN_PX

    def panels(self) -> list[Placed]:
        return [p for p in self.items if not p.is_row]


def _pos(panel: dict[str, Any]) -> tuple[int, int, int, int]:
    pos = panel.get("gridPos") or {}
    x = max(0, min(COLUMNS - 1, int(pos.get("x", 0) or 0)))
    w = max(1, min(COLUMNS - x, int(pos.get("w", 12) or 12)))
    return x, max(0, int(pos.get("y", 0) or 0)), w, max(1, int(pos.get("h", 8) or 8))


def layout(model: dict[str, Any], expand: bool = False) -> Layout:
    result = Layout()
    shift = 0  # grid units everything below has moved (negative: up)
    row_title = ""
    for panel in sorted(model.get("panels") or [], key=lambda p: (_pos(p)[1], _pos(p)[0])):
        x, y, w, h = _pos(panel)
        if panel.get("type") == "row":
            row_title = panel.get("title") or ""
            inner = panel.get("panels") or []
            if panel.get("collapsed") and not expand:
                result.collapsed_rows.append(row_title)
                shift -= 1
                continue
            result.items.append(Placed(panel, 0, y + shift, COLUMNS, 1, row_title))
            if panel.get("collapsed") and inner:
                top = min(_pos(p)[1] for p in inner)
                bottom = max(_pos(p)[1] + _pos(p)[3] for p in inner)
                base = y + shift + 1
                for child in inner:
                    cx, cy, cw, ch = _pos(child)
                    result.items.append(Placed(child, cx, base + cy - top, cw, ch, row_title))
                shift += bottom - top
            continue
        result.items.append(Placed(panel, x, y + shift, w, h, row_title))
    return result
