"""Grafana's datasource API for the emulator (tests/grafana_api_emulator.py), kept in its own
module: the datasources the tests add, and a proxy that forwards queries to a real Prometheus
as Grafana's datasource proxy does.

  GET /api/datasources                        [{id, uid, orgId, name, type, typeName, access, url,
                                                isDefault, jsonData, readOnly, ...}]
  GET /api/datasources/uid/:uid               the datasource; 404 {"message": "Data source not found"}
  GET /api/datasources/name/:name             the same, by name
  GET /api/datasources/uid/:uid/health        200 {"status": "OK", "message": ...} when GET <url>/api/v1/query
                                              answers, else 400 {"status": "ERROR", "message": ...}
  GET|POST /api/datasources/proxy/uid/:uid/<path>
                                              forwarded to <url>/<path> with the query string and body;
                                              the upstream's status and JSON body come back as they are;
                                              502 {"message": "Bad Gateway"} when the upstream cannot be reached

Differences from Grafana (also listed at the top of the emulator):
  - Datasources are added by the tests (add()); no create/update/delete API.
  - Only the Prometheus health check, done as one instant query of `1`; Grafana 10+ first tries
    /-/healthy and its messages differ in wording.
  - The proxy forwards only /api/v1/ paths and no headers besides Content-Type; it adds no
    datasource auth (none configured), and Viewer tokens may use it as in Grafana.
  - No /api/ds/query (the doctor uses the proxy).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class Datasources:
    def __init__(self):
        self._items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._next_id = 1

    def add(self, name: str, url: str, uid: str | None = None, type: str = "prometheus",
            is_default: bool = False) -> dict[str, Any]:
        with self._lock:
            uid = uid or f"ds{self._next_id:04d}"
            item = {"id": self._next_id, "uid": uid, "orgId": 1, "name": name, "type": type,
                    "typeName": type.capitalize(), "typeLogoUrl": f"public/app/plugins/datasource/{type}/img/logo.svg",
                    "access": "proxy", "url": url.rstrip("/"), "user": "", "database": "", "basicAuth": False,
                    "isDefault": is_default, "jsonData": {"httpMethod": "POST"}, "readOnly": False}
            if is_default:
                for other in self._items.values():
                    other["isDefault"] = False
            self._items[uid] = item
            self._next_id += 1
            return dict(item)

    def set_url(self, uid: str, url: str) -> None:
        with self._lock:
            self._items[uid]["url"] = url.rstrip("/")

    def _find(self, uid: str | None = None, name: str | None = None) -> dict[str, Any] | None:
        with self._lock:
            for item in self._items.values():
                if (uid is not None and item["uid"] == uid) or (name is not None and item["name"] == name):
                    return dict(item)
        return None

    def handles(self, path: str) -> bool:
        return path == "/api/datasources" or path.startswith("/api/datasources/")

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers, body: bytes) -> tuple[int, Any]:
        parts = path.rstrip("/").split("/")[3:]  # after /api/datasources
        if not parts and method == "GET":
            with self._lock:
                return 200, [dict(i) for i in sorted(self._items.values(), key=lambda i: i["name"].lower())]
        if len(parts) == 2 and parts[0] in ("uid", "name") and method == "GET":
            item = self._find(uid=parts[1]) if parts[0] == "uid" else self._find(name=parts[1])
            return (200, item) if item else (404, {"message": "Data source not found"})
        if len(parts) == 3 and parts[0] == "uid" and parts[2] == "health" and method == "GET":
            item = self._find(uid=parts[1])
            if item is None:
                return 404, {"message": "Data source not found"}
            return self._health(item)
        if len(parts) >= 3 and parts[:2] == ["proxy", "uid"]:
            item = self._find(uid=parts[2])
            if item is None:
                return 404, {"message": "Data source not found"}
            rest = "/" + "/".join(parts[3:])
            if not rest.startswith("/api/v1/"):
                return 403, {"message": "Unauthorized: proxy path not allowed"}
            return self._forward(item, method, rest, query, headers, body)
        return 404, {"message": "Not found"}

    def _health(self, item: dict[str, Any]) -> tuple[int, Any]:
        status, payload = self._forward(item, "GET", "/api/v1/query", {"query": ["1"]}, {}, b"")
        if status == 200 and isinstance(payload, dict) and payload.get("status") == "success":
            return 200, {"status": "OK", "message": "Successfully queried the Prometheus API."}
        detail = payload.get("message") or payload.get("error") if isinstance(payload, dict) else None
        return 400, {"status": "ERROR", "message": f"There was an error returning the Prometheus API. {detail or ''}"
                                                    .strip()}

    def _forward(self, item: dict[str, Any], method: str, path: str, query: dict[str, list[str]], headers,
                 body: bytes) -> tuple[int, Any]:
        url = item["url"] + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        request = urllib.request.Request(url, data=body if method == "POST" else None, method=method)
        content_type = headers.get("Content-Type") if headers else None
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"null")
            except ValueError:
                return exc.code, {"message": exc.reason}
        except (OSError, ValueError):
            return 502, {"message": "Bad Gateway"}
