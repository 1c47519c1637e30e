"""A Grafana HTTP API emulator for the tests of `gen push` (no Grafana server can be installed on
these machines). A real HTTP server on 127.0.0.1 that follows Grafana's documented dashboard,
folder, search and health API (Grafana 10/11, legacy /api routes):

  GET  /api/health                          200 {"database": "ok", "version", "commit"}, no auth
  GET  /api/folders, /api/folders/:uid      404 {"message": "folder not found", "status": "not-found"}
  POST /api/folders {uid, title}            409 when the uid or the title (at the root) exists
  POST /api/dashboards/db {dashboard, folderUid, message, overwrite}
       400 uid over 40 characters or with invalid characters, unknown folderUid ("folder not found"),
           a provisioned dashboard ("Cannot save provisioned dashboard")
       412 {"status": "version-mismatch"} when dashboard.version is not the stored version and
           overwrite is false; {"status": "name-exists"} for another uid with the same title in
           the same folder; 413 for a body over the size limit
       200 {"id", "uid", "url", "status": "success", "version", "slug", "folderUid"}
  GET  /api/dashboards/uid/:uid             {"dashboard": {..., id, uid, version}, "meta": {...}}
  DELETE /api/dashboards/uid/:uid           400 for a provisioned dashboard
  GET  /api/search?type=&query=&folderUIDs=&dashboardUIDs=&limit=&page=
  GET  /api/datasources, /api/datasources/uid/:uid[/health], /api/datasources/proxy/uid/:uid/api/v1/...
       (tests/grafana_datasources.py: datasources the tests add, the proxy forwards to a real Prometheus)
  Auth: service-account tokens (Bearer) and basic auth, with roles Viewer/Editor/Admin;
  401 {"message": "Unauthorized"} without valid credentials, 403 for a write by a Viewer.

Known differences from a real Grafana:
  - One organisation; no RBAC beyond the three basic roles; no nested folders; no folder or
    dashboard permissions.
  - Message texts follow Grafana's where known and are approximations elsewhere; clients should
    branch on status codes and the `status` field, as gen does.
  - The stored dashboard JSON is kept verbatim (plus id, uid, version), as Grafana's legacy API
    does; no schema migration runs on save or load (Grafana runs migrations in the frontend only).
  - edit_in_ui() imitates a save from the dashboard editor: the frontend serialises only the keys
    it knows, so unknown top-level keys are dropped, and the version is bumped.
  - No versions/restore API, no /api/dashboards/uid/:uid/versions, no public dashboards, no
    library panels; `overwrite` semantics for name-exists follow the documented behaviour.
  - Slugs are a simple lower-case, dash-separated form of the title.
  - Rate limiting exists only as injected faults (429 with Retry-After).
  - Datasources: added by the tests only (no create/update/delete API); the Prometheus health
    check is one query of `1`; the proxy forwards /api/v1/ paths only, with no datasource auth;
    no /api/ds/query. Details at the top of tests/grafana_datasources.py.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

UID_PATTERN = re.compile(r"^[a-zA-Z0-9\-_]+$")
MAX_UID_LENGTH = 40
WRITE_ROLES = {"Editor", "Admin"}
# The keys the dashboard editor serialises (DashboardModel / scenes save model): anything else at
# the top level is lost when someone saves from the UI.
FRONTEND_KEYS = {
    "annotations", "description", "editable", "fiscalYearStartMonth", "gnetId", "graphTooltip", "id", "links",
    "liveNow", "panels", "refresh", "schemaVersion", "style", "tags", "templating", "time", "timepicker",
    "timezone", "title", "uid", "version", "weekStart",
}


@dataclass
class StoredDashboard:
    dashboard: dict[str, Any]
    version: int
    id: int
    folder_uid: str | None
    message: str = ""
    provisioned: bool = False
    created: str = ""
    updated: str = ""
    history: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Fault:
    method: str | None = None
    path_prefix: str = "/"
    status: int | None = None
    retry_after: str | None = None
    delay_s: float = 0.0
    drop_connection: bool = False
    times: int = 1


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class GrafanaEmulator:
    def __init__(self, tokens: dict[str, str] | None = None, users: dict[str, tuple[str, str]] | None = None,
                 max_body_bytes: int = 10 * 1024 * 1024, tls: tuple[str, str] | None = None):
        self.tls = tls  # (certificate file, key file): serve HTTPS
        self.tokens = dict(tokens or {})
        self.users = dict(users or {})
        self.max_body_bytes = max_body_bytes
        self.latency_s = 0.0
        self.dashboards: dict[str, StoredDashboard] = {}
        self.folders: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        from tests.grafana_datasources import Datasources

        self.datasources = Datasources()
        self._lock = threading.RLock()
        self._next_id = 1
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> "GrafanaEmulator":
        emulator = self

        class Handler(_Handler):
            owner = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        scheme = "http"
        if self.tls:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "GrafanaEmulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- inspection and seeding ----------------------------------------------------------------

    def write_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method in ("POST", "PUT", "DELETE", "PATCH")]

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def create_folder(self, uid: str, title: str) -> dict[str, Any]:
        with self._lock:
            folder = {"id": self._new_id(), "uid": uid, "title": title, "url": f"/dashboards/f/{uid}/{_slug(title)}",
                      "version": 1, "created": _now(), "updated": _now(), "parentUid": ""}
            self.folders[uid] = folder
            return folder

    def put_dashboard(self, dashboard: dict, folder_uid: str | None = None, provisioned: bool = False,
                      message: str = "") -> dict:
        with self._lock:
            status, body = self._save(copy.deepcopy(dashboard), folder_uid, message, overwrite=True)
            assert status == 200, body
            self.dashboards[body["uid"]].provisioned = provisioned
            return body

    def edit_in_ui(self, uid: str, change: Callable[[dict], None]) -> None:
        with self._lock:
            stored = self.dashboards[uid]
            model = {k: v for k, v in copy.deepcopy(stored.dashboard).items() if k in FRONTEND_KEYS}
            change(model)
            stored.version += 1
            model["version"] = stored.version
            stored.dashboard = model
            stored.updated = _now()
            stored.history.append((stored.version, "edited in the UI"))

    # -- request handling ------------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.method in (None, method)) and path.startswith(fault.path_prefix) and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _role(self, headers) -> str | None:
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return self.tokens.get(auth[len("Bearer "):].strip())
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            entry = self.users.get(user)
            if entry and entry[0] == password:
                return entry[1]
        return None

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers, body: bytes) -> tuple[int, Any]:
        if path == "/api/health":
            return 200, {"commit": "emulator", "database": "ok", "version": "11.3.0"}
        if not path.startswith("/api/"):
            return 404, {"message": "Not found"}
        role = self._role(headers)
        if role is None:
            return 401, {"message": "Unauthorized"}
        if self.datasources.handles(path):  # outside the lock: the proxy waits on the upstream
            return self.datasources.handle(method, path, query, headers, body)
        if method != "GET" and role not in WRITE_ROLES:
            return 403, {"message": "You'll need additional permissions to perform this action. "
                                    "Permissions needed: dashboards:write"}
        with self._lock:
            return self._route(method, path, query, body)

    def _route(self, method: str, path: str, query, body: bytes) -> tuple[int, Any]:
        parts = path.rstrip("/").split("/")[2:]  # after /api
        if parts == ["folders"]:
            if method == "GET":
                return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.folders.values()]
            if method == "POST":
                return self._create_folder(body)
        if len(parts) == 2 and parts[0] == "folders" and method == "GET":
            folder = self.folders.get(parts[1])
            return (200, folder) if folder else (404, {"message": "folder not found", "status": "not-found"})
        if parts == ["dashboards", "db"] and method == "POST":
            if len(body) > self.max_body_bytes:
                return 413, {"message": "request entity too large"}
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                return 400, {"message": "bad request data"}
            dashboard = request.get("dashboard")
            if not isinstance(dashboard, dict):
                return 400, {"message": "Dashboard is required"}
            return self._save(dashboard, request.get("folderUid") or None, request.get("message", ""),
                              bool(request.get("overwrite")), from_api=True)
        if len(parts) == 3 and parts[:2] == ["dashboards", "uid"]:
            stored = self.dashboards.get(parts[2])
            if stored is None:
                return 404, {"message": "Dashboard not found"}
            if method == "GET":
                return 200, self._get(stored)
            if method == "DELETE":
                if stored.provisioned:
                    return 400, {"message": "provisioned dashboard cannot be deleted"}
                del self.dashboards[parts[2]]
                title = stored.dashboard.get("title", "")
                return 200, {"title": title, "message": f"Dashboard {title} deleted", "id": stored.id}
        if parts == ["search"] and method == "GET":
            return 200, self._search(query)
        return 404, {"message": "Not found"}

    def _create_folder(self, body: bytes) -> tuple[int, Any]:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, {"message": "bad request data"}
        uid, title = request.get("uid") or "", request.get("title") or ""
        if not title:
            return 400, {"message": "folder title cannot be empty"}
        if uid and (len(uid) > MAX_UID_LENGTH or not UID_PATTERN.match(uid)):
            return 400, {"message": "uid contains illegal characters"}
        if uid in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        if any(f["title"] == title for f in self.folders.values()):
            return 409, {"message": "a folder or dashboard in the general folder with the same name already exists"}
        return 200, self.create_folder(uid or f"f{self._next_id}", title)

    def _save(self, dashboard: dict, folder_uid: str | None, message: str, overwrite: bool,
              from_api: bool = False) -> tuple[int, Any]:
        uid = dashboard.get("uid") or f"gen{self._next_id:06d}"
        title = dashboard.get("title") or ""
        if len(uid) > MAX_UID_LENGTH:
            return 400, {"message": "uid too long, max 40 characters", "status": "bad-request"}
        if not UID_PATTERN.match(uid):
            return 400, {"message": "uid contains illegal characters", "status": "bad-request"}
        if not title.strip():
            return 400, {"message": "Dashboard title cannot be empty", "status": "empty-name"}
        if folder_uid and folder_uid not in self.folders:
            return 400, {"message": "folder not found", "status": "folder-not-found"}
        stored = self.dashboards.get(uid)
        if stored is not None and stored.provisioned and from_api:
            return 400, {"message": "Cannot save provisioned dashboard", "status": "provisioned"}
        for other_uid, other in self.dashboards.items():
            if other_uid != uid and other.folder_uid == folder_uid and other.dashboard.get("title") == title:
                if not overwrite:
                    return 412, {"message": "A dashboard with the same name in the folder already exists",
                                 "status": "name-exists"}
        if stored is not None and not overwrite:
            if dashboard.get("version") != stored.version:
                return 412, {"message": "The dashboard has been changed by someone else",
                             "status": "version-mismatch"}
        if stored is None:
            stored = StoredDashboard({}, 0, self._new_id(), folder_uid, created=_now())
            self.dashboards[uid] = stored
        stored.version += 1
        stored.folder_uid = folder_uid
        stored.message = message
        stored.updated = _now()
        stored.history.append((stored.version, message))
        model = copy.deepcopy(dashboard)
        model.update(id=stored.id, uid=uid, version=stored.version)
        stored.dashboard = model
        return 200, {"id": stored.id, "uid": uid, "url": f"/d/{uid}/{_slug(title)}", "status": "success",
                     "version": stored.version, "slug": _slug(title), "folderUid": folder_uid or ""}

    def _get(self, stored: StoredDashboard) -> dict:
        folder = self.folders.get(stored.folder_uid or "") or {}
        title = stored.dashboard.get("title", "")
        return {
            "dashboard": copy.deepcopy(stored.dashboard),
            "meta": {
                "type": "db", "canSave": not stored.provisioned, "canEdit": True, "canAdmin": False,
                "slug": _slug(title), "url": f"/d/{stored.dashboard.get('uid')}/{_slug(title)}",
                "version": stored.version, "created": stored.created, "updated": stored.updated,
                "folderId": folder.get("id", 0), "folderUid": stored.folder_uid or "",
                "folderTitle": folder.get("title", "Dashboards"), "folderUrl": folder.get("url", ""),
                "provisioned": stored.provisioned,
                "provisionedExternalId": f"{stored.dashboard.get('uid')}.json" if stored.provisioned else "",
            },
        }

    def _search(self, query: dict[str, list[str]]) -> list[dict]:
        kind = (query.get("type") or [""])[0]
        text = (query.get("query") or [""])[0].lower()
        folders = set(query.get("folderUIDs") or [])
        uids = set(query.get("dashboardUIDs") or [])
        limit = int((query.get("limit") or ["1000"])[0])
        page = int((query.get("page") or ["1"])[0])
        hits: list[dict] = []
        if kind in ("", "dash-folder"):
            for f in self.folders.values():
                if text in f["title"].lower() and not uids:
                    hits.append({"id": f["id"], "uid": f["uid"], "title": f["title"], "uri": f"db/{_slug(f['title'])}",
                                 "url": f["url"], "type": "dash-folder", "tags": [], "isStarred": False})
        if kind in ("", "dash-db"):
            for uid, d in sorted(self.dashboards.items(), key=lambda item: item[1].dashboard.get("title", "")):
                title = d.dashboard.get("title", "")
                if text and text not in title.lower():
                    continue
                if folders and (d.folder_uid or "general") not in folders:
                    continue
                if uids and uid not in uids:
                    continue
                folder = self.folders.get(d.folder_uid or "") or {}
                hits.append({"id": d.id, "uid": uid, "title": title, "uri": f"db/{_slug(title)}",
                             "url": f"/d/{uid}/{_slug(title)}", "type": "dash-db",
                             "tags": list(d.dashboard.get("tags") or []), "isStarred": False,
                             "folderUid": d.folder_uid or "", "folderTitle": folder.get("title", ""),
                             "folderId": folder.get("id", 0)})
        return hits[(page - 1) * limit: page * limit]


class _Handler(BaseHTTPRequestHandler):
    owner: GrafanaEmulator
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle's algorithm and delayed ACKs each answer
    # would stall ~40 ms, which a real Grafana (Go's net/http) does not.
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        owner = self.owner
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with owner._lock:
            owner.requests.append(RecordedRequest(method, url.path, parse_qs(url.query), dict(self.headers), body))
        if owner.latency_s:
            time.sleep(owner.latency_s)
        fault = owner._take_fault(method, url.path)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.drop_connection:
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return
            if fault.status:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._send(fault.status, {"message": "injected fault"}, headers)
                return
        status, payload = owner.handle(method, url.path, parse_qs(url.query), self.headers, body)
        self._send(status, payload)

    def _send(self, status: int, payload: Any, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")
