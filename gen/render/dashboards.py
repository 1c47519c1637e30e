"""Build every dashboard for the chosen environments and render them into out/.

For each environment and dashboard:
  out/grafana/<env>/<uid>.json   the dashboard JSON, for import by hand or through the API
  out/<env>/dashboard-<name>.yaml a ConfigMap the Grafana sidecar of kube-prometheus-stack reads
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from orjson import OPT_APPEND_NEWLINE, OPT_INDENT_2, OPT_SORT_KEYS
from orjson import dumps as orjson_dumps

from gen import definitions
from gen.render import forked, k8s
from gen.errors import UserError
from gen.promql import label_values
from gen.render.grafana_json import NotAJSONNumber, iter_panels, normalise
from gen.outdir import Artifact
from gen.settings import Environment, Settings

PACKAGE = "dashboards"
FUNCTION = "dashboard"
MAX_UID_LENGTH = 40  # Grafana rejects longer uids
# Panels that show no query's data (validate's panel-no-targets knows them too).
PANELS_WITHOUT_QUERIES = ("row", "text", "news", "dashlist", "alertlist", "annolist")
UID_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
SIDECAR_LABEL = {"grafana_dashboard": "1"}
_ORJSON_OPTIONS = OPT_INDENT_2 | OPT_SORT_KEYS | OPT_APPEND_NEWLINE


@dataclass(frozen=True)
class BuiltDashboard:
    env: Environment
    name: str  # the definition's module name
    source: str  # the definition file, relative to the project root
    model: dict[str, Any]  # the normalised dashboard JSON, exactly as written to out/

    @property
    def uid(self) -> str:
        return self.model["uid"]

    @property
    def title(self) -> str:
        return self.model["title"]

    @property
    def json_path(self) -> str:
        return f"grafana/{self.env.name}/{self.uid}.json"

    @property
    def configmap_path(self) -> str:
        return f"{self.env.name}/dashboard-{self.name}.yaml"


def _check(built: BuiltDashboard) -> None:
    where = f"{built.source}: dashboard() for environment '{built.env.name}'"
    uid = built.model.get("uid")
    if not uid or not isinstance(uid, str):
        raise UserError(f"{where}: uid: missing")
    if len(uid) > MAX_UID_LENGTH:
        raise UserError(f"{where}: uid: '{uid}' has {len(uid)} characters, Grafana allows {MAX_UID_LENGTH}")
    if not UID_PATTERN.match(uid):
        raise UserError(f"{where}: uid: '{uid}' may only contain letters, digits, '-' and '_'")
    if not built.model.get("title"):
        raise UserError(f"{where}: title: missing")
    ids: set[int] = set()
    for panel in iter_panels(built.model):
        title = panel.get("title") or f"#{panel.get('id')}"
        if panel.get("id") in ids:
            raise UserError(f"{where}: panel '{title}': id {panel.get('id')} is used twice")
        ids.add(panel.get("id"))
        if panel.get("type") in PANELS_WITHOUT_QUERIES:
            continue
        targets = panel.get("targets") or []
        if not targets:
            raise UserError(f"{where}: panel '{title}': targets: the panel has no query")
        for target in targets:
            if not str(target.get("expr", "")).strip():
                raise UserError(f"{where}: panel '{title}': target {target.get('refId', '?')}: expr is empty")
            _check_parses(target["expr"], f"{where}: panel '{title}': target {target.get('refId', '?')}: expr")
    for variable in (built.model.get("templating") or {}).get("list") or []:
        if variable.get("type") == "query":
            query = variable.get("query")
            query = query.get("query", "") if isinstance(query, dict) else str(query or "")
            selector, _ = label_values(query)
            if selector.strip():
                _check_parses(selector, f"{where}: variable '{variable.get('name', '?')}': query")


# Queries already known to parse, as written and after substitution. Every environment builds the
# same panels and its namespace is a variable, so 200 environments hold about 60 distinct queries,
# not 12,000 (the substitution alone cost more than the rest of the checks).
_PARSED_AS_WRITTEN: set[str] = set()
_PARSED: set[str] = set()


def _check_parses(expr: str, where: str) -> None:
    """A query must parse once Grafana's variables and macros are substituted, exactly as
    `gen validate` checks it: a broken query is refused at build time, not shipped."""
    text = str(expr)
    if text in _PARSED_AS_WRITTEN:
        return
    from gen.promql import parse, substitute

    query = substitute(text)
    if query not in _PARSED:
        try:
            parse(query)
        except ValueError as exc:
            raise UserError(f"{where}: does not parse as PromQL: {' '.join(str(exc).split())}") from None
        _PARSED.add(query)
    _PARSED_AS_WRITTEN.add(text)


def _check_unique(dashboards: list[BuiltDashboard] | list[RenderedDashboard]) -> None:
    uids: dict[str, BuiltDashboard] = {}
    titles: dict[tuple[str, str], BuiltDashboard] = {}
    for built in dashboards:
        other = uids.setdefault(built.uid, built)
        if other is not built:
            raise UserError(
                f"{built.source}: dashboard() for environment '{built.env.name}': uid: '{built.uid}' is also "
                f"used by {other.source} for environment '{other.env.name}'"
            )
        # Grafana refuses two dashboards with one title in one folder (412 name-exists).
        key = (built.env.grafana.folder_uid, built.title)
        other = titles.setdefault(key, built)
        if other is not built:
            raise UserError(
                f"{built.source}: dashboard() for environment '{built.env.name}': title: '{built.title}' "
                f"is also used by {other.source} in folder '{built.env.grafana.folder_uid}'"
            )


def build_dashboards(settings: Settings, envs: list[Environment] | list[str] | None = None) -> list[BuiltDashboard]:
    """Every dashboard definition, for each environment, normalised and checked."""
    if envs is None:
        envs = list(settings.environments.values())
    envs = [settings.environments[e] if isinstance(e, str) else e for e in envs]
    defs = definitions.load(settings.root, PACKAGE, FUNCTION)
    built = [_build(definition, env) for env in envs for definition in defs]
    _check_unique(built)
    return built


def _build(definition: definitions.Definition, env: Environment) -> BuiltDashboard:
    result = definitions.call(definition, FUNCTION, env, context=f"environment '{env.name}'")
    try:
        model = normalise(result)
    except NotAJSONNumber as exc:
        raise UserError(f"{definition.relpath}: dashboard() for environment '{env.name}': {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a definition returned something unusable
        raise UserError(
            f"{definition.relpath}: dashboard() for environment '{env.name}' returned "
            f"{type(result).__name__}, not a dashboard: {exc}"
        ) from None
    item = BuiltDashboard(env=env, name=definition.name, source=definition.relpath, model=model)
    _check(item)
    return item


def dashboard_json(model: dict[str, Any]) -> str:
    """The dashboard as written to out/: sorted keys, two-space indent, unicode kept, so two runs
    give the same bytes and diffs show real changes only.

    The layout is json.dumps(indent=2, sort_keys=True, ensure_ascii=False)'s, byte for byte, but
    written by orjson: json's C encoder is not used when `indent` is set, and the pure-Python one
    costs about 40 times as much. The two differ only on what orjson refuses, so those models
    take the slow path: integers beyond 64 bits, keys that are not strings, and floats that
    repr() writes with an exponent (below 1e-4, from 1e16 up), which normalise() marks as
    grafana_json.ReprFloat; it refuses NaN and infinities, which orjson would write as null."""
    return dashboard_json_bytes(model).decode("utf-8")


def dashboard_json_bytes(model: dict[str, Any]) -> bytes:
    """dashboard_json(model), UTF-8 encoded: what orjson gives, with no round trip through str."""
    try:
        return orjson_dumps(model, option=_ORJSON_OPTIONS)
    except TypeError:
        import json  # the exact, slow path: only for what orjson refuses

        return (json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def configmap_name(built: BuiltDashboard) -> str:
    return f"grafana-dashboard-{built.uid}".lower().replace("_", "-")


@dataclass(frozen=True)
class RenderedDashboard:
    """A built dashboard as files: what a render worker sends back (no model: pickling 1,500
    nodes would cost more than building them)."""

    env: Environment | None  # None on its way back from a worker, which sends its index instead
    source: str
    uid: str
    title: str
    json_path: str
    configmap_path: str
    data: bytes
    configmap: bytes


def render(built: list[BuiltDashboard]) -> list[RenderedDashboard]:
    rendered = []
    for item in built:
        data = dashboard_json_bytes(item.model)
        env = item.env
        meta = k8s.metadata(
            configmap_name(item),
            env.monitoring_namespace,
            {**SIDECAR_LABEL, "triton-obs/environment": env.name},
            # The sidecar puts the file in this folder when folderAnnotation is set to this key.
            {env.grafana.folder_annotation: env.grafana.folder_title},
        )
        configmap = k8s.configmap(meta, {f"{item.uid}.json": data})
        rendered.append(RenderedDashboard(env, item.source, item.uid, item.title, item.json_path,
                                          item.configmap_path, data, configmap))
    return rendered


def render_all(settings: Settings, envs: list[Environment]) -> list[Artifact]:
    """Every dashboard of every environment as files; a fleet's environments are rendered on
    all cores (gen.render.forked)."""
    defs = definitions.load(settings.root, PACKAGE, FUNCTION)
    indexed = list(enumerate(envs))

    def render_chunk(chunk: list[tuple[int, Environment]]) -> list[tuple[int, RenderedDashboard]]:
        # An environment travels back as its index: the parent's own object, not a pickled copy.
        return [(index, replace(dashboard, env=None)) for index, env in chunk
                for dashboard in render([_build(definition, env) for definition in defs])]

    rendered = [replace(dashboard, env=envs[index])
                for index, dashboard in forked.map_chunks(render_chunk, indexed)]
    _check_unique(rendered)
    artifacts = []
    for dashboard in rendered:
        artifacts.append(Artifact(dashboard.json_path, dashboard.data))
        artifacts.append(Artifact(dashboard.configmap_path, dashboard.configmap))
    return artifacts


def owns(relpath: str, env_names: set[str] | None) -> bool:
    """The files `gen dashboards` manages (and may prune), for the given environments or all."""
    parts = relpath.split("/")
    if len(parts) == 3 and parts[0] == "grafana" and parts[2].endswith(".json"):
        return env_names is None or parts[1] in env_names
    if len(parts) == 2 and parts[1].startswith("dashboard-") and parts[1].endswith(".yaml"):
        return env_names is None or parts[0] in env_names
    return False
