"""The two comparisons of `gen diff`: out/ against what Grafana holds (what `gen push` would
change), and out/ of a git ref against the working tree (for a pull request description)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen.diff.semantic import Change, diff_dashboards
from gen.errors import UserError
from gen.settings import Environment


@dataclass
class DashboardDiff:
    env: str
    uid: str
    title: str
    status: str  # unchanged | changed | added | removed
    changes: list[Change] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"env": self.env, "uid": self.uid, "title": self.title, "status": self.status, "note": self.note,
                "changes": [c.as_dict() for c in self.changes]}


def _compare(env: str, uid: str, old: dict | None, new: dict | None) -> DashboardDiff:
    if old is None:
        return DashboardDiff(env, uid, str((new or {}).get("title", "")), "added")
    if new is None:
        return DashboardDiff(env, uid, str(old.get("title", "")), "removed")
    changes = diff_dashboards(old, new)
    return DashboardDiff(env, uid, str(new.get("title", "")), "changed" if changes else "unchanged", changes)


def against_grafana(api, dashboards, pool) -> list[DashboardDiff]:
    """Grafana's version -> ours, per dashboard: what a push would change."""
    from gen.push.client import GrafanaError
    from gen.push.model import Remote

    read = api.read_all([d.uid for d in dashboards], pool)
    results = []
    for local in dashboards:
        remote = read[local.uid]
        if isinstance(remote, GrafanaError):
            raise UserError(remote.message)
        result = _compare(local.env.name, local.uid, remote.model if isinstance(remote, Remote) else None,
                          local.model)
        if isinstance(remote, Remote):
            if remote.folder_uid != local.env.grafana.folder_uid:
                result.changes.insert(0, Change("setting-changed", "dashboard", "folder", remote.folder_uid or "General",
                                                local.env.grafana.folder_uid))
                result.status = "changed"
            if remote.manager is not None and not remote.managed_by_us:
                result.note = "owned by {}:{}; gen push will not touch it".format(*remote.manager)
            elif remote.saved_as_v2:
                result.note = f"saved from the UI as schema v2 ({remote.stored_version}); shown as Grafana converts it"
        else:
            result.note = "not in Grafana: gen push would create it"
        results.append(result)
    return results


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UserError(f"git: cannot run it: {exc}") from None


def _at_ref(root: Path, out_dir: Path, ref: str, env: Environment) -> dict[str, dict]:
    top = _git(root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise UserError(f"--against {ref}: {root} is not in a git repository")
    toplevel = Path(top.stdout.decode().strip()).resolve()
    try:
        prefix = out_dir.resolve().relative_to(toplevel).as_posix()
    except ValueError:
        raise UserError(f"--against {ref}: {out_dir} is outside the git repository {toplevel}") from None
    if _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise UserError(f"--against: '{ref}' is not a commit, branch or tag of this repository")
    directory = f"{prefix}/grafana/{env.name}/"
    listing = _git(toplevel, "ls-tree", "-r", "--name-only", ref, "--", directory)
    found = {}
    for path in listing.stdout.decode().splitlines():
        if not path.endswith(".json") or "/" in path[len(directory):]:
            continue
        shown = _git(toplevel, "show", f"{ref}:{path}")
        try:
            model = json.loads(shown.stdout.decode("utf-8"))
        except ValueError:
            raise UserError(f"{ref}:{path}: not a dashboard JSON") from None
        found[str(model.get("uid") or Path(path).stem)] = model
    return found


def against_ref(root: Path, out_dir: Path, ref: str, envs: list[Environment]) -> list[DashboardDiff]:
    """out/ at `ref` -> out/ in the working tree, per dashboard."""
    results = []
    for env in envs:
        old = _at_ref(root, out_dir, ref, env)
        new = {}
        for path in sorted((out_dir / "grafana" / env.name).glob("*.json")):
            try:
                model = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UserError(f"out/grafana/{env.name}/{path.name}: not a dashboard JSON: {exc}") from None
            new[str(model.get("uid") or path.stem)] = model
        for uid in sorted(set(old) | set(new)):
            results.append(_compare(env.name, uid, old.get(uid), new.get(uid)))
    return results
