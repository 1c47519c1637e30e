"""`gen import`: a dashboard file in, `dashboards/<name>.py` out, proven by a round trip.

The definition is written, loaded as the build loads it, rendered for an environment and compared
with the input (after Grafana's migrations, in the project's normal form) by `gen diff`'s own
semantic comparison. What still differs, and what the normal form does not keep, is named with its
JSON path. Nothing is written when the file exists (without --force) or when anything fails."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen.errors import UserError
from gen.importer import codegen, migrate, read
from gen.settings import Environment, Settings

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Fields of Grafana 5 to 7 that Grafana 8+ no longer reads (and drops when it saves): not a loss.
LEGACY_PANEL_KEYS = {"span", "height", "minSpan", "error", "cacheTimeout", "maxDataPoints", "hideTimeOverride",
                     "editable", "thresholdType", "repeatDirection", "maxPerRow", "repeatIteration", "scopedVars"}
MAX_UID = 40


@dataclass
class ImportResult:
    path: Path
    name: str
    environment: str
    warnings: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)  # the round trip's, as gen diff words them
    written: bool = False


def module_name(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") or "imported"
    return ("d_" + slug if not slug[0].isalpha() else slug)[:63]


def _substitutions(source: read.Source, settings: Settings) -> tuple[Environment, list[codegen.Substitution], list[str]]:
    """--env-variables: the environment whose namespace the queries name, and its literals."""
    text = str(source.dashboard)
    for env in settings.environments.values():
        if re.search(rf'namespace\s*=~?\s*\\?"{re.escape(env.namespace)}\\?"', text):
            subs = [codegen.Substitution(env.namespace, "env.namespace")]
            if env.prometheus_release and env.prometheus_release in text:
                subs.append(codegen.Substitution(env.prometheus_release, "env.prometheus_release"))
            return env, subs, []
    first = next(iter(settings.environments.values()))
    return first, [], [f"--env-variables: no namespace of the settings ({', '.join(e.namespace for e in settings.environments.values())}) "
                       "appears in the queries; only the datasource became a variable"]


def import_dashboard(settings: Settings, file: Path, name: str | None, env_variables: bool,
                     force: bool) -> ImportResult:
    source = read.read(file)
    name = name or module_name(source.dashboard["title"])
    if not NAME.match(name):
        raise UserError(f"--name: '{name}' must be a Python module name: lowercase letters, digits and '_', "
                        "starting with a letter")
    target_path = settings.root / "dashboards" / f"{name}.py"
    if target_path.exists() and not force:
        raise UserError(f"dashboards/{name}.py exists: pass --force to replace it, or --name for another name")
    warnings: list[str] = []
    if env_variables:
        env, substitutions, notes = _substitutions(source, settings)
        warnings += notes
    else:
        env, substitutions = next(iter(settings.environments.values())), []
    model = migrate.migrate(source, warnings, datasource_uid="${datasource}" if env_variables else None)
    warnings += [f"{path}: not kept (the normal form of Grafana 11 drops it)" for path in _dropped(source, model)]
    # The writer evaluates what it writes with the project's own helpers (dashboards/_panels.py).
    root = str(settings.root.resolve())
    if root not in sys.path[:1]:
        sys.path.insert(0, root)
    longest_env = max(len(e) for e in settings.environments)
    uid_base = str(source.dashboard.get("uid") or name)[: MAX_UID - 1 - longest_env]
    writer = codegen.Writer(env, substitutions, uid_base)
    body = writer.dashboard(model)
    text = _module(source, name, writer, body, env_variables)
    result = ImportResult(target_path, name, env.name, warnings)
    result.differences = _round_trip(settings, name, text, model, env, uid_base)
    _write(target_path, text)
    result.written = True
    return result


def _module(source: read.Source, name: str, writer: codegen.Writer, body: str, env_variables: bool) -> str:
    title = source.dashboard["title"]
    what = {"dashboard": "a dashboard JSON model", "api-wrapper": "Grafana's API answer",
            "external-export": "an export for sharing externally", "resource": "a dashboard resource"}[source.shape]
    doc = (f'"""{title}: imported by `gen import {source.path.name}` from {what} (schemaVersion '
           f'{source.schema_version}).\n\nThis file is now the dashboard\'s definition: edit it and run `gen build`. '
           + ("Namespaces and the datasource\ncome from the environment." if env_variables
              else "It renders the same\ndashboard for every environment (uid suffixed by the environment's name).")
           + '\n"""')
    grafanalib, helpers = writer.import_lines()
    lines = [doc, "", "from __future__ import annotations", "", grafanalib, "",
             helpers, "from gen.settings import Environment", "", "",
             "def dashboard(env: Environment):",
             f"    return {codegen.literal(codegen.Code(body), 4)}", ""]
    return "\n".join(lines)


def _round_trip(settings: Settings, name: str, text: str, model: dict, env: Environment, uid_base: str) -> list[str]:
    """Load the written module as the build would, render it, and compare with the input."""
    import types

    from gen.diff.semantic import diff_dashboards, format_change
    from gen.render.grafana_json import normalise

    module = types.ModuleType(f"dashboards.{name}")
    module.__file__ = str(settings.root / "dashboards" / f"{name}.py")
    try:
        exec(compile(text, module.__file__, "exec"), module.__dict__)  # noqa: S102 - the code just written
        rendered = normalise(module.dashboard(env))
    except Exception as exc:  # noqa: BLE001 - a bug in the writer: say where, never write it
        raise UserError(f"dashboards/{name}.py: the generated definition does not render ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:200]}); nothing written") from None
    expected = {**model, "uid": rendered.get("uid")}
    return [line for change in diff_dashboards(expected, rendered) for line in format_change(change)]


def _dropped(source: read.Source, model: dict) -> list[str]:
    """JSON paths of the input's leaves the normal form does not keep (null and empty values
    aside: Grafana omits them too)."""
    import copy

    raw = copy.deepcopy(source.dashboard)
    for key in ("__inputs", "__requires", "__elements", "id", "version", "gnetId", "iteration"):
        raw.pop(key, None)
    found: list[str] = []

    def walk(have: Any, kept: Any, path: str) -> None:
        if isinstance(have, dict):
            for key, value in have.items():
                if value in (None, "", [], {}) or value is False:
                    continue  # unset, as Grafana omits it
                where = f"{path}.{key}" if path else key
                if not isinstance(kept, dict) or key not in kept:
                    found.append(where)
                else:
                    walk(value, kept[key], where)
        elif isinstance(have, list) and isinstance(kept, list) and len(have) == len(kept):
            for i, (a, b) in enumerate(zip(have, kept)):
                walk(a, b, f"{path}[{i}]")

    # Only where both have the same shape: migrated panels (graph -> timeseries) are said apart.
    def panels(model: dict):
        for index, panel in enumerate(model.get("panels") or []):
            yield f"panels[{index}]", panel
            if isinstance(panel, dict) and panel.get("type") == "row":
                for child, inner in enumerate(panel.get("panels") or []):
                    yield f"panels[{index}].panels[{child}]", inner

    kept_panels = dict(panels(model))
    for where, panel in panels(raw):
        kept = kept_panels.get(where)
        if not isinstance(panel, dict) or not isinstance(kept, dict) or panel.get("type") != kept.get("type"):
            continue
        for key, value in panel.items():
            if key in ("datasource", "targets", "panels") or key in LEGACY_PANEL_KEYS:
                continue
            walk({key: value}, kept, where)
        for i, (t, k) in enumerate(zip(panel.get("targets") or [], kept.get("targets") or [])):
            if isinstance(t, dict):
                walk({key: v for key, v in t.items() if key != "datasource"}, k, f"{where}.targets[{i}]")
    return found


def _write(path: Path, text: str) -> None:
    from gen.outdir import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"))
