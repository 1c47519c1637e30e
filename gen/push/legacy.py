"""Grafana's legacy dashboard API (/api/dashboards/db, /api/folders): Grafana 10 and 11, and
12 and 13 with --api legacy. Deprecated on 13; its GET of a dashboard stored as schema v2 is a
lossy conversion, so a dashboard saved from the UI there reads as changed (a conflict), which
is what it is."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from gen.push.client import GrafanaClient, GrafanaError
from gen.push.model import MARKER_KEY, LocalDashboard, Remote


SEARCH_BATCH = 100  # uids per search request: keeps the URL well under common 8 KiB limits


class LegacyApi:
    name = "legacy"

    def __init__(self, client: GrafanaClient):
        self.client = client

    @staticmethod
    def _remote(answer: dict[str, Any]) -> Remote:
        meta, model = answer.get("meta") or {}, answer.get("dashboard") or {}
        return Remote(uid=str(model.get("uid") or ""), model=model, folder_uid=meta.get("folderUid") or "",
                      raw=answer, version=meta.get("version", model.get("version")),
                      provisioned=bool(meta.get("provisioned")))

    def read(self, uid: str) -> Remote | None:
        try:
            answer = self.client.request("GET", f"/api/dashboards/uid/{uid}", f"dashboard {uid}")
        except GrafanaError as exc:
            if exc.status == 404:
                return None
            raise
        return self._remote(answer)

    def existing(self, uids: list[str]) -> set[str] | None:
        """Which of the uids Grafana has, from one search per 100 uids; None if search fails
        (then every dashboard is read)."""
        found: set[str] = set()
        for start in range(0, len(uids), SEARCH_BATCH):
            batch = uids[start:start + SEARCH_BATCH]
            try:
                hits = self.client.request("GET", "/api/search", "dashboard search",
                                           params={"type": "dash-db", "dashboardUIDs": batch, "limit": 5000})
            except GrafanaError as exc:
                if exc.status in (401, 403):
                    raise
                return None
            found.update(h.get("uid") for h in hits if isinstance(h, dict))
        return found

    def read_all(self, uids: list[str], pool: Executor) -> dict[str, Remote | None | GrafanaError]:
        """One search tells which exist (a first push reads nothing more), then a GET of each of
        those: the legacy API has no list call that returns the dashboards' JSON."""
        def one(uid: str):
            try:
                return self.read(uid)
            except GrafanaError as exc:
                return exc

        try:
            present = self.existing(uids) if len(uids) > 1 else None
        except GrafanaError as exc:
            return {uid: exc for uid in uids}
        to_read = [uid for uid in uids if present is None or uid in present]
        read = dict(zip(to_read, pool.map(one, to_read)))
        return {uid: read.get(uid) for uid in uids}

    def list_folder(self, folder_uid: str, pool: Executor) -> list[Remote]:
        """Every dashboard in the folder (search, then a read of each: the marker is in the JSON)."""
        uids: list[str] = []
        page = 1
        while True:
            hits = self.client.request("GET", "/api/search", f"folder {folder_uid}",
                                       params={"type": "dash-db", "folderUIDs": folder_uid, "limit": 1000,
                                               "page": page})
            uids += [h["uid"] for h in hits if isinstance(h, dict) and h.get("uid")]
            if len(hits) < 1000:
                break
            page += 1
        found = self.read_all(uids, pool)
        return [r for r in found.values() if isinstance(r, Remote)]

    def get_folder(self, uid: str) -> tuple[str, str] | None:
        """(title, parent uid) of a folder, or None."""
        try:
            folder = self.client.request("GET", f"/api/folders/{uid}", f"folder {uid}")
        except GrafanaError as exc:
            if exc.status == 404:
                return None
            raise
        return folder.get("title", ""), folder.get("parentUid") or ""

    def create_folder(self, uid: str, title: str, parent_uid: str) -> None:
        body = {"uid": uid, "title": title}
        if parent_uid:
            body["parentUid"] = parent_uid
        self.client.request("POST", "/api/folders", f"folder {uid}", body)

    def save(self, local: LocalDashboard, remote: Remote | None, overwrite: bool, message: str,
             allow_edits: bool) -> int | None:
        # A shallow copy is enough: only top-level keys change.
        model = dict(local.model)
        model.pop("id", None)
        model[MARKER_KEY] = {"contentHash": local.hash, "source": local.source or local.path}
        if remote is not None and not overwrite:
            model["version"] = remote.version  # optimistic locking: 412 if someone saved in between
        else:
            model.pop("version", None)
        body = {"dashboard": model, "folderUid": local.env.grafana.folder_uid, "message": message,
                "overwrite": overwrite}
        answer = self.client.request("POST", "/api/dashboards/db", f"dashboard {local.uid} ({local.env.name})", body)
        return answer.get("version")

    @staticmethod
    def lossless(remote: Remote) -> dict[str, Any]:
        return remote.raw

    def delete(self, remote: Remote, what: str) -> None:
        self.client.request("DELETE", f"/api/dashboards/uid/{remote.uid}", what)

    @staticmethod
    def ours(remote: Remote) -> bool:
        return isinstance(remote.model.get(MARKER_KEY), dict)

    @staticmethod
    def write_conflict(exc: GrafanaError) -> bool:
        return exc.api_status == "version-mismatch"
