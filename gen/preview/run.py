"""Preview dashboards: each one's panels queried and drawn into one PNG, and a manifest of what
every panel showed (data, No data and its likely cause, or a query error)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from gen.errors import UserError
from gen.preview import data as data_mod
from gen.preview.draw import Drawn, draw_dashboard, panel_box
from gen.preview.layout import Layout, Placed, layout
from gen.validate import live
from gen.validate.inventory import Dashboard, Inventory

DEFAULT_RANGE_S = 3600.0


@dataclass
class PanelResult:
    placed: Placed
    data: data_mod.PanelData
    drawn: Drawn

    def as_dict(self) -> dict:
        panel = self.placed.panel
        return {"id": panel.get("id"), "title": panel.get("title", ""), "type": panel.get("type"),
                "row": self.placed.row, "description": panel.get("description", ""), "status": self.data.status,
                "cause": self.data.cause, "series": len(self.data.series), "queries": self.data.queries,
                "box": list(self.drawn.box), "plot": list(self.drawn.plot)}


@dataclass
class DashboardPreview:
    env: str
    uid: str
    title: str
    source: str  # out/... path
    image: str  # relative to the output directory
    size: tuple[int, int]
    start: float
    end: float
    panels: list[PanelResult] = field(default_factory=list)
    collapsed_rows: list[str] = field(default_factory=list)
    seconds: float = 0.0
    queries: int = 0

    def as_dict(self) -> dict:
        return {"env": self.env, "uid": self.uid, "title": self.title, "source": self.source, "image": self.image,
                "width": self.size[0], "height": self.size[1], "start": self.start, "end": self.end,
                "collapsed_rows": self.collapsed_rows, "seconds": round(self.seconds, 3), "queries": self.queries,
                "panels": [p.as_dict() for p in self.panels]}


def dashboard_range(model: dict) -> float:
    """The dashboard's own default range (time.from now-6h)."""
    text = str((model.get("time") or {}).get("from") or "")
    match = re.fullmatch(r"now-(\d+[smhdwy])", text)
    return live.seconds(match.group(1)) if match else DEFAULT_RANGE_S


class Session:
    """What a run shares across dashboards of one environment: the scrape interval Prometheus
    reports, which metrics exist, and whether Triton is scraped at all."""

    def __init__(self, env, client, inventory: Inventory):
        self.env, self.client, self.inventory = env, client, inventory
        self.shared: dict = {}
        self.present: dict[str, bool] = {}
        base = live.Context(env, client, inventory)
        live.check_scrape_interval(base)
        self.scrape_s = base.scrape_s

    def context(self, model: dict, start: float, end: float, overrides: dict[str, list[str]]):
        return data_mod.PreviewContext(self.env, self.client, self.inventory, start=start, end=end,
                                       overrides=overrides, dashboard=model, shared=self.shared,
                                       scrape_s=self.scrape_s, present=self.present)


def preview(session: Session, dashboard: Dashboard, end: float, span: float | None, overrides: dict[str, list[str]],
            expand: bool, concurrency: int, out_dir: Path, image: str, label: str = "") -> DashboardPreview:
    started = time.monotonic()
    model = dashboard.model
    span = span or dashboard_range(model)
    start = end - span
    placed: Layout = layout(model, expand)
    items = [(p, panel_box(p)[2]) for p in placed.panels()]
    contexts = []

    def ctx_for(p):
        ctx = session.context(model, start, end, overrides)
        contexts.append(ctx)
        return ctx

    results = data_mod.fetch_all(ctx_for, items, concurrency)
    target = out_dir / image
    target.parent.mkdir(parents=True, exist_ok=True)
    drawn = draw_dashboard(model, placed, results, start, end, target, label)
    shown = DashboardPreview(dashboard.env, dashboard.uid, model.get("title", ""), f"out/{dashboard.path}", image,
                             placed.size_px(), start, end, collapsed_rows=placed.collapsed_rows)
    shown.panels = [PanelResult(p, d, dr) for (p, _), d, dr in zip(items, results, drawn)]
    shown.queries = sum(c.queries_run for c in contexts)
    shown.seconds = time.monotonic() - started
    return shown


def select(inventory: Inventory, envs: set[str], name: str | None) -> list[Dashboard]:
    chosen = [d for d in inventory.dashboards if d.env in envs]
    if name:
        chosen = [d for d in chosen if name in (d.uid, d.model.get("title"), Path(d.path).stem)
                  or d.uid == f"{name}-{d.env}"]
        if not chosen:
            raise UserError(f"--dashboard {name}: no dashboard with this uid, title or file name in "
                            f"out/grafana/{{{','.join(sorted(envs))}}}/")
    return chosen


def canonical(model: dict) -> str:
    # Grafana bumps version on every save; a change in it alone changes nothing a reviewer sees.
    return json.dumps({k: v for k, v in model.items() if k not in ("version", "id")}, sort_keys=True)
