"""Grafana's dashboard and folder resource API (Grafana 12 and later):
/apis/dashboard.grafana.app/<version>/namespaces/<namespace>/dashboards/<uid>.

The uid is metadata.name, the folder the grafana.app/folder annotation, the dashboard JSON the
spec. Ownership is data on the resource: the manager annotations say who owns it, and
grafana.app/sourceChecksum holds the hash of the spec we sent, so a change made since (in the UI,
by another client) is seen without comparing against a round trip of the whole JSON. Updates send
the metadata.resourceVersion they read: a change in between is a 409 Conflict from Grafana."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from gen.push.client import GrafanaClient, GrafanaError
from gen.push.discovery import Target
from gen.push.model import (
    ANNO_ALLOWS_EDITS,
    ANNO_FOLDER,
    ANNO_MANAGED_BY,
    ANNO_MANAGER_ID,
    ANNO_MESSAGE,
    ANNO_SOURCE_CHECKSUM,
    ANNO_SOURCE_PATH,
    MANAGER_ID,
    MANAGER_KIND,
    LocalDashboard,
    Remote,
    content,
    resource_checksum,
)

PAGE_SIZE = 500
# The annotations that say who owns a resource and how; replaced by ours on every write.
OWNERSHIP_ANNOTATIONS = (ANNO_MANAGED_BY, ANNO_MANAGER_ID, ANNO_ALLOWS_EDITS, ANNO_SOURCE_PATH, ANNO_SOURCE_CHECKSUM)


def desired_annotations(local: LocalDashboard) -> dict[str, str]:
    wanted = {
        ANNO_FOLDER: local.env.grafana.folder_uid,
        ANNO_MANAGED_BY: MANAGER_KIND,
        ANNO_MANAGER_ID: MANAGER_ID,
        ANNO_ALLOWS_EDITS: "true" if local.env.grafana.allow_ui_edits else "false",
        ANNO_SOURCE_PATH: local.source or f"out/{local.path}",
    }
    wanted[ANNO_SOURCE_CHECKSUM] = "sha256:" + resource_checksum(local.hash, wanted)
    return wanted


class ResourceApi:
    name = "resource"

    def __init__(self, client: GrafanaClient, target: Target):
        self.client = client
        self.target = target
        self._listed: dict[str, Remote] | None = None

    @staticmethod
    def _remote(obj: dict[str, Any]) -> Remote:
        meta = obj.get("metadata") or {}
        annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
        conversion = (obj.get("status") or {}).get("conversion") or {}
        return Remote(uid=str(meta.get("name") or ""), model=obj.get("spec") or {},
                      folder_uid=annotations.get(ANNO_FOLDER, ""), raw=obj, version=meta.get("generation"),
                      resource_version=meta.get("resourceVersion"), annotations=annotations,
                      stored_version=str(conversion.get("storedVersion") or ""))

    def list_all(self) -> dict[str, Remote]:
        """Every dashboard of the namespace, in pages: one request per 500 dashboards."""
        if self._listed is not None:
            return self._listed
        found: dict[str, Remote] = {}
        token = ""
        while True:
            params: dict[str, Any] = {"limit": PAGE_SIZE}
            if token:
                params["continue"] = token
            answer = self.client.request("GET", self.target.dashboards_path(), "the dashboard list", params=params)
            for item in answer.get("items") or []:
                remote = self._remote(item)
                found[remote.uid] = remote
            token = (answer.get("metadata") or {}).get("continue") or ""
            if not token:
                break
        self._listed = found
        return found

    def read(self, uid: str) -> Remote | None:
        try:
            return self._remote(self.client.request("GET", self.target.dashboards_path(uid), f"dashboard {uid}"))
        except GrafanaError as exc:
            if exc.status == 404:
                return None
            raise

    def read_all(self, uids: list[str], pool: Executor) -> dict[str, Remote | None | GrafanaError]:
        try:
            listed = self.list_all()
        except GrafanaError as exc:
            return {uid: exc for uid in uids}
        return {uid: listed.get(uid) for uid in uids}

    def list_folder(self, folder_uid: str, pool: Executor) -> list[Remote]:
        return [r for r in self.list_all().values() if r.folder_uid == folder_uid]

    def get_folder(self, uid: str) -> tuple[str, str] | None:
        try:
            folder = self.client.request("GET", self.target.folders_path(uid), f"folder {uid}")
        except GrafanaError as exc:
            if exc.status == 404:
                return None
            raise
        meta = folder.get("metadata") or {}
        return (folder.get("spec") or {}).get("title", ""), (meta.get("annotations") or {}).get(ANNO_FOLDER, "")

    def create_folder(self, uid: str, title: str, parent_uid: str) -> None:
        annotations = {ANNO_MANAGED_BY: MANAGER_KIND, ANNO_MANAGER_ID: MANAGER_ID}
        if parent_uid:
            annotations[ANNO_FOLDER] = parent_uid
        body = {"apiVersion": f"folder.grafana.app/{self.target.folder_version}", "kind": "Folder",
                "metadata": {"name": uid, "annotations": annotations}, "spec": {"title": title}}
        self.client.request("POST", self.target.folders_path(), f"folder {uid}", body)

    def save(self, local: LocalDashboard, remote: Remote | None, overwrite: bool, message: str,
             allow_edits: bool) -> int | None:
        what = f"dashboard {local.uid} ({local.env.name})"
        annotations = {k: v for k, v in (remote.annotations if remote else {}).items()
                       if k not in OWNERSHIP_ANNOTATIONS and k != ANNO_FOLDER}
        annotations.update(desired_annotations(local), **{ANNO_MESSAGE: message})
        metadata: dict[str, Any] = {"name": local.uid, "annotations": annotations}
        body = {"apiVersion": f"dashboard.grafana.app/{self.target.dashboard_version}", "kind": "Dashboard",
                "metadata": metadata, "spec": content(local.model)}
        if remote is None:
            answer = self.client.request("POST", self.target.dashboards_path(), what, body)
        else:
            # Always the version we read, --force included: what we back up is what we replace.
            metadata["resourceVersion"] = remote.resource_version
            if remote.raw.get("metadata", {}).get("labels"):
                metadata["labels"] = remote.raw["metadata"]["labels"]
            answer = self.client.request("PUT", self.target.dashboards_path(local.uid), what, body)
        return (answer.get("metadata") or {}).get("generation")

    def lossless(self, remote: Remote) -> dict[str, Any]:
        """What to back up: a dashboard stored as schema v2 is read in its stored version (the v1
        read is a lossy conversion); the object as read otherwise."""
        if not remote.saved_as_v2 or not self.target.schema_v2_version:
            return remote.raw
        try:
            return self.client.request("GET", self.target.dashboards_path(remote.uid, self.target.schema_v2_version),
                                       f"dashboard {remote.uid} as stored (schema v2)")
        except GrafanaError:
            return remote.raw

    def delete(self, remote: Remote, what: str) -> None:
        self.client.request("DELETE", self.target.dashboards_path(remote.uid), what)

    @staticmethod
    def ours(remote: Remote) -> bool:
        return remote.managed_by_us

    @staticmethod
    def write_conflict(exc: GrafanaError) -> bool:
        return exc.status == 409
