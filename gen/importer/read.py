"""Read a dashboard file the way Grafana exports it, and say plainly what it is not.

Three shapes are dashboards: the bare dashboard (Dashboard settings → JSON Model), the API's
`{"dashboard": {...}, "meta": {...}}`, and an export "for sharing externally", whose datasources
are `${DS_NAME}` placeholders named in `__inputs`. A Grafana 13 v2 dashboard (`elements` and
`layout`, or a resource of apiVersion dashboard.grafana.app/v2*) is refused until it is supported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen.errors import UserError

# Grafana 6.0 saves schemaVersion 16 (panels with gridPos; rows became row panels); older ones
# hold `rows` and need migrations this tool does not write.
MIN_SCHEMA_VERSION = 16
MAX_BYTES = 20 * 1024 * 1024  # the largest dashboard Grafana ships is under 1 MB


@dataclass
class Source:
    path: Path
    dashboard: dict[str, Any]
    shape: str  # dashboard | api-wrapper | external-export | resource
    # `${DS_PROMETHEUS}` -> the input's pluginId (prometheus), for an external export.
    inputs: dict[str, str] = field(default_factory=dict)
    retarget: bool = False  # --env-variables: every Prometheus datasource becomes the variable

    @property
    def schema_version(self) -> int:
        return int(self.dashboard.get("schemaVersion") or 0)


def read(path: Path) -> Source:
    shown = path.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    if size > MAX_BYTES:
        raise UserError(f"{shown}: {size / 1048576:.0f} MB is not a dashboard (the limit is "
                        f"{MAX_BYTES // 1048576} MB; Grafana's largest are under 1 MB)")
    try:
        document = json.loads(path.read_bytes().decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError:
        raise UserError(f"{shown}: not UTF-8 text, so not a dashboard JSON file") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{shown}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except DuplicateKey as exc:
        raise UserError(f"{shown}: not valid dashboard JSON: the key '{exc}' appears twice in one object") from None
    return recognise(document, path)


class DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


def recognise(document: Any, path: Path) -> Source:
    shown = path.name
    if not isinstance(document, dict):
        raise UserError(f"{shown}: not a dashboard: the top level is a JSON {type(document).__name__}, not an object")
    shape = "dashboard"
    api_version = str(document.get("apiVersion") or "")
    if api_version.startswith("dashboard.grafana.app/"):
        if "/v2" in api_version:
            raise UserError(f"{shown}: a Grafana 13 v2 dashboard ({api_version}) is not supported yet: export it "
                            "from Grafana as JSON of the classic model (Export > Export as JSON, v1)")
        document, shape = document.get("spec"), "resource"
    elif isinstance(document.get("dashboard"), dict) and "panels" not in document:
        document, shape = document["dashboard"], "api-wrapper"
    if not isinstance(document, dict):
        raise UserError(f"{shown}: not a dashboard: no dashboard object in it")
    if "elements" in document and "layout" in document:
        raise UserError(f"{shown}: a Grafana 13 v2 dashboard (elements and layout) is not supported yet: export it "
                        "as JSON of the classic model (v1)")
    if "rows" in document and "panels" not in document:
        raise UserError(f"{shown}: schemaVersion {document.get('schemaVersion', '?')} (rows, before Grafana 5): "
                        f"open it in Grafana 6 or later and save it once, which migrates it to "
                        f"schemaVersion {MIN_SCHEMA_VERSION}+")
    if not isinstance(document.get("panels"), list):
        raise UserError(f"{shown}: not a dashboard: no 'panels' list (a dashboard JSON model has panels, title "
                        "and schemaVersion)")
    version = document.get("schemaVersion")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UserError(f"{shown}: schemaVersion: missing or not a number, so not a dashboard Grafana saved")
    if version < MIN_SCHEMA_VERSION:
        raise UserError(f"{shown}: schemaVersion {version} is older than Grafana 6 ({MIN_SCHEMA_VERSION}): "
                        "save it once in a newer Grafana first")
    if not isinstance(document.get("title"), str) or not document["title"].strip():
        raise UserError(f"{shown}: title: missing or empty")
    inputs = {}
    if "__inputs" in document:
        shape = "external-export"
        for item in document.get("__inputs") or []:
            if isinstance(item, dict) and item.get("type") == "datasource" and item.get("name"):
                inputs["${" + str(item["name"]) + "}"] = str(item.get("pluginId") or "prometheus")
    _check_panels(document, shown)
    return Source(path=path, dashboard=document, shape=shape, inputs=inputs)


def _check_panels(document: dict, shown: str) -> None:
    seen: dict[int, str] = {}
    for index, panel in enumerate(_all_panels(document)):
        where = f"panels[{index}]"
        if not isinstance(panel, dict):
            raise UserError(f"{shown}: {where}: not an object")
        if not isinstance(panel.get("type"), str):
            raise UserError(f"{shown}: {where} ('{panel.get('title', '?')}'): type: missing")
        pid = panel.get("id")
        if pid is None:
            continue
        if not isinstance(pid, int) or isinstance(pid, bool):
            raise UserError(f"{shown}: {where} ('{panel.get('title', '?')}'): id: {pid!r} is not a number")
        if pid in seen:
            raise UserError(f"{shown}: panel id {pid} is used twice ('{seen[pid]}' and '{panel.get('title', '?')}'): "
                            "Grafana links, shares and edits panels by id")
        seen[pid] = str(panel.get("title", "?"))


def _all_panels(document: dict):
    for panel in document.get("panels") or []:
        yield panel
        if isinstance(panel, dict) and panel.get("type") == "row":
            yield from panel.get("panels") or []
