"""What differs between two versions of a dashboard, in the terms a person reviews: panels added,
removed or moved (by title and row), queries changed (old and new PromQL), units, thresholds,
variables and time settings. Fields Grafana manages (id, version) and formatting are ignored.

The one place that decides what a difference is: `gen diff`, `gen diff --against` and the
conflicts `gen push` reports all print these changes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Iterator

from gen.push.model import normal_form

TIME_KEYS = ("time", "timepicker", "refresh", "timezone", "weekStart", "fiscalYearStartMonth", "nowDelay")
# Panel fields shown by their own kind of change (or not at all: ids are Grafana's to renumber).
PANEL_KEYS_APART = {"id", "gridPos", "targets", "title", "fieldConfig", "panels", "collapsed"}


@dataclass(frozen=True)
class Change:
    kind: str  # panel-added | panel-removed | panel-renamed | panel-moved | query-changed | query-added | query-removed |
    #            unit-changed | thresholds-changed | variable-added | variable-removed | variable-changed |
    #            time-changed | panel-changed | setting-changed
    where: str  # "panel 'Requests' (row Traffic)", "variable model", "dashboard"
    field: str = ""
    old: Any = None
    new: Any = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _panels(model: dict[str, Any]) -> dict[str, tuple[dict, str]]:
    """{key: (panel, row title)} for every panel that is not a row; repeated titles get #2, #3."""
    found: dict[str, tuple[dict, str]] = {}
    row = ""

    def add(panel: dict, row_title: str) -> None:
        title = str(panel.get("title") or f"#{panel.get('id')}")
        key, n = title, 1
        while key in found:
            n += 1
            key = f"{title} #{n}"
        found[key] = (panel, row_title)

    for panel in model.get("panels") or []:
        if not isinstance(panel, dict):
            continue
        if panel.get("type") == "row":
            row = str(panel.get("title") or "")
            for child in panel.get("panels") or []:
                if isinstance(child, dict):
                    add(child, row)
            continue
        add(panel, row)
    return found


def _where(title: str, row: str) -> str:
    return f"panel '{title}'" + (f" (row {row})" if row else "")


def _position(panel: dict, row: str) -> str:
    grid = panel.get("gridPos") or {}
    place = f"x={grid.get('x')} y={grid.get('y')} w={grid.get('w')} h={grid.get('h')}"
    return f"row {row}, {place}" if row else place


def _leaf_changes(old: Any, new: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(dotted path, old, new) for each leaf that differs; a list of scalars counts as one leaf."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in old:
                yield where, None, new[key]
            elif key not in new:
                yield where, old[key], None
            else:
                yield from _leaf_changes(old[key], new[key], where)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and \
            any(isinstance(x, (dict, list)) for x in old + new):
        for i, (a, b) in enumerate(zip(old, new)):
            yield from _leaf_changes(a, b, f"{path}[{i}]")
    elif old != new:
        yield path, old, new


def _targets(panel: dict) -> dict[str, dict]:
    return {str(t.get("refId") or f"#{i}"): t for i, t in enumerate(panel.get("targets") or []) if isinstance(t, dict)}


def _panel_changes(title: str, old: dict, new: dict, old_row: str, new_row: str) -> Iterator[Change]:
    where = _where(title, new_row)
    if old_row != new_row or (old.get("gridPos") or {}) != (new.get("gridPos") or {}):
        yield Change("panel-moved", where, "gridPos", _position(old, old_row), _position(new, new_row))
    old_targets, new_targets = _targets(old), _targets(new)
    for ref in sorted(set(old_targets) | set(new_targets)):
        a, b = old_targets.get(ref), new_targets.get(ref)
        if a is None:
            yield Change("query-added", where, f"query {ref}", None, b.get("expr"))
        elif b is None:
            yield Change("query-removed", where, f"query {ref}", a.get("expr"), None)
        else:
            if a.get("expr") != b.get("expr"):
                yield Change("query-changed", where, f"query {ref}", a.get("expr"), b.get("expr"))
            rest_a = {k: v for k, v in a.items() if k != "expr"}
            rest_b = {k: v for k, v in b.items() if k != "expr"}
            for path, x, y in _leaf_changes(rest_a, rest_b, f"query {ref}"):
                yield Change("panel-changed", where, path, x, y)
    old_defaults = (old.get("fieldConfig") or {}).get("defaults") or {}
    new_defaults = (new.get("fieldConfig") or {}).get("defaults") or {}
    if old_defaults.get("unit") != new_defaults.get("unit"):
        yield Change("unit-changed", where, "unit", old_defaults.get("unit"), new_defaults.get("unit"))
    if old_defaults.get("thresholds") != new_defaults.get("thresholds"):
        yield Change("thresholds-changed", where, "thresholds", _steps(old_defaults.get("thresholds")),
                     _steps(new_defaults.get("thresholds")))
    rest_old = {k: v for k, v in old_defaults.items() if k not in ("unit", "thresholds")}
    rest_new = {k: v for k, v in new_defaults.items() if k not in ("unit", "thresholds")}
    for path, x, y in _leaf_changes(rest_old, rest_new, "fieldConfig.defaults"):
        yield Change("panel-changed", where, path, x, y)
    for path, x, y in _leaf_changes((old.get("fieldConfig") or {}).get("overrides"),
                                    (new.get("fieldConfig") or {}).get("overrides"), "fieldConfig.overrides"):
        yield Change("panel-changed", where, path, x, y)
    rest_old = {k: v for k, v in old.items() if k not in PANEL_KEYS_APART}
    rest_new = {k: v for k, v in new.items() if k not in PANEL_KEYS_APART}
    for path, x, y in _leaf_changes(rest_old, rest_new, ""):
        yield Change("panel-changed", where, path, x, y)


def _steps(thresholds: Any) -> str | None:
    if not isinstance(thresholds, dict):
        return None
    steps = thresholds.get("steps") or []
    shown = ", ".join(f"{s.get('color')}@{'-inf' if s.get('value') is None else s.get('value')}"
                      for s in steps if isinstance(s, dict))
    return f"{thresholds.get('mode', 'absolute')}: {shown}"


def _renames(old_panels: dict[str, tuple[dict, str]], new_panels: dict[str, tuple[dict, str]]) -> dict[str, str]:
    """A panel whose title changed and nothing else about where it is: gone under the old title,
    there under the new, same type, same row and same grid position. {new title: old title}, for
    the pairs that match one to one (two candidates for one place are left as removed and added)."""
    def place(panel: dict, row: str) -> tuple:
        grid = panel.get("gridPos") or {}
        return (panel.get("type"), row, grid.get("x"), grid.get("y"), grid.get("w"), grid.get("h"))

    gone: dict[tuple, list[str]] = {}
    for key, (panel, row) in old_panels.items():
        if key not in new_panels and panel.get("gridPos"):
            gone.setdefault(place(panel, row), []).append(key)
    came: dict[tuple, list[str]] = {}
    for key, (panel, row) in new_panels.items():
        if key not in old_panels and panel.get("gridPos"):
            came.setdefault(place(panel, row), []).append(key)
    return {came[at][0]: gone[at][0] for at in came if len(came[at]) == 1 and len(gone.get(at, [])) == 1}


def _variables(model: dict) -> dict[str, dict]:
    return {str(v.get("name")): v for v in (model.get("templating") or {}).get("list") or [] if isinstance(v, dict)}


def diff_dashboards(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """The changes that turn `old` into `new`, in a stable order."""
    old, new = normal_form(old), normal_form(new)
    changes: list[Change] = []
    old_panels, new_panels = _panels(old), _panels(new)
    renamed = _renames(old_panels, new_panels)  # new title -> old title
    was_renamed = set(renamed.values())
    for key, (panel, row) in new_panels.items():
        if key not in old_panels and key not in renamed:
            changes.append(Change("panel-added", _where(key, row), "", None, _position(panel, row)))
    for key, (panel, row) in old_panels.items():
        if key not in new_panels and key not in was_renamed:
            changes.append(Change("panel-removed", _where(key, row), "", _position(panel, row), None))
    for key, (new_panel, new_row) in new_panels.items():
        if key in renamed:
            old_panel, old_row = old_panels[renamed[key]]
            changes.append(Change("panel-renamed", _where(key, new_row), "title", renamed[key], key))
            changes.extend(_panel_changes(key, old_panel, new_panel, old_row, new_row))
        elif key in old_panels:
            old_panel, old_row = old_panels[key]
            changes.extend(_panel_changes(key, old_panel, new_panel, old_row, new_row))
    old_rows = [p.get("title") for p in old.get("panels") or [] if isinstance(p, dict) and p.get("type") == "row"]
    new_rows = [p.get("title") for p in new.get("panels") or [] if isinstance(p, dict) and p.get("type") == "row"]
    if old_rows != new_rows:
        changes.append(Change("setting-changed", "dashboard", "rows", old_rows, new_rows))
    old_vars, new_vars = _variables(old), _variables(new)
    for name in new_vars:
        if name not in old_vars:
            changes.append(Change("variable-added", f"variable {name}", "query", None, new_vars[name].get("query")))
    for name in old_vars:
        if name not in new_vars:
            changes.append(Change("variable-removed", f"variable {name}", "query", old_vars[name].get("query"), None))
    for name in new_vars:
        if name in old_vars:
            for path, x, y in _leaf_changes(old_vars[name], new_vars[name], ""):
                changes.append(Change("variable-changed", f"variable {name}", path, x, y))
    if [v for v in old_vars] != [v for v in new_vars] and set(old_vars) == set(new_vars):
        changes.append(Change("setting-changed", "dashboard", "variable order", list(old_vars), list(new_vars)))
    for key in TIME_KEYS:
        for path, x, y in _leaf_changes(old.get(key), new.get(key), key):
            changes.append(Change("time-changed", "dashboard", path, x, y))
    apart = {"panels", "templating", *TIME_KEYS}
    rest_old = {k: v for k, v in old.items() if k not in apart}
    rest_new = {k: v for k, v in new.items() if k not in apart}
    for path, x, y in _leaf_changes(rest_old, rest_new, ""):
        changes.append(Change("setting-changed", "dashboard", path, x, y))
    return changes


def _show(value: Any, limit: int = 200) -> str:
    if value is None:
        return "(unset)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_change(change: Change) -> list[str]:
    """One change as lines of text, without indentation."""
    kind, where = change.kind, change.where
    if kind == "panel-added":
        return [f"+ {where} added at {change.new}"]
    if kind == "panel-removed":
        return [f"- {where} removed (was at {change.old})"]
    if kind == "panel-renamed":
        return [f"~ {where}: renamed from '{change.old}'"]
    if kind == "panel-moved":
        return [f"> {where} moved: {change.old} -> {change.new}"]
    if kind in ("query-changed", "query-added", "query-removed"):
        verb = {"query-changed": "changed", "query-added": "added", "query-removed": "removed"}[kind]
        lines = [f"~ {where}: {change.field} {verb}"]
        for sign, value in (("-", change.old), ("+", change.new)):
            if value is not None:
                # PromQL may span lines: each keeps the sign's column, so the query stays readable.
                for i, text in enumerate(_show(value, 2000).splitlines() or [""]):
                    lines.append(f"    {sign if i == 0 else ' '} {text}")
        return lines
    if kind == "variable-added":
        return [f"+ {where} added: {_show(change.new)}"]
    if kind == "variable-removed":
        return [f"- {where} removed (was {_show(change.old)})"]
    label = {"unit-changed": "unit", "thresholds-changed": "thresholds"}.get(kind, change.field)
    return [f"~ {where}: {label}: {_show(change.old)} -> {_show(change.new)}"]


def format_changes(changes: list[Change], indent: str = "  ") -> list[str]:
    return [indent + line for change in changes for line in format_change(change)]
