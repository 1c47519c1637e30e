"""Plan and apply a push of the rendered dashboards to Grafana, through its resource API (12+) or
its legacy API (10, 11), as discovery decides.

Plan first, then apply: every dashboard is read (one list call on the resource API), and its
action decided before anything is written:
  create     Grafana has no dashboard with this uid
  unchanged  Grafana holds what we would push, in the right folder, with our metadata: no write
  update     Grafana holds what we pushed last time (its content still matches the hash recorded
             with it: grafana.app/sourceChecksum, or the marker in the JSON on the legacy API)
             and our definition changed
  conflict   someone changed it in Grafana since (a UI edit, an import, a save as schema v2):
             not written unless --force, which saves Grafana's version to the backup directory
             first; the report shows what changed
  owned      another manager (another tool, Git Sync, file provisioning) owns it: never written,
             not even with --force
  prune      (--prune) ours, in the environment's folder, and no longer generated: deleted after a
             backup
  error      Grafana refuses it (provisioned, permissions, ...)
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from gen.errors import RemoteRefused, UserError
from gen.outdir import write_atomic
from gen.push.client import GrafanaClient, GrafanaError
from gen.push.discovery import Target
from gen.push.legacy import LegacyApi
from gen.push.model import (
    ANNO_ALLOWS_EDITS,
    ANNO_SOURCE_PATH,
    MAX_UID_LENGTH,
    TRACKED_ANNOTATIONS,
    LocalDashboard,
    Options,
    Outcome,
    PushResult,
    Remote,
    same_content,
)
from gen.push.resource import ResourceApi, desired_annotations
from gen.settings import Environment, Settings

Api = LegacyApi | ResourceApi


def make_api(client: GrafanaClient, target: Target) -> Api:
    return ResourceApi(client, target) if target.api == "resource" else LegacyApi(client)


# -- local side ---------------------------------------------------------------------------------

_CONFIGMAP_KEY = re.compile(r"^  ([A-Za-z0-9_-]+)\.json: ", re.MULTILINE)


def _definitions(out_dir: Path, env: Environment) -> dict[str, str]:
    """{uid: dashboards/<name>.py}: `gen dashboards` writes out/<env>/dashboard-<name>.yaml with
    the dashboard under the key <uid>.json."""
    found = {}
    for path in sorted((out_dir / env.name).glob("dashboard-*.yaml")):
        name = path.name[len("dashboard-"):-len(".yaml")]
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        for uid in _CONFIGMAP_KEY.findall(text):
            found[uid] = f"dashboards/{name}.py"
    return found


def load_local(out_dir: Path, envs: list[Environment]) -> list[LocalDashboard]:
    """Every dashboard JSON of the chosen environments, checked before any request is made."""
    found = []
    for env in envs:
        directory = out_dir / "grafana" / env.name
        paths = sorted(directory.glob("*.json"))
        if not paths:
            raise UserError(f"out/grafana/{env.name}/: no dashboards to push (run `gen dashboards` first)")
        sources = _definitions(out_dir, env)
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
            found.append(LocalDashboard(env, rel, model, sources.get(uid, "")))
    return found


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


# -- the decision, a pure function ----------------------------------------------------------------

def _summary(changes) -> str:
    if not changes:
        return "no differences"
    shown = "; ".join(f"{c.where} {c.field}".strip() for c in changes[:3])
    more = "; ..." if len(changes) > 3 else ""
    return f"{len(changes)} difference{'s' if len(changes) != 1 else ''}: {shown}{more}"


def decide(local: LocalDashboard, remote: Remote | None, api: Api) -> Outcome:
    from gen.diff.semantic import Change, diff_dashboards

    env = local.env
    outcome = Outcome(env.name, local.uid, local.title, "error")
    if remote is None:
        outcome.action, outcome.detail = "create", f"new in folder '{env.grafana.folder_title}'"
        return outcome
    outcome.version = remote.version
    what = f"dashboard {local.uid} ({env.name})"
    if remote.provisioned:
        outcome.detail = (f"{what}: Grafana holds it as provisioned (file or sidecar) and cannot save it through the "
                          f"API; publish it with the ConfigMap out/{env.name}/ instead (docs/grafana-sidecar.md)")
        return outcome
    if remote.manager is not None and not remote.managed_by_us:
        kind, identity = remote.manager
        outcome.action = "owned"
        outcome.detail = (f"owned by {kind}:{identity}" + (f" ({remote.annotations[ANNO_SOURCE_PATH]})"
                                                           if remote.annotations.get(ANNO_SOURCE_PATH) else "")
                          + "; never taken over: remove it there, or change this dashboard's uid")
        return outcome
    if remote.saved_as_v2:
        outcome.action = "conflict"
        outcome.detail = (f"saved from the UI as schema v2 (status.conversion.storedVersion {remote.stored_version}), "
                          f"generation {remote.version}")
        outcome.diff = [c.as_dict() for c in diff_dashboards(local.model, remote.model)]
        return outcome
    same = same_content(remote.model, local.model)
    same_folder = remote.folder_uid == env.grafana.folder_uid
    metadata_ok = api.name == "legacy" or _metadata_ok(local, remote)
    if same and same_folder and metadata_ok:
        outcome.action, outcome.detail = "unchanged", ""
        return outcome
    recorded = remote.recorded_hash
    intact = bool(recorded) and recorded == remote.current_hash()
    if intact or (same and (api.name == "legacy" or not recorded)):
        # Grafana holds what we pushed last time (or exactly our content): ours to update.
        outcome.action = "update"
        if not same:
            outcome.detail = _summary(diff_dashboards(remote.model, local.model))
        elif not same_folder:
            outcome.detail = f"move from folder '{remote.folder_uid or 'General'}'"
        else:
            outcome.detail = "ownership annotations"
        return outcome
    changes = diff_dashboards(local.model, remote.model)
    if api.name == "resource" and remote.managed_by_us:
        wanted = desired_annotations(local)
        changes += [Change("setting-changed", "metadata", key, wanted.get(key), remote.annotations.get(key))
                    for key in TRACKED_ANNOTATIONS if remote.annotations.get(key) != wanted.get(key)]
    why = "changed in Grafana since the last push" if recorded else "not pushed by triton-obs (or edited in the UI)"
    outcome.action = "conflict"
    outcome.detail = f"{why}, version {remote.version}; {_summary(changes)}"
    outcome.diff = [c.as_dict() for c in changes]
    return outcome


def plan_one(client: GrafanaClient, local: LocalDashboard, api: Api | None = None) -> tuple[Outcome, Remote | None]:
    """One dashboard read and decided on its own (gen doctor); the legacy API unless `api` is given."""
    api = api or LegacyApi(client)
    try:
        remote = api.read(local.uid)
    except GrafanaError as exc:
        return Outcome(local.env.name, local.uid, local.title, "error", detail=exc.message), None
    return decide(local, remote, api), remote


def _metadata_ok(local: LocalDashboard, remote: Remote) -> bool:
    wanted = desired_annotations(local)
    return all(remote.annotations.get(k) == v for k, v in wanted.items() if k != ANNO_ALLOWS_EDITS) and \
        remote.annotations.get(ANNO_ALLOWS_EDITS, "false") == wanted[ANNO_ALLOWS_EDITS]


# -- folders ------------------------------------------------------------------------------------

def folder_chain(env: Environment) -> list[tuple[str, str, str]]:
    """(uid, title, parent uid) from the outermost folder to the environment's own."""
    chain, parent = [], ""
    for folder in env.grafana.parent_folders:
        chain.append((folder.uid, folder.title, parent))
        parent = folder.uid
    chain.append((env.grafana.folder_uid, env.grafana.folder_title, parent))
    return chain


def check_folders(api: Api, envs: list[Environment]) -> list[tuple[str, str, str]]:
    """The folders to create, outermost first. A folder that exists under another parent than the
    settings say is an error: moving it would move everything in it."""
    missing: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for env in envs:
        for uid, title, parent in folder_chain(env):
            if uid in seen:
                continue
            seen.add(uid)
            try:
                existing = api.get_folder(uid)
            except GrafanaError as exc:
                raise (RemoteRefused if exc.status in (401, 403) else UserError)(exc.message) from None
            if existing is None:
                missing.append((uid, title, parent))
            elif existing[1] != parent:
                raise RemoteRefused(
                    f"folder {uid}: Grafana has it under '{existing[1] or 'the root'}', the settings under "
                    f"'{parent or 'the root'}' (environments.{env.name}.grafana.parent_folders); gen does not move "
                    "folders: move it in Grafana or change the settings")
    return missing


def create_folders(api: Api, missing: list[tuple[str, str, str]]) -> None:
    for uid, title, parent in missing:
        try:
            api.create_folder(uid, title, parent)
        except GrafanaError as exc:
            raise (RemoteRefused if exc.status in (401, 403) else UserError)(exc.message) from None


# -- applying -----------------------------------------------------------------------------------

def _backup(directory: Path, env: str, remote: Remote, api: Api) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = directory / env / f"{remote.uid}.v{remote.version if remote.version is not None else 'x'}.{stamp}.json"
    saved = api.lossless(remote)
    write_atomic(path, (json.dumps(saved, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def apply_one(api: Api, local: LocalDashboard, outcome: Outcome, remote: Remote | None, options: Options) -> Outcome:
    if outcome.action in ("unchanged", "error", "owned") or (outcome.action == "conflict" and not options.force):
        outcome.result = "done" if outcome.action == "unchanged" else "skipped"
        return outcome
    overwrite = outcome.action == "conflict"
    if overwrite:
        if options.backup_dir is None:
            raise UserError("--force needs a backup directory")
        try:
            outcome.backup = str(_backup(options.backup_dir, local.env.name, remote, api))
        except OSError as exc:
            outcome.result, outcome.detail = "failed", f"backup failed, not overwritten: {exc}"
            return outcome
        outcome.action = "overwrite"
    try:
        version = api.save(local, remote, overwrite, options.message, local.env.grafana.allow_ui_edits)
    except GrafanaError as exc:
        if api.write_conflict(exc):
            outcome.action, outcome.result = "conflict", "skipped"
            code = "409 Conflict" if exc.status == 409 else "412 version-mismatch"
            outcome.detail = f"changed in Grafana while pushing ({code}); not retried: run again to see the diff"
        elif exc.status == 400 and "is managed by" in exc.message:
            outcome.action, outcome.result = "owned", "skipped"
            outcome.detail = exc.message
        else:
            outcome.result, outcome.detail = "failed", exc.message
        return outcome
    outcome.result, outcome.version = "done", version
    return outcome


def plan_prune(api: Api, envs: list[Environment], dashboards: list[LocalDashboard], pool) -> list[tuple[Outcome, Remote]]:
    """Our own dashboards in the environments' folders that out/ no longer has."""
    wanted = {d.uid for d in dashboards}
    found = []
    for env in envs:
        try:
            remotes = api.list_folder(env.grafana.folder_uid, pool)
        except GrafanaError as exc:
            raise (RemoteRefused if exc.status in (401, 403) else UserError)(exc.message) from None
        for remote in sorted(remotes, key=lambda r: r.uid):
            if remote.uid in wanted or not api.ours(remote):
                continue
            title = str(remote.model.get("title") or "")
            outcome = Outcome(env.name, remote.uid, title, "prune", version=remote.version,
                              detail="pushed by triton-obs, no longer generated")
            found.append((outcome, remote))
    return found


def apply_prune(api: Api, outcome: Outcome, remote: Remote, options: Options) -> Outcome:
    if options.backup_dir is None:
        raise UserError("--prune needs a backup directory")
    try:
        outcome.backup = str(_backup(options.backup_dir, outcome.env, remote, api))
    except OSError as exc:
        outcome.result, outcome.detail = "failed", f"backup failed, not deleted: {exc}"
        return outcome
    try:
        api.delete(remote, f"dashboard {remote.uid} ({outcome.env})")
    except GrafanaError as exc:
        outcome.result, outcome.detail = "failed", exc.message
        return outcome
    outcome.result = "done"
    return outcome


def _auth_error(outcomes: list[Outcome]) -> None:
    failed = [o for o in outcomes if o.action == "error" and ("(401)" in o.detail or "(403)" in o.detail)]
    if failed:
        raise RemoteRefused(failed[0].detail)


def read_remotes(api: Api, dashboards: list[LocalDashboard], pool) -> list[tuple[Remote | None, Outcome | None]]:
    read = api.read_all([d.uid for d in dashboards], pool)
    results = []
    for local in dashboards:
        remote = read[local.uid]
        if isinstance(remote, GrafanaError):
            outcome = Outcome(local.env.name, local.uid, local.title, "error", detail=remote.message)
            results.append((None, outcome))
        else:
            results.append((remote, None))
    return results


def push(settings: Settings, envs: list[Environment], out_dir: Path, client: GrafanaClient, options: Options,
         target: Target, progress: Callable[[Outcome], None] | None = None) -> PushResult:
    dashboards = load_local(out_dir, envs)  # bad input stops here, before any request
    api = make_api(client, target)
    result = PushResult(api=target.as_dict())
    # Credentials, reachability and the folder tree are proven before anything is written.
    missing = check_folders(api, envs)
    result.folders_created = [uid for uid, _, _ in missing]

    with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
        read = read_remotes(api, dashboards, pool)
        planned = [error or decide(local, remote, api) for local, (remote, error) in zip(dashboards, read)]
        _auth_error(planned)
        pruned = plan_prune(api, envs, dashboards, pool) if options.prune else []
        if options.dry_run:
            result.outcomes = planned + [o for o, _ in pruned]
            return result
        create_folders(api, missing)

        def apply(item):
            local, (remote, _), outcome = item
            done = apply_one(api, local, outcome, remote, options)
            if progress:
                progress(done)
            return done

        result.outcomes = list(pool.map(apply, zip(dashboards, read, planned)))
        result.outcomes += list(pool.map(lambda pair: apply_prune(api, pair[0], pair[1], options), pruned))
    return result
