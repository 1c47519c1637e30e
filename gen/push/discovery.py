"""Which of Grafana's dashboard APIs to speak, decided from what the server says it serves.

Grafana 12 and later serve dashboards and folders as Kubernetes-style resources under /apis
(dashboard.grafana.app v1beta1 on 12, v1 on 13); `GET /apis` lists the groups and versions (an
APIGroupList). The newest stable v1-schema version wins: v2 versions hold another schema, alpha
ones are not for production. Grafana 10 and 11 answer /apis with 404 or without these groups,
and get the legacy /api routes. The namespace is `default` for the first organisation of a
self-hosted Grafana and `stacks-<id>` on Grafana Cloud; Grafana tells it in its frontend settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from gen.errors import RemoteRefused, UserError
from gen.push.client import GrafanaClient, GrafanaError

DASHBOARD_GROUP = "dashboard.grafana.app"
FOLDER_GROUP = "folder.grafana.app"
# Newest first; the versions whose spec is the v1 dashboard JSON that out/ holds.
DASHBOARD_VERSIONS = ("v1", "v1beta1")
# Schema v2 versions, newest first: only read, to back up a dashboard the UI saved as v2 without
# the losses of its conversion to v1.
SCHEMA_V2_VERSIONS = ("v2", "v2beta1", "v2alpha1")
FOLDER_VERSIONS = ("v1", "v1beta1")
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Target:
    api: str  # "legacy" or "resource"
    why: str
    dashboard_version: str = ""
    folder_version: str = ""
    namespace: str = ""
    schema_v2_version: str = ""

    def dashboards_path(self, name: str = "", version: str = "") -> str:
        base = f"/apis/{DASHBOARD_GROUP}/{version or self.dashboard_version}/namespaces/{self.namespace}/dashboards"
        return f"{base}/{name}" if name else base

    def folders_path(self, name: str = "") -> str:
        base = f"/apis/{FOLDER_GROUP}/{self.folder_version}/namespaces/{self.namespace}/folders"
        return f"{base}/{name}" if name else base

    def describe(self) -> str:
        if self.api == "legacy":
            return f"legacy API (/api/dashboards/db): {self.why}"
        return (f"resource API {DASHBOARD_GROUP}/{self.dashboard_version}, namespace '{self.namespace}': "
                f"{self.why}")

    def as_dict(self) -> dict:
        return asdict(self)


def _get(client: GrafanaClient, path: str, what: str) -> dict | None:
    """The JSON object at path, or None when Grafana has no such endpoint."""
    try:
        answer = client.request("GET", path, what)
    except GrafanaError as exc:
        if exc.status == 401:
            raise RemoteRefused(exc.message) from None
        if exc.status in (403, 404, 405):  # 403: a proxy or an org that hides discovery
            return None
        raise UserError(exc.message) from None
    return answer if isinstance(answer, dict) else None


def _versions(group: dict) -> list[str]:
    return [v.get("version") for v in group.get("versions") or [] if isinstance(v, dict) and v.get("version")]


def _served_versions(client: GrafanaClient) -> dict[str, list[str]] | None:
    """{group: [versions]} from GET /apis (an APIGroupList); when that is not served, from the
    two groups' own discovery documents (APIGroup); None when neither is there."""
    answer = _get(client, "/apis", "API discovery (GET /apis)")
    groups = answer.get("groups") if answer else None
    if isinstance(groups, list):
        return {str(g.get("name")): _versions(g) for g in groups if isinstance(g, dict)}
    served = {}
    for name in (DASHBOARD_GROUP, FOLDER_GROUP):
        group = _get(client, f"/apis/{name}", f"API discovery (GET /apis/{name})")
        if group:
            served[name] = _versions(group)
    return served or None


def _namespace(client: GrafanaClient) -> tuple[str, str]:
    try:
        settings = client.request("GET", "/api/frontend/settings", "Grafana's frontend settings")
    except GrafanaError as exc:
        if exc.status in (401, 403):
            raise RemoteRefused(exc.message) from None
        return DEFAULT_NAMESPACE, "the default (Grafana does not tell)"
    namespace = settings.get("namespace") if isinstance(settings, dict) else None
    if isinstance(namespace, str) and namespace:
        return namespace, "as Grafana's frontend settings tell"
    return DEFAULT_NAMESPACE, "the default (Grafana does not tell)"


def discover(client: GrafanaClient, api: str = "auto", namespace: str | None = None) -> Target:
    if api == "legacy":
        return Target("legacy", "chosen with --api legacy")
    served = _served_versions(client)
    dashboards = next((v for v in DASHBOARD_VERSIONS if v in (served or {}).get(DASHBOARD_GROUP, [])), None)
    folders = next((v for v in FOLDER_VERSIONS if v in (served or {}).get(FOLDER_GROUP, [])), None)
    if not dashboards or not folders:
        what = ("Grafana has no /apis (Grafana 10 or 11)" if served is None else
                f"GET /apis lists no {DASHBOARD_GROUP} {' or '.join(DASHBOARD_VERSIONS)} with "
                f"{FOLDER_GROUP} {' or '.join(FOLDER_VERSIONS)}")
        if api == "resource":
            raise UserError(f"{client.url}: --api resource: {what}; use --api legacy or auto")
        return Target("legacy", what)
    if namespace:
        ns, ns_why = namespace, "from --namespace"
    else:
        ns, ns_why = _namespace(client)
    chosen = "chosen with --api resource" if api == "resource" else "the newest version GET /apis lists"
    schema_v2 = next((v for v in SCHEMA_V2_VERSIONS if v in (served or {}).get(DASHBOARD_GROUP, [])), "")
    return Target("resource", f"{chosen}; namespace {ns_why}", dashboards, folders, ns, schema_v2)
