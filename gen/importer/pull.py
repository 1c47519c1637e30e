"""`gen pull`: edits made in Grafana's UI, as a change to the Python definitions.

For each dashboard this project owns in Grafana (our manager annotations, or the marker `gen push`
writes on the legacy API), the live version is compared with the rendered one by gen diff's
semantic comparison. Where they differ:

- a definition in the form `gen import` writes (regenerating it from its own rendering gives
  the file back, byte for byte) is regenerated from the live dashboard: the unified diff holds
  exactly the UI's edits (a panel added, a query changed, a threshold moved, a panel resized);
- any other definition (panels computed by helpers or in loops) is patched where the edit is a
  literal of the file (a query string, a title) and found exactly once; what is not is said, with
  the panel's new definition to paste in.

Nothing is ever written to Grafana; files only with --write."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen.diff.semantic import Change, diff_dashboards, format_change
from gen.importer import codegen, migrate, read
from gen.importer.literal import string

UID_CALL = re.compile(r'uid=uid_for\(("(?:[^"\\]|\\.)*"), env\)')
BODY_START = "\ndef dashboard("


@dataclass
class PullResult:
    env: str
    uid: str
    source: str  # dashboards/x.py
    status: str  # unchanged | changed | not-ours | missing
    changes: list[Change] = field(default_factory=list)
    diff: str = ""  # the unified diff of the definition
    new_text: str | None = None  # the definition after the edit, when it can be written
    paste: list[str] = field(default_factory=list)  # what could not be a patch, and the code to paste
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"env": self.env, "uid": self.uid, "source": self.source, "status": self.status, "note": self.note,
                "changes": [c.as_dict() for c in self.changes], "diff": self.diff, "paste": self.paste,
                "writable": self.new_text is not None}


def _form(model: dict) -> dict:
    """A dashboard (rendered, or as Grafana holds it) in the form the importer writes code from."""
    from gen.push.model import content

    source = read.Source(path=Path("live.json"), dashboard=content(model), shape="dashboard")
    return migrate.migrate(source, [])


def _writer(text: str, env, root: Path) -> codegen.Writer | None:
    """A writer set up as the one that wrote `text` (its uid, the environment's literals)."""
    import ast

    found = UID_CALL.search(text)
    if not found:
        return None
    base = ast.literal_eval(found.group(1))
    subs = []
    if "{env.namespace}" in text:
        subs.append(codegen.Substitution(env.namespace, "env.namespace"))
    if "{env.prometheus_release}" in text:
        subs.append(codegen.Substitution(env.prometheus_release, "env.prometheus_release"))
    return codegen.Writer(env, subs, base)


def _with_body(text: str, writer: codegen.Writer, body: str) -> str:
    """`text` with the function body and the two import lines the body needs."""
    from gen.importer.literal import Code, literal

    head, _, _ = text.partition(BODY_START)
    grafanalib, helpers = writer.import_lines()
    head = re.sub(r"from grafanalib\.core import (\([^)]*\)|[^\n]*)", lambda _: grafanalib, head, count=1)
    head = re.sub(r"from dashboards\._panels import [^\n]*", lambda _: helpers, head, count=1)
    return head + BODY_START + "env: Environment):\n    return " + literal(Code(body), 4) + "\n"


def propose(built, live: dict, root: Path) -> PullResult:
    """The change to built.source that makes it render `live`."""
    from gen.push.model import content

    changes = diff_dashboards(built.model, content(live))
    result = PullResult(built.env.name, built.uid, built.source, "changed" if changes else "unchanged", changes)
    if not changes:
        return result
    path = root / built.source
    text = path.read_text(encoding="utf-8")
    writer = _writer(text, built.env, root)
    if writer is not None:
        regenerated = _with_body(text, writer, writer.dashboard(_form(built.model)))
        if regenerated == text:
            live_writer = _writer(text, built.env, root)
            result.new_text = _with_body(text, live_writer, live_writer.dashboard(_form(live)))
    if result.new_text is None:
        result.new_text, result.paste = _literal_edits(text, changes, live, built)
    if result.new_text is not None and result.new_text != text:
        result.diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), result.new_text.splitlines(keepends=True),
                                                   f"a/{built.source}", f"b/{built.source}"))
    elif result.new_text == text:
        result.new_text = None
    return result


def _literal_edits(text: str, changes: list[Change], live: dict, built) -> tuple[str | None, list[str]]:
    """Edits of a hand-written definition: a changed query or title that is a literal of the file,
    found exactly once, is replaced; every other change is offered as the panel to paste in."""
    new = text
    paste: list[str] = []
    for change in changes:
        old_value, new_value = change.old, change.new
        if change.kind in ("query-changed",) or (change.kind == "setting-changed" and change.field == "title"):
            replaced = _replace_once(new, str(old_value), str(new_value))
            if replaced is not None:
                new = replaced
                continue
        paste.append(_paste(change, live, built))
    return (new if new != text else None), paste


def _replace_once(text: str, old: str, new: str) -> str | None:
    for quote in (string(old), '"' + old.replace('"', '\\"') + '"'):
        if text.count(quote) == 1:
            return text.replace(quote, string(new), 1)
    return None


def _paste(change: Change, live: dict, built) -> str:
    """What to say of a change no small patch expresses, with the live panel as code."""
    lines = "\n".join(format_change(change))
    title = re.match(r"panel '([^']*)'", change.where)
    if not title:
        return f"{built.source}: {lines}\n  not a literal of the definition: make this change by hand"
    panel = _find_panel(live, title.group(1))
    if panel is None:
        return f"{built.source}: {lines}\n  not a literal of the definition: make this change by hand"
    writer = codegen.Writer(built.env, [], "paste")
    code = writer.panel(_form({**live, "panels": [panel]})["panels"][0])
    return (f"{built.source}: {lines}\n  the definition computes this panel (no literal to patch): paste this "
            f"panel definition in its place (imports: {', '.join(sorted(writer.classes))}):\n{code}")


def _find_panel(model: dict, title: str) -> dict | None:
    from gen.render.grafana_json import iter_panels

    return next((p for p in iter_panels(model) if p.get("title") == title and p.get("type") != "row"), None)


def pull(settings, envs, api, pool, uid: str | None) -> list[PullResult]:
    from gen.push.client import GrafanaError
    from gen.push.model import MARKER_KEY, Remote
    from gen.render.dashboards import build_dashboards
    from gen.errors import UserError

    built = [b for b in build_dashboards(settings, envs) if uid is None or b.uid == uid]
    if uid is not None and not built:
        raise UserError(f"--uid {uid}: no dashboard of the chosen environments has this uid")
    remote = api.read_all([b.uid for b in built], pool)
    results: list[PullResult] = []
    touched: set[str] = set()
    for item in built:
        found = remote.get(item.uid)
        if isinstance(found, GrafanaError):
            raise UserError(found.message)
        if not isinstance(found, Remote):
            results.append(PullResult(item.env.name, item.uid, item.source, "missing", note="not in Grafana: nothing to pull"))
            continue
        # Ours: our manager annotations; without a manager (the legacy API, where a save from the
        # UI drops push's marker too), the uid push writes, in the folder it writes it to.
        ours = found.managed_by_us or (found.manager is None and (isinstance(found.model.get(MARKER_KEY), dict)
                                                                  or found.folder_uid == item.env.grafana.folder_uid))
        if not ours:
            owner = "{}:{}".format(*found.manager) if found.manager else "nobody (not pushed by gen push)"
            results.append(PullResult(item.env.name, item.uid, item.source, "not-ours", note=f"owned by {owner}: not pulled"))
            continue
        result = propose(item, found.model, settings.root)
        if result.new_text is not None and item.source in touched:
            result.new_text, result.note = None, (f"{item.source} was already changed by another environment's pull: "
                                                  "pull this one after reviewing that")
        if result.new_text is not None:
            touched.add(item.source)
        results.append(result)
    return results
