"""Plan and apply a push of the rendered dashboards to Grafana.

Each dashboard is compared with what Grafana holds, ignoring the fields Grafana manages (`id`,
`version`) and our marker:
  create     Grafana has no dashboard with this uid
  unchanged  Grafana holds exactly what we would push, in the right folder: no write at all
  update     Grafana holds what we pushed last time (its content still matches the hash we stored
             with it) and our definition changed
  conflict   someone changed it in Grafana since (a UI edit, an import): not written unless
             --force, which saves Grafana's version to the backup directory first
  error      Grafana refuses it (provisioned, permissions, ...)

The hash lives in the dashboard JSON under MARKER_KEY, which Grafana stores verbatim and its
dashboard editor drops on save, so a UI edit is detected whether or not the marker survives.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from gen.errors import RemoteRefused, UserError
from gen.outdir import write_atomic
from gen.push.client import GrafanaClient, GrafanaError
from gen.settings import Environment, Settings

MARKER_KEY = "tritonObs"
MANAGED_BY_GRAFANA = ("id", "version")
MAX_UID_LENGTH = 40


@dataclass(frozen=True)
class LocalDashboard:
    env: Environment
    path: str  # relative to out/
    model: dict[str, Any]

    @property
    def uid(self) -> str:
        return self.model["uid"]

    @property
    def title(self) -> str:
        return self.model.get("title", "")


@dataclass
class Outcome:
    env: str
    uid: str
    title: str
    action: str  # create | update | unchanged | conflict | overwrite | error
    result: str = "planned"  # planned | done | failed | skipped
    detail: str = ""
    version: int | None = None
    backup: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Options:
    dry_run: bool = False
    force: bool = False
    backup_dir: Path | None = None
    concurrency: int = 4
    message: str = "triton-obs gen push"


@dataclass
class PushResult:
    outcomes: list[Outcome] = field(default_factory=list)
    folders_created: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(o.action in ("conflict", "error") or o.result == "failed" for o in self.outcomes)


# -- local side ---------------------------------------------------------------------------------

def load_local(out_dir: Path, envs: list[Environment]) -> list[LocalDashboard]:
    """Every dashboard JSON of the chosen environments, checked before any request is made."""
    found = []
    for env in envs:
        directory = out_dir / "grafana" / env.name
        paths = sorted(directory.glob("*.json"))
        if not paths:
            raise UserError(f"out/grafana/{env.name}/: no dashboards to push (run `gen dashboards` first)")
        for path in paths:
            rel = path.relative_to(out_dir).as_posix()
            try:
                model = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UserError(f"out/{rel}: not a dashboard JSON: {exc}") from None
            uid = model.get("uid") if isinstance(model, dict) else None
            if not isinstance(uid, str) or not uid:
                raise UserError(f"out/{rel}: uid: missing")
            if len(uid) > MAX_UID_LENGTH:
                raise UserError(f"out/{rel}: uid: '{uid}' is longer than {MAX_UID_LENGTH} characters")
            if not str(model.get("title") or "").strip():
                raise UserError(f"out/{rel}: title: missing")
            found.append(LocalDashboard(env, rel, model))
    return found


def content(model: dict[str, Any]) -> dict[str, Any]:
    """The dashboard without what Grafana manages and without our marker."""
    return {k: v for k, v in model.items() if k not in MANAGED_BY_GRAFANA and k != MARKER_KEY}


def content_hash(model: dict[str, Any]) -> str:
    canonical = json.dumps(content(model), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def diff_summary(old: Any, new: Any, limit: int = 4) -> str:
    """'3 differences: title; panels[2].targets[0].expr; ...' between two dashboards' content."""
    paths: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                where = f"{path}.{key}" if path else key
                if key not in a:
                    paths.append(f"{where} (added)")
                elif key not in b:
                    paths.append(f"{where} (removed)")
                else:
                    walk(a[key], b[key], where)
        elif isinstance(a, list) and isinstance(b, list):
            for i in range(max(len(a), len(b))):
                where = f"{path}[{i}]"
                if i >= len(a):
                    paths.append(f"{where} (added)")
                elif i >= len(b):
                    paths.append(f"{where} (removed)")
                else:
                    walk(a[i], b[i], where)
        elif a != b:
            paths.append(path or "(whole)")

    walk(content(old), content(new), "")
    if not paths:
        return "no differences"
    shown = "; ".join(paths[:limit]) + ("; ..." if len(paths) > limit else "")
    return f"{len(paths)} difference{'s' if len(paths) != 1 else ''}: {shown}"


def git_revision(root: Path) -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "dashboards", "out"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# -- remote side --------------------------------------------------------------------------------

def _fetch(client: GrafanaClient, uid: str, what: str) -> dict[str, Any] | None:
    try:
        return client.request("GET", f"/api/dashboards/uid/{uid}", what)
    except GrafanaError as exc:
        if exc.status == 404:
            return None
        raise


def plan_one(client: GrafanaClient, local: LocalDashboard) -> tuple[Outcome, dict[str, Any] | None]:
    env = local.env
    what = f"dashboard {local.uid} ({env.name})"
    outcome = Outcome(env.name, local.uid, local.title, "error")
    try:
        remote = _fetch(client, local.uid, what)
    except GrafanaError as exc:
        outcome.detail = exc.message
        return outcome, None
    if remote is None:
        outcome.action, outcome.detail = "create", f"new in folder '{env.grafana.folder_title}'"
        return outcome, None
    meta, model = remote.get("meta") or {}, remote.get("dashboard") or {}
    outcome.version = meta.get("version", model.get("version"))
    if meta.get("provisioned"):
        outcome.detail = (f"{what}: Grafana holds it as provisioned (file or sidecar) and cannot save it through the "
                          f"API; publish it with the ConfigMap out/{env.name}/ instead (docs/grafana-sidecar.md)")
        return outcome, remote
    same_folder = (meta.get("folderUid") or "") == env.grafana.folder_uid
    if content(model) == content(local.model):
        if same_folder:
            outcome.action, outcome.detail = "unchanged", ""
        else:
            outcome.action = "update"
            outcome.detail = f"move from folder '{meta.get('folderTitle') or meta.get('folderUid')}'"
        return outcome, remote
    marker = (model.get(MARKER_KEY) or {}).get("contentHash") if isinstance(model.get(MARKER_KEY), dict) else None
    if marker and marker == content_hash(model):
        outcome.action, outcome.detail = "update", diff_summary(model, local.model)
    else:
        why = "changed in Grafana since the last push" if marker else "not pushed by triton-obs (or edited in the UI)"
        outcome.action = "conflict"
        outcome.detail = f"{why}, version {outcome.version}; {diff_summary(model, local.model)}"
    return outcome, remote


def _payload(local: LocalDashboard, remote: dict | None, overwrite: bool, message: str) -> dict[str, Any]:
    model = copy.deepcopy(local.model)
    model.pop("id", None)
    model[MARKER_KEY] = {"contentHash": content_hash(local.model), "source": local.path}
    if remote is not None and not overwrite:
        # Optimistic locking: Grafana answers 412 if someone saved in between.
        model["version"] = (remote.get("meta") or {}).get("version", (remote.get("dashboard") or {}).get("version"))
    else:
        model.pop("version", None)
    return {"dashboard": model, "folderUid": local.env.grafana.folder_uid, "message": message, "overwrite": overwrite}


def _backup(directory: Path, local: LocalDashboard, remote: dict[str, Any]) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = directory / local.env.name / f"{local.uid}.v{(remote.get('meta') or {}).get('version', 'x')}.{stamp}.json"
    write_atomic(path, (json.dumps(remote, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def apply_one(client: GrafanaClient, local: LocalDashboard, outcome: Outcome, remote: dict | None,
              options: Options) -> Outcome:
    if outcome.action in ("unchanged", "error") or (outcome.action == "conflict" and not options.force):
        outcome.result = "skipped" if outcome.action != "unchanged" else "done"
        return outcome
    overwrite = outcome.action == "conflict"
    if overwrite:
        if options.backup_dir is None:
            raise UserError("--force needs a backup directory")
        try:
            outcome.backup = str(_backup(options.backup_dir, local, remote or {}))
        except OSError as exc:
            outcome.result, outcome.detail = "failed", f"backup failed, not overwritten: {exc}"
            return outcome
        outcome.action = "overwrite"
    what = f"dashboard {local.uid} ({local.env.name})"
    try:
        answer = client.request("POST", "/api/dashboards/db", what, _payload(local, remote, overwrite, options.message))
    except GrafanaError as exc:
        if exc.api_status == "version-mismatch":
            outcome.action, outcome.result = "conflict", "skipped"
            outcome.detail = "changed in Grafana while pushing (412 version-mismatch); run again to see the diff"
        else:
            outcome.result, outcome.detail = "failed", exc.message
        return outcome
    outcome.result, outcome.version = "done", answer.get("version")
    return outcome


def ensure_folder(client: GrafanaClient, env: Environment, dry_run: bool) -> bool:
    """True when the folder had to be created (or would be, in a dry run)."""
    folder = env.grafana
    try:
        existing = client.request("GET", f"/api/folders/{folder.folder_uid}", f"folder {folder.folder_uid}")
    except GrafanaError as exc:
        if exc.status in (401, 403):
            raise RemoteRefused(exc.message) from None
        if exc.status != 404:
            raise UserError(exc.message) from None
        existing = None
    if existing is not None:
        return False
    if not dry_run:
        try:
            client.request("POST", "/api/folders", f"folder {folder.folder_uid}",
                           {"uid": folder.folder_uid, "title": folder.folder_title})
        except GrafanaError as exc:
            raise (RemoteRefused if exc.status in (401, 403) else UserError)(exc.message) from None
    return True


def push(settings: Settings, envs: list[Environment], out_dir: Path, client: GrafanaClient, options: Options,
         progress: Callable[[Outcome], None] | None = None) -> PushResult:
    dashboards = load_local(out_dir, envs)  # bad input stops here, before any request
    result = PushResult()
    # Credentials and reachability are proven by reading each folder before anything is written.
    for env in envs:
        if ensure_folder(client, env, dry_run=True):
            result.folders_created.append(env.grafana.folder_uid)

    with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
        planned = list(pool.map(lambda d: plan_one(client, d), dashboards))
        auth_errors = [o for o, _ in planned if o.action == "error" and ("(401)" in o.detail or "(403)" in o.detail)]
        if auth_errors:
            raise RemoteRefused(auth_errors[0].detail)
        if options.dry_run:
            result.outcomes = [o for o, _ in planned]
            return result
        for uid in result.folders_created:
            env = next(e for e in envs if e.grafana.folder_uid == uid)
            ensure_folder(client, env, dry_run=False)

        def apply(item):
            local, (outcome, remote) = item
            done = apply_one(client, local, outcome, remote, options)
            if progress:
                progress(done)
            return done

        result.outcomes = list(pool.map(apply, zip(dashboards, planned)))
    return result
