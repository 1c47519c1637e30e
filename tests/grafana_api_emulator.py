"""A Grafana HTTP API emulator for the tests of `gen push` and `gen diff` (no Grafana server can be
installed on these machines). A real HTTP server on 127.0.0.1 that starts as Grafana 11, 12 or 13
(`GrafanaEmulator(version="13")`) and follows Grafana's documented APIs:

Legacy API (every version; deprecated on 13):
  GET  /api/health                          200 {"database": "ok", "version", "commit"}, no auth
  GET  /api/frontend/settings               {"namespace", "buildInfo": {"version"}} (12, 13)
  GET  /api/folders, /api/folders/:uid      404 {"message": "folder not found", "status": "not-found"}
  POST /api/folders {uid, title, parentUid} 409 when the uid or the title (among siblings) exists
  POST /api/dashboards/db {dashboard, folderUid, message, overwrite}
       400 uid over 40 characters or with invalid characters, unknown folderUid ("folder not found"),
           a provisioned dashboard ("Cannot save provisioned dashboard")
       412 {"status": "version-mismatch"} when dashboard.version is not the stored version and
           overwrite is false; {"status": "name-exists"} for another uid with the same title in
           the same folder; 413 for a body over the size limit
       200 {"id", "uid", "url", "status": "success", "version", "slug", "folderUid"}
  GET  /api/dashboards/uid/:uid             {"dashboard": {..., id, uid, version}, "meta": {...}};
       a dashboard stored as schema v2 (saved from the UI on 13) comes back as the lossy v1
       conversion (see lossy_v1() below)
  DELETE /api/dashboards/uid/:uid           400 for a provisioned dashboard
  GET  /api/search?type=&query=&folderUIDs=&dashboardUIDs=&limit=&page=
  GET  /api/datasources, /api/datasources/uid/:uid[/health], /api/datasources/proxy/uid/:uid/api/v1/...
       (tests/grafana_datasources.py: datasources the tests add, the proxy forwards to a real Prometheus)

Resource API (12: dashboard.grafana.app v0alpha1 v1beta1 v2alpha1, folder.grafana.app v1beta1;
13: dashboard.grafana.app v1beta1 v1 v2beta1 v2, folder.grafana.app v1beta1 v1):
  GET  /apis, /apis/<group>, /apis/<group>/<version>   APIGroupList, APIGroup, APIResourceList
  GET|POST /apis/<group>/<version>/namespaces/<ns>/<dashboards|folders>   list (limit, continue),
       create (201; 409 AlreadyExists)
  GET|PUT|DELETE .../<dashboards|folders>/<name>   404 NotFound; PUT with a stale
       metadata.resourceVersion is 409 Conflict; an invalid spec (no title, not an object) is 422
       Invalid; a write that changes or drops another manager's grafana.app/managedBy/managerId is
       400 ("... is managed by <kind>:<id> and cannot be modified by ..."). Every error body is a
       Kubernetes Status {"kind": "Status", "status": "Failure", "message", "reason", "code"}.
  Dashboards carry metadata.name (the uid), annotations (grafana.app/folder and the manager
  annotations), generation (+1 when the spec changes), resourceVersion (one counter for the
  server) and status.conversion {"failed", "storedVersion"} when read in another version than
  stored. Folders carry spec.title and their parent in grafana.app/folder.

Auth: service-account tokens (Bearer) and basic auth, with roles Viewer/Editor/Admin; 401
{"message": "Unauthorized"} without valid credentials, 403 for a write by a Viewer.
`sub_path="/grafana"` serves everything under that prefix only (Grafana behind a proxy with
serve_from_sub_path), and 404 elsewhere. More routes plug in with add_route() (one table).

Known differences from a real Grafana:
  - One organisation (namespace "default" unless `namespace=` is given, as "stacks-<id>" on
    Cloud); another namespace in a path is a 404 NotFound (Grafana answers 403 or 404 depending
    on how the namespace maps to an org); no RBAC beyond the three basic roles; no folder or
    dashboard permissions.
  - Search (/api/search) is immediately consistent; Grafana 12+'s search index may lag a write.
  - Message texts follow Grafana's (and Kubernetes') where known and are approximations
    elsewhere; clients should branch on status codes, `status` and `reason`, as gen does.
  - Stored dashboards are kept verbatim (plus id, uid, version); no schema migration runs on save
    or load (Grafana runs migrations in the frontend only, and since 12 some in the backend).
  - The v1 <-> v2 conversion is not Grafana's: v2 specs are kept as {"v1": <model>} wrappers, and
    lossy_v1() loses a fixed set of things (panels' pluginVersion, legend.showLegend, top-level
    keys the frontend does not know, panel ids renumbered) where Grafana's loses others.
  - resourceVersion is a small counter, not Grafana's microsecond timestamp; list pagination is
    by offset in `continue`; labelSelector, fieldSelector, watch, PATCH, dry-run are not served.
  - edit_in_ui() imitates a save from the dashboard editor: unknown top-level keys are dropped,
    the version, generation and resourceVersion are bumped; on 13 with as_v2=True the dashboard
    is stored as schema v2. It refuses (PermissionError) a dashboard whose manager does not
    allow edits, as Grafana's UI does.
  - The managedBy check runs on every write; real Grafana checks it in its admission and
    storage layers with more cases (suspended managers, repository-managed folders).
  - No versions/restore API, no public dashboards, no library panels; slugs are a simple
    lower-case, dash-separated form of the title; rate limiting only as injected faults.
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
DASHBOARD_GROUP = "dashboard.grafana.app"
FOLDER_GROUP = "folder.grafana.app"
ANNO_FOLDER = "grafana.app/folder"
ANNO_MANAGED_BY = "grafana.app/managedBy"
ANNO_MANAGER_ID = "grafana.app/managerId"
ANNO_ALLOWS_EDITS = "grafana.app/managerAllowsEdits"
ANNO_SAVED_FROM_UI = "grafana.app/saved-from-ui"
# Which API versions each Grafana serves; the last of each list is the preferred one.
RESOURCE_VERSIONS = {
    "11": {},
    "12": {DASHBOARD_GROUP: ["v0alpha1", "v2alpha1", "v1beta1"], FOLDER_GROUP: ["v1beta1"]},
    "13": {DASHBOARD_GROUP: ["v1beta1", "v2beta1", "v2", "v1"], FOLDER_GROUP: ["v1beta1", "v1"]},
}
BUILD_VERSIONS = {"11": "11.6.0", "12": "12.2.0", "13": "13.0.0"}

Handler = Callable[..., tuple[int, Any]]


@dataclass
class StoredDashboard:
    dashboard: dict[str, Any]  # the v1 model (for a v2-stored one: the model as the UI saved it)
    version: int
    id: int
    folder_uid: str | None
    message: str = ""
    provisioned: bool = False
    created: str = ""
    updated: str = ""
    history: list[tuple[int, str]] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    generation: int = 0
    resource_version: int = 0
    stored_version: str = "v1"  # "v1" or "v2": the schema it was saved in


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
    # Runs when the fault is taken, before the request is handled (a change made by someone else
    # between our read and our write); with no status, the request is then served as usual.
    run: Callable[[], None] | None = None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def k8s_status(code: int, reason: str, message: str, name: str = "", kind: str = "") -> tuple[int, dict]:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if name:
        body["details"] = {"name": name, "kind": kind}
    return code, body


def lossy_v1(model: dict[str, Any]) -> dict[str, Any]:
    """What this emulator's v2 -> v1 conversion returns: the model with a fixed set of losses."""
    out = {k: copy.deepcopy(v) for k, v in model.items() if k in FRONTEND_KEYS}
    next_id = 1
    for panel in _iter_panels(out):
        panel.pop("pluginVersion", None)
        legend = (panel.get("options") or {}).get("legend")
        if isinstance(legend, dict):
            legend.pop("showLegend", None)
        panel["id"] = next_id
        next_id += 1
    return out


def _iter_panels(model: dict):
    for panel in model.get("panels", []):
        yield panel
        yield from panel.get("panels", []) if panel.get("type") == "row" else ()


class GrafanaEmulator:
    def __init__(self, tokens: dict[str, str] | None = None, users: dict[str, tuple[str, str]] | None = None,
                 max_body_bytes: int = 10 * 1024 * 1024, tls: tuple[str, str] | None = None,
                 version: str = "11", namespace: str = "default", sub_path: str = ""):
        if version not in RESOURCE_VERSIONS:
            raise ValueError(f"version must be one of {sorted(RESOURCE_VERSIONS)}")
        self.tls = tls  # (certificate file, key file): serve HTTPS
        self.tokens = dict(tokens or {})
        self.users = dict(users or {})
        self.max_body_bytes = max_body_bytes
        self.version = version
        self.namespace = namespace
        self.sub_path = sub_path.rstrip("/")
        self.latency_s = 0.0
        self.dashboards: dict[str, StoredDashboard] = {}
        self.folders: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        from tests.grafana_datasources import Datasources

        self.datasources = Datasources()
        self._lock = threading.RLock()
        self._next_id = 1
        self._resource_version = 1000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        # (method, compiled path pattern, handler(match, query, body) -> (status, payload), needs auth)
        self.routes: list[tuple[str, re.Pattern, Handler, bool]] = []
        self._add_builtin_routes()

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
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}{self.sub_path}"
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

    # -- the route table ---------------------------------------------------------------------------

    def add_route(self, method: str, pattern: str, handler: Handler, auth: bool = True) -> None:
        """Serve `method pattern` (a regular expression over the path, without the sub-path) with
        handler(match, query, body) -> (status, JSON payload). Later routes win."""
        self.routes.insert(0, (method, re.compile(f"^{pattern}$"), handler, auth))

    def _add_builtin_routes(self) -> None:
        add = self.add_route
        add("GET", r"/api/health", lambda m, q, b: (200, {"commit": "emulator", "database": "ok",
                                                          "version": BUILD_VERSIONS[self.version]}), auth=False)
        add("GET", r"/api/folders", lambda m, q, b: (200, [self._legacy_folder(f) for f in self.folders.values()]))
        add("POST", r"/api/folders", lambda m, q, b: self._create_folder_legacy(b))
        add("GET", r"/api/folders/(?P<uid>[^/]+)", self._get_folder_legacy)
        add("POST", r"/api/dashboards/db", lambda m, q, b: self._save_legacy(b))
        add("GET", r"/api/dashboards/uid/(?P<uid>[^/]+)", self._get_dashboard_legacy)
        add("DELETE", r"/api/dashboards/uid/(?P<uid>[^/]+)", self._delete_dashboard_legacy)
        add("GET", r"/api/search", lambda m, q, b: (200, self._search(q)))
        if self.version == "11":
            return
        add("GET", r"/api/frontend/settings",
            lambda m, q, b: (200, {"namespace": self.namespace, "buildInfo": {"version": BUILD_VERSIONS[self.version]}}))
        add("GET", r"/apis", lambda m, q, b: (200, self._group_list()))
        add("GET", r"/apis/(?P<group>[a-z.]+)", self._group)
        add("GET", r"/apis/(?P<group>[a-z.]+)/(?P<version>v[0-9a-z]+)", self._resource_list)
        collection = r"/apis/(?P<group>[a-z.]+)/(?P<version>v[0-9a-z]+)/namespaces/(?P<ns>[^/]+)/(?P<resource>dashboards|folders)"
        add("GET", collection, self._list)
        add("POST", collection, self._create)
        add("GET", collection + r"/(?P<name>[^/]+)", self._get)
        add("PUT", collection + r"/(?P<name>[^/]+)", self._update)
        add("DELETE", collection + r"/(?P<name>[^/]+)", self._delete)

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

    def create_folder(self, uid: str, title: str, parent_uid: str = "") -> dict[str, Any]:
        with self._lock:
            folder = {"id": self._new_id(), "uid": uid, "title": title, "url": f"/dashboards/f/{uid}/{_slug(title)}",
                      "version": 1, "created": _now(), "updated": _now(), "parentUid": parent_uid,
                      "annotations": {}, "resourceVersion": self._bump()}
            self.folders[uid] = folder
            return folder

    def put_dashboard(self, dashboard: dict, folder_uid: str | None = None, provisioned: bool = False,
                      message: str = "", annotations: dict[str, str] | None = None) -> dict:
        with self._lock:
            status, body = self._save(copy.deepcopy(dashboard), folder_uid, message, overwrite=True)
            assert status == 200, body
            stored = self.dashboards[body["uid"]]
            stored.provisioned = provisioned
            stored.annotations.update(annotations or {})
            return body

    def edit_in_ui(self, uid: str, change: Callable[[dict], None], as_v2: bool = False) -> None:
        with self._lock:
            stored = self.dashboards[uid]
            if stored.annotations.get(ANNO_MANAGED_BY) and stored.annotations.get(ANNO_ALLOWS_EDITS) != "true":
                raise PermissionError(f"dashboard {uid} is managed by {stored.annotations[ANNO_MANAGED_BY]}: "
                                      "the UI cannot save it")
            model = {k: v for k, v in copy.deepcopy(stored.dashboard).items() if k in FRONTEND_KEYS}
            change(model)
            stored.version += 1
            model["version"] = stored.version
            stored.dashboard = model
            stored.updated = _now()
            stored.generation += 1
            stored.resource_version = self._bump()
            stored.annotations[ANNO_SAVED_FROM_UI] = BUILD_VERSIONS[self.version]
            if as_v2:
                assert self.version == "13", "schema v2 is stored by default on Grafana 13"
                stored.stored_version = "v2"
            stored.history.append((stored.version, "edited in the UI"))

    def edit_behind_our_back(self, uid: str, change: Callable[[StoredDashboard], None]) -> None:
        """Any change to the stored resource (as another API client would make), bumping versions."""
        with self._lock:
            stored = self.dashboards[uid]
            stored.dashboard = copy.deepcopy(stored.dashboard)
            change(stored)
            stored.version += 1
            stored.generation += 1
            stored.resource_version = self._bump()

    # -- request handling ------------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _bump(self) -> int:
        self._resource_version += 1
        return self._resource_version

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

    def strip_sub_path(self, path: str) -> str | None:
        if not self.sub_path:
            return path
        if path == self.sub_path or path.startswith(self.sub_path + "/"):
            return path[len(self.sub_path):] or "/"
        return None

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers, body: bytes) -> tuple[int, Any]:
        path = path.rstrip("/") or "/"
        if self.datasources.handles(path):  # any role; outside the lock: the proxy waits on the upstream
            if self._role(headers) is None:
                return 401, {"message": "Unauthorized"}
            return self.datasources.handle(method, path, query, headers, body)
        for route_method, pattern, handler, auth in self.routes:
            if route_method != method:
                continue
            match = pattern.match(path)
            if match is None:
                continue
            if auth:
                role = self._role(headers)
                if role is None:
                    return 401, {"message": "Unauthorized"}
                if method != "GET" and role not in WRITE_ROLES:
                    return 403, {"message": "You'll need additional permissions to perform this action. "
                                            "Permissions needed: dashboards:write"}
            if method in ("POST", "PUT") and len(body) > self.max_body_bytes:
                return 413, {"message": "request entity too large"}
            with self._lock:
                return handler(match, query, body)
        return 404, {"message": "Not found"}

    # -- legacy API --------------------------------------------------------------------------------

    def _legacy_folder(self, folder: dict) -> dict:
        return {k: v for k, v in folder.items() if k not in ("annotations", "resourceVersion")}

    def _get_folder_legacy(self, match, query, body) -> tuple[int, Any]:
        folder = self.folders.get(match["uid"])
        return (200, self._legacy_folder(folder)) if folder else (404, {"message": "folder not found", "status": "not-found"})

    def _create_folder_legacy(self, body: bytes) -> tuple[int, Any]:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, {"message": "bad request data"}
        uid, title = request.get("uid") or "", request.get("title") or ""
        parent = request.get("parentUid") or ""
        if not title:
            return 400, {"message": "folder title cannot be empty"}
        if uid and (len(uid) > MAX_UID_LENGTH or not UID_PATTERN.match(uid)):
            return 400, {"message": "uid contains illegal characters"}
        if parent and parent not in self.folders:
            return 404, {"message": "parent folder not found", "status": "not-found"}
        if uid in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        if any(f["title"] == title and f["parentUid"] == parent for f in self.folders.values()):
            return 409, {"message": "a folder or dashboard in the general folder with the same name already exists"}
        return 200, self._legacy_folder(self.create_folder(uid or f"f{self._next_id}", title, parent))

    def _save_legacy(self, body: bytes) -> tuple[int, Any]:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, {"message": "bad request data"}
        dashboard = request.get("dashboard")
        if not isinstance(dashboard, dict):
            return 400, {"message": "Dashboard is required"}
        return self._save(dashboard, request.get("folderUid") or None, request.get("message", ""),
                          bool(request.get("overwrite")), from_api=True)

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
        stored.generation += 1
        stored.resource_version = self._bump()
        stored.stored_version = "v1"
        model = dict(dashboard)  # parsed from the request (put_dashboard passes a deep copy)
        model.update(id=stored.id, uid=uid, version=stored.version)
        stored.dashboard = model
        return 200, {"id": stored.id, "uid": uid, "url": f"/d/{uid}/{_slug(title)}", "status": "success",
                     "version": stored.version, "slug": _slug(title), "folderUid": folder_uid or ""}

    def _v1_model(self, stored: StoredDashboard) -> dict:
        # A shallow copy: stored models are replaced on every write, never changed in place.
        return lossy_v1(stored.dashboard) if stored.stored_version == "v2" else dict(stored.dashboard)

    def _get_dashboard_legacy(self, match, query, body) -> tuple[int, Any]:
        stored = self.dashboards.get(match["uid"])
        if stored is None:
            return 404, {"message": "Dashboard not found"}
        folder = self.folders.get(stored.folder_uid or "") or {}
        title = stored.dashboard.get("title", "")
        uid = match["uid"]
        return 200, {
            "dashboard": self._v1_model(stored),
            "meta": {
                "type": "db", "canSave": not stored.provisioned, "canEdit": True, "canAdmin": False,
                "slug": _slug(title), "url": f"/d/{uid}/{_slug(title)}",
                "version": stored.version, "created": stored.created, "updated": stored.updated,
                "folderId": folder.get("id", 0), "folderUid": stored.folder_uid or "",
                "folderTitle": folder.get("title", "Dashboards"), "folderUrl": folder.get("url", ""),
                "provisioned": stored.provisioned,
                "provisionedExternalId": f"{uid}.json" if stored.provisioned else "",
            },
        }

    def _delete_dashboard_legacy(self, match, query, body) -> tuple[int, Any]:
        stored = self.dashboards.get(match["uid"])
        if stored is None:
            return 404, {"message": "Dashboard not found"}
        if stored.provisioned:
            return 400, {"message": "provisioned dashboard cannot be deleted"}
        del self.dashboards[match["uid"]]
        title = stored.dashboard.get("title", "")
        return 200, {"title": title, "message": f"Dashboard {title} deleted", "id": stored.id}

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

    # -- resource API: discovery -------------------------------------------------------------------

    def _group_doc(self, group: str) -> dict:
        versions = RESOURCE_VERSIONS[self.version][group]
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in reversed(versions)]
        return {"name": group, "versions": entries, "preferredVersion": entries[0]}

    def _group_list(self) -> dict:
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [self._group_doc(g) for g in sorted(RESOURCE_VERSIONS[self.version])]}

    def _group(self, match, query, body) -> tuple[int, Any]:
        if match["group"] not in RESOURCE_VERSIONS[self.version]:
            return k8s_status(404, "NotFound", "the server could not find the requested resource")
        return 200, {"kind": "APIGroup", "apiVersion": "v1", **self._group_doc(match["group"])}

    def _resource_list(self, match, query, body) -> tuple[int, Any]:
        group, version = match["group"], match["version"]
        if version not in RESOURCE_VERSIONS[self.version].get(group, []):
            return k8s_status(404, "NotFound", "the server could not find the requested resource")
        kind, plural = ("Dashboard", "dashboards") if group == DASHBOARD_GROUP else ("Folder", "folders")
        verbs = ["create", "delete", "get", "list", "update", "watch"]
        return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}",
                     "resources": [{"name": plural, "singularName": kind.lower(), "namespaced": True, "kind": kind,
                                    "verbs": verbs}]}

    # -- resource API: objects ---------------------------------------------------------------------

    def _check_path(self, match) -> tuple[int, Any] | None:
        group, version, resource = match["group"], match["version"], match["resource"]
        expected = DASHBOARD_GROUP if resource == "dashboards" else FOLDER_GROUP
        if group != expected or version not in RESOURCE_VERSIONS[self.version].get(group, []):
            return k8s_status(404, "NotFound", "the server could not find the requested resource")
        if match["ns"] != self.namespace:
            return k8s_status(404, "NotFound", f"namespace {match['ns']!r} not found")
        return None

    def _dashboard_object(self, uid: str, stored: StoredDashboard, version: str) -> dict:
        annotations = dict(stored.annotations)
        if stored.folder_uid:
            annotations[ANNO_FOLDER] = stored.folder_uid
        # A v2 read of a v2-stored dashboard is lossless; a v1 read of it is the lossy conversion.
        spec = dict(stored.dashboard) if version.startswith("v2") else self._v1_model(stored)
        for key in ("id", "version"):
            spec.pop(key, None)
        obj = {
            "kind": "Dashboard", "apiVersion": f"{DASHBOARD_GROUP}/{version}",
            "metadata": {"name": uid, "namespace": self.namespace, "uid": f"emu-{stored.id:08d}",
                         "resourceVersion": str(stored.resource_version), "generation": stored.generation,
                         "creationTimestamp": stored.created, "annotations": annotations,
                         "labels": {**stored.labels, "grafana.app/deprecatedInternalID": str(stored.id)}},
            "spec": spec if not version.startswith("v2") else {"v1": spec},
        }
        stored_family = "v2" if stored.stored_version == "v2" else "v1"
        asked_family = "v2" if version.startswith("v2") else "v1"
        if stored_family != asked_family:
            stored_name = {"12": "v2alpha1", "13": "v2beta1"}[self.version] if stored_family == "v2" else \
                {"12": "v1beta1", "13": "v1"}[self.version]
            obj["status"] = {"conversion": {"failed": False, "storedVersion": stored_name}}
        return obj

    def _folder_object(self, folder: dict, version: str) -> dict:
        annotations = dict(folder.get("annotations") or {})
        if folder.get("parentUid"):
            annotations[ANNO_FOLDER] = folder["parentUid"]
        return {"kind": "Folder", "apiVersion": f"{FOLDER_GROUP}/{version}",
                "metadata": {"name": folder["uid"], "namespace": self.namespace, "uid": f"emu-{folder['id']:08d}",
                             "resourceVersion": str(folder["resourceVersion"]), "generation": folder["version"],
                             "creationTimestamp": folder["created"], "annotations": annotations},
                "spec": {"title": folder["title"], "description": ""}}

    def _list(self, match, query, body) -> tuple[int, Any]:
        if (error := self._check_path(match)) is not None:
            return error
        version = match["version"]
        if match["resource"] == "dashboards":
            items = [self._dashboard_object(uid, d, version) for uid, d in sorted(self.dashboards.items())]
            kind = "DashboardList"
        else:
            items = [self._folder_object(f, version) for _, f in sorted(self.folders.items())]
            kind = "FolderList"
        limit = int((query.get("limit") or ["0"])[0] or 0)
        start = int((query.get("continue") or ["0"])[0] or 0)
        page = items[start:start + limit] if limit else items[start:]
        more = bool(limit) and start + limit < len(items)
        metadata = {"resourceVersion": str(self._resource_version)}
        if more:
            metadata["continue"] = str(start + limit)
        return 200, {"kind": kind, "apiVersion": f"{match['group']}/{version}", "metadata": metadata, "items": page}

    def _get(self, match, query, body) -> tuple[int, Any]:
        if (error := self._check_path(match)) is not None:
            return error
        name = match["name"]
        if match["resource"] == "dashboards":
            stored = self.dashboards.get(name)
            if stored is None:
                return k8s_status(404, "NotFound", f'dashboards.{DASHBOARD_GROUP} "{name}" not found', name, "dashboards")
            return 200, self._dashboard_object(name, stored, match["version"])
        folder = self.folders.get(name)
        if folder is None:
            return k8s_status(404, "NotFound", f'folders.{FOLDER_GROUP} "{name}" not found', name, "folders")
        return 200, self._folder_object(folder, match["version"])

    def _parse_object(self, match, body: bytes) -> tuple[dict | None, tuple[int, Any] | None]:
        try:
            obj = json.loads(body or b"{}")
        except ValueError:
            return None, k8s_status(400, "BadRequest", "the body of the request was in an unknown format")
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            return None, k8s_status(400, "BadRequest", "metadata is required")
        spec = obj.get("spec")
        name = obj["metadata"].get("name") or ""
        if match["resource"] == "dashboards" and match["version"].startswith("v2") and isinstance(spec, dict):
            spec = spec.get("v1")  # this emulator's v2 wrapper
        if not isinstance(spec, dict) or not str(spec.get("title") or "").strip():
            kind = "Dashboard" if match["resource"] == "dashboards" else "Folder"
            return None, k8s_status(422, "Invalid", f'{kind}.{match["group"]} "{name}" is invalid: spec.title: '
                                                     "Required value", name, match["resource"])
        if not name or len(name) > MAX_UID_LENGTH or not UID_PATTERN.match(name):
            return None, k8s_status(422, "Invalid", f'metadata.name: Invalid value: "{name}"', name, match["resource"])
        obj["spec"] = spec
        return obj, None

    @staticmethod
    def _manager(annotations: dict) -> tuple[str, str]:
        return annotations.get(ANNO_MANAGED_BY, ""), annotations.get(ANNO_MANAGER_ID, "")

    def _ownership_error(self, name: str, current: dict, requested: dict) -> tuple[int, Any] | None:
        kind, identity = self._manager(current)
        if not kind:
            return None
        new_kind, new_identity = self._manager(requested)
        if (kind, identity) == (new_kind, new_identity):
            return None
        return k8s_status(400, "BadRequest", f"resource '{name}' is managed by {kind}:{identity} and cannot be "
                                             f"modified by {new_kind or 'unmanaged'}:{new_identity}", name)

    def _create(self, match, query, body) -> tuple[int, Any]:
        if (error := self._check_path(match)) is not None:
            return error
        obj, error = self._parse_object(match, body)
        if error:
            return error
        meta = obj["metadata"]
        name = meta["name"]
        annotations = dict(meta.get("annotations") or {})
        parent = annotations.pop(ANNO_FOLDER, "") or ""
        if match["resource"] == "folders":
            if name in self.folders:
                return k8s_status(409, "AlreadyExists", f'folders.{FOLDER_GROUP} "{name}" already exists', name, "folders")
            if parent and parent not in self.folders:
                return k8s_status(400, "BadRequest", f"parent folder {parent!r} not found", name)
            folder = self.create_folder(name, obj["spec"]["title"], parent)
            folder["annotations"] = annotations
            return 201, self._folder_object(folder, match["version"])
        if name in self.dashboards:
            return k8s_status(409, "AlreadyExists", f'dashboards.{DASHBOARD_GROUP} "{name}" already exists', name,
                              "dashboards")
        if parent and parent not in self.folders:
            return k8s_status(400, "BadRequest", f"folder {parent!r} not found", name)
        stored = StoredDashboard({}, 0, self._new_id(), parent or None, created=_now())
        self._write_dashboard(name, stored, obj, annotations, parent)
        self.dashboards[name] = stored
        return 201, self._dashboard_object(name, stored, match["version"])

    def _write_dashboard(self, name: str, stored: StoredDashboard, obj: dict, annotations: dict, parent: str) -> None:
        spec = dict(obj["spec"])  # parsed from this request's body: ours to keep
        spec.pop("version", None)
        spec.pop("id", None)
        spec["uid"] = name
        old = {k: v for k, v in stored.dashboard.items() if k not in ("id", "version")}
        if spec != old or stored.stored_version != "v1":
            stored.generation += 1
            stored.version += 1
        stored.dashboard = {**spec, "id": stored.id, "version": stored.version}
        stored.annotations = annotations
        stored.labels = {k: v for k, v in (obj["metadata"].get("labels") or {}).items()
                         if k != "grafana.app/deprecatedInternalID"}
        stored.folder_uid = parent or None
        stored.stored_version = "v1"
        stored.updated = _now()
        stored.resource_version = self._bump()
        stored.history.append((stored.version, annotations.get("grafana.app/message", "")))

    def _update(self, match, query, body) -> tuple[int, Any]:
        if (error := self._check_path(match)) is not None:
            return error
        obj, error = self._parse_object(match, body)
        if error:
            return error
        name = match["name"]
        if obj["metadata"]["name"] != name:
            return k8s_status(400, "BadRequest", "the name of the object does not match the name on the URL", name)
        meta = obj["metadata"]
        annotations = dict(meta.get("annotations") or {})
        parent = annotations.pop(ANNO_FOLDER, "") or ""
        sent_version = str(meta.get("resourceVersion") or "")
        if match["resource"] == "folders":
            folder = self.folders.get(name)
            if folder is None:
                return k8s_status(404, "NotFound", f'folders.{FOLDER_GROUP} "{name}" not found', name, "folders")
            if sent_version and sent_version != str(folder["resourceVersion"]):
                return self._conflict(name, "folders", FOLDER_GROUP)
            if (error := self._ownership_error(name, folder.get("annotations") or {}, annotations)) is not None:
                return error
            folder.update(title=obj["spec"]["title"], parentUid=parent, annotations=annotations,
                          resourceVersion=self._bump(), version=folder["version"] + 1, updated=_now())
            return 200, self._folder_object(folder, match["version"])
        stored = self.dashboards.get(name)
        if stored is None:
            return k8s_status(404, "NotFound", f'dashboards.{DASHBOARD_GROUP} "{name}" not found', name, "dashboards")
        if sent_version and sent_version != str(stored.resource_version):
            return self._conflict(name, "dashboards", DASHBOARD_GROUP)
        if stored.provisioned:
            return k8s_status(400, "BadRequest", "Cannot save provisioned dashboard", name)
        if (error := self._ownership_error(name, stored.annotations, annotations)) is not None:
            return error
        if parent and parent not in self.folders:
            return k8s_status(400, "BadRequest", f"folder {parent!r} not found", name)
        self._write_dashboard(name, stored, obj, annotations, parent)
        return 200, self._dashboard_object(name, stored, match["version"])

    def _conflict(self, name: str, resource: str, group: str) -> tuple[int, Any]:
        return k8s_status(409, "Conflict", f'Operation cannot be fulfilled on {resource}.{group} "{name}": the object '
                                           "has been modified; please apply your changes to the latest version and "
                                           "try again", name, resource)

    def _delete(self, match, query, body) -> tuple[int, Any]:
        if (error := self._check_path(match)) is not None:
            return error
        name = match["name"]
        if match["resource"] == "folders":
            if self.folders.pop(name, None) is None:
                return k8s_status(404, "NotFound", f'folders.{FOLDER_GROUP} "{name}" not found', name, "folders")
        else:
            stored = self.dashboards.get(name)
            if stored is None:
                return k8s_status(404, "NotFound", f'dashboards.{DASHBOARD_GROUP} "{name}" not found', name,
                                  "dashboards")
            if stored.provisioned:
                return k8s_status(400, "BadRequest", "provisioned dashboard cannot be deleted", name)
            del self.dashboards[name]
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": {"name": name, "group": match["group"], "kind": match["resource"]}}


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
        path = owner.strip_sub_path(url.path)
        with owner._lock:
            owner.requests.append(RecordedRequest(method, path if path is not None else url.path,
                                                  parse_qs(url.query), dict(self.headers), body))
        if owner.latency_s:
            time.sleep(owner.latency_s)
        if path is None:  # outside the sub-path: the proxy in front of Grafana knows nothing there
            self._send(404, {"message": "Not found"})
            return
        fault = owner._take_fault(method, path)
        if fault is not None:
            if fault.run is not None:
                fault.run()
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
        status, payload = owner.handle(method, path, parse_qs(url.query), self.headers, body)
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


def main() -> None:
    """Serve until stdin closes: `python -m tests.grafana_api_emulator --version 13 --token T`
    prints its URL on the first line (the benchmark runs it in a process of its own, as a real
    Grafana would be)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default="11", choices=sorted(RESOURCE_VERSIONS))
    parser.add_argument("--token", required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    with GrafanaEmulator(tokens={args.token: "Editor"}, version=args.version) as emulator:
        emulator.latency_s = args.latency_ms / 1000
        print(emulator.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
