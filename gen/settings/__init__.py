"""Load environments.yaml into one typed, immutable object that every definition receives."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from gen.errors import UserError

DEFAULT_SETTINGS_FILE = "environments.yaml"


@dataclass(frozen=True)
class AlertSetting:
    """How one alert behaves in one environment."""

    for_: str
    severity: str
    threshold: float | None = None
    min_failures: int | None = None  # error_ratio, no_successful_inference, slo_page, slo_ticket
    min_history: float | None = None  # slo_page only: the part of a long window that must hold data
    scale_up_grace: str | None = None  # replicas_missing only: no alert this long after spec.replicas changed


@dataclass(frozen=True)
class TritonTarget:
    """How Triton's Service looks, so the ServiceMonitor can select it."""

    service_labels: Mapping[str, str]
    metrics_port: str
    metrics_path: str
    # The `job` label the ServiceMonitor gives Triton's targets; rules select targets by it.
    job: str
    deployment: str = "triton"  # the Deployment kube-state-metrics reports replicas for
    expected_replicas: int | None = None  # None: the Deployment's spec.replicas
    summary_latencies: bool = False  # latency objectives read the summary's quantile


@dataclass(frozen=True)
class ParentFolder:
    uid: str
    title: str


@dataclass(frozen=True)
class GrafanaFolder:
    folder_uid: str
    folder_title: str
    # The ConfigMap annotation the dashboard sidecar reads the folder from.
    folder_annotation: str
    # Folders above folder_uid, outermost first (nested folders, e.g. Triton/prod).
    parent_folders: tuple[ParentFolder, ...] = ()
    # Whether people may save UI edits of the dashboards `gen push` owns.
    allow_ui_edits: bool = False


@dataclass(frozen=True)
class ArgoDestination:
    destination_server: str


@dataclass(frozen=True)
class Cluster:
    """One Kubernetes cluster an environment runs in: Argo CD deploys the environment's out/ there,
    and its Prometheus labels every series with `cluster_label: name` (external_labels)."""

    name: str
    destination_server: str
    # Where they differ from the environment's: the namespace of the monitoring stack and the
    # `release` label its Prometheus selects rules and monitors by.
    monitoring_namespace: str
    prometheus_release: str


@dataclass(frozen=True)
class ModelSettings:
    """What one model overrides, and what only the user knows about it."""

    availability: float | None = None
    request_latency_us: float | None = None
    max_queue_size: int | None = None


@dataclass(frozen=True)
class SLO:
    window: str  # the error budget's period
    availability: float  # fraction of requests that succeed, for every model without an override


@dataclass(frozen=True)
class Receiver:
    name: str
    webhook_url: str | None = None
    webhook_url_secret: Mapping[str, str] | None = None  # {name, key} of a Secret holding the URL


@dataclass(frozen=True)
class AlertmanagerSettings:
    receivers: Mapping[str, Receiver]  # severity -> receiver
    group_wait: str
    group_interval: str
    repeat_interval: str


@dataclass(frozen=True)
class Environment:
    name: str
    namespace: str  # where Triton runs
    monitoring_namespace: str  # where the monitoring stack and our manifests live
    prometheus_release: str  # the `release` label that Prometheus selects rules and monitors by
    scrape_interval: str
    triton: TritonTarget
    grafana: GrafanaFolder
    argocd: ArgoDestination
    thresholds: Mapping[str, AlertSetting]
    # docs/runbooks.md as on-call people open it; alerts link to its sections.
    runbooks_url: str
    slo: SLO = SLO(window="30d", availability=0.999)
    alertmanager: AlertmanagerSettings | None = None
    models: Mapping[str, ModelSettings] = field(default_factory=lambda: MappingProxyType({}))
    max_severity: str = "critical"  # every alert's severity is capped to this
    # The label telling clusters apart on a Prometheus holding a fleet; rules aggregate by it.
    cluster_label: str | None = None
    # The clusters the environment runs in; empty: the one at argocd.destination_server.
    clusters: tuple[Cluster, ...] = ()
    # kube-prometheus-stack's own Kubernetes alerts run beside ours: leave out what they say.
    kubernetes_mixin_alerts: bool = True
    # The file of queue caps gen doctor writes and gen build reads (beside the settings).
    queue_caps_file: str | None = None
    # Where the models' queue caps came from, when a caps file gave any (shown by validate).
    queue_caps_source: str | None = None

    @property
    def cluster_names(self) -> list[str]:
        return [cluster.name for cluster in self.clusters]

    def severity(self, wanted: str) -> str:
        """`wanted`, lowered to max_severity: dev's alerts do not page."""
        order = ["info", "warning", "critical"]
        return order[min(order.index(wanted), order.index(self.max_severity))]

    def model(self, name: str) -> ModelSettings:
        return self.models.get(name, ModelSettings())


@dataclass(frozen=True)
class ArgoSource:
    repo_url: str
    target_revision: str
    project: str = "default"
    namespace: str = "argocd"  # where Argo CD (and so its Applications) runs
    path: str = "out"  # out/ as a path inside the repository


@dataclass(frozen=True)
class Settings:
    path: Path
    environments: Mapping[str, Environment]
    argocd: ArgoSource | None = None
    default_env: str | None = None  # what `gen push` writes without --env
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def root(self) -> Path:
        """The project directory: definitions and out/ live beside the settings file."""
        return self.path.parent

    def select(self, env: str | None) -> list[Environment]:
        """The environments a command works on: one by name, or all of them (None or "all")."""
        if env is None or env == "all":
            return list(self.environments.values())
        if env not in self.environments:
            raise UserError(f"{self.path.name}: unknown environment '{env}' ({_known(env, list(self.environments))})")
        return [self.environments[env]]


# Names listed in full in an "unknown environment" error; a fleet's are cut after these.
KNOWN_LISTED = 8


def _known(wanted: str, names: list[str]) -> str:
    """The environments to tell someone who asked for `wanted`: the closest name, then the list
    (a fleet's cut short: 200 names make a line nobody reads)."""
    import difflib

    close = difflib.get_close_matches(wanted, names, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    shown = names if len(names) <= KNOWN_LISTED else [*names[:KNOWN_LISTED], f"... {len(names) - KNOWN_LISTED} more"]
    return f"{hint}known: {', '.join(shown)}, all"


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` wins; nested mappings are merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _key_path(prefix: str, parts) -> str:
    path = prefix
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path.lstrip(".") or "(top level)"


def _shown(value: Any) -> str:
    return repr(value) if not isinstance(value, (dict, list)) else type(value).__name__


def _describe(error) -> str:
    """jsonschema's finding in words: never a raw regular expression or a schema fragment, and
    never the whole instance (it can be a large mapping)."""
    from gen.settings.schema import PATTERN_WORDS

    value, rule, limit = error.instance, error.validator, error.validator_value
    shown = _shown(value)
    if rule == "required":
        return error.message
    if rule == "additionalProperties":
        import difflib

        known = list(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(known)) if isinstance(value, dict) else []

        close = {name: difflib.get_close_matches(str(name), known, n=1, cutoff=0.75) for name in extra}
        hints = [(name, found[0]) for name, found in close.items() if found]
        names = ", ".join(repr(name) for name in extra)
        if len(hints) == 1 and len(extra) == 1:
            hint = f" (did you mean {hints[0][1]!r}?)"
        else:
            hint = (" (did you mean " + ", ".join(f"{right!r} for {wrong!r}" for wrong, right in hints) + "?)") if hints else ""
        return f"{names} {'is' if len(extra) == 1 else 'are'} not allowed{hint}" if extra else "unexpected keys"

    if rule == "type":
        if isinstance(value, float) and not math.isfinite(value):
            return f"{shown} is not a finite number"
        wanted = " or ".join(limit) if isinstance(limit, list) else limit
        return f"{shown} is not of type {wanted!r}"
    if rule == "enum":
        return f"{shown} is not one of {', '.join(map(str, limit))}"
    if rule == "pattern":
        return f"{shown} {PATTERN_WORDS.get(limit, 'is not in the expected form')}"
    if rule == "not" and isinstance(limit, dict) and "enum" in limit:
        return f"{shown} is a reserved name"
    if rule == "not" and isinstance(limit, dict) and "required" in limit:
        # Keys that exclude each other (a merged `defaults` can bring the other one in).
        return f"give only one of {', '.join(map(repr, limit['required']))}, not both"
    if rule in ("minLength", "maxLength"):
        return f"{shown} {'must have at least' if rule == 'minLength' else 'may have at most'} {limit} characters"
    if rule in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {"minimum": "at least", "exclusiveMinimum": "greater than", "maximum": "at most",
                 "exclusiveMaximum": "less than"}[rule]
        return f"{shown} must be {words} {limit:g}"
    if rule in ("minProperties", "minItems"):
        return f"needs at least {limit} {'entry' if limit == 1 else 'entries'}"
    if rule in ("oneOf", "anyOf", "allOf", "not", "if", "then", "else", "dependentRequired", "const"):
        return f"{shown} is not an allowed combination here (see the comments in environments.yaml)"
    return error.message


# Problems named in one error, at most: a settings file with more has a bigger problem.
MAX_PROBLEMS = 12


def _problems(validator, instance: Any, prefix: str) -> list[str]:
    """Every problem jsonschema finds, in words, each once, ordered by where it is."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    found: list[str] = []
    for error in errors:
        # A key itself is wrong (an environment name): say so.
        key = "key " if "propertyNames" in error.schema_path else ""
        item = f"{_key_path(prefix, error.absolute_path)}: {key}{_describe(error)}"
        if item not in found:
            found.append(item)
    return found


def _raise(file: str, problems: list[str]) -> None:
    """One line naming every problem: a new environment's missing keys and typos in one run."""
    if not problems:
        return
    shown = problems[:MAX_PROBLEMS]
    more = f" (and {len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
    raise UserError(f"{file}: " + "; ".join(shown) + more)


def _validate(validator, instance: Any, file: str, prefix: str) -> None:
    _raise(file, _problems(validator, instance, prefix))


def _finite_number(checker, value: Any) -> bool:
    """JSON Schema's number, without NaN and the infinities, which YAML allows (.nan, .inf) and
    neither Grafana's JSON nor a Prometheus comparison can use."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _validator_class():
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine("number", _finite_number)
    return validators.extend(Draft202012Validator, type_checker=checker)


def _from_mapping(name: str, data: Mapping[str, Any]) -> Environment:
    thresholds = {
        alert: AlertSetting(
            for_=spec["for"], severity=spec["severity"], threshold=spec.get("threshold"),
            min_failures=spec.get("min_failures"), min_history=spec.get("min_history"),
            scale_up_grace=spec.get("scale_up_grace"),
        )
        for alert, spec in sorted(data["thresholds"].items())
    }
    alerting = data["alertmanager"]
    receivers = {
        severity: Receiver(
            name=spec["name"], webhook_url=spec.get("webhook_url"),
            webhook_url_secret=MappingProxyType(dict(spec["webhook_url_secret"]))
            if spec.get("webhook_url_secret") else None,
        )
        for severity, spec in alerting["receivers"].items()
    }
    return Environment(
        name=name,
        namespace=data["namespace"],
        monitoring_namespace=data["monitoring_namespace"],
        prometheus_release=data["prometheus_release"],
        scrape_interval=data["scrape_interval"],
        triton=TritonTarget(
            service_labels=MappingProxyType(dict(sorted(data["triton"]["service_labels"].items()))),
            metrics_port=data["triton"]["metrics_port"],
            metrics_path=data["triton"]["metrics_path"],
            job=data["triton"]["job"],
            deployment=data["triton"].get("deployment", "triton"),
            expected_replicas=data["triton"].get("expected_replicas"),
            summary_latencies=data["triton"].get("summary_latencies", False),
        ),
        grafana=GrafanaFolder(**{
            **data["grafana"],
            "parent_folders": tuple(ParentFolder(**p) for p in data["grafana"].get("parent_folders") or ()),
        }),
        argocd=ArgoDestination(**data["argocd"]),
        thresholds=MappingProxyType(thresholds),
        runbooks_url=data["runbooks_url"],
        slo=SLO(window=data["slo"]["window"], availability=data["slo"]["availability"]),
        alertmanager=AlertmanagerSettings(
            receivers=MappingProxyType(receivers), group_wait=alerting["group_wait"],
            group_interval=alerting["group_interval"], repeat_interval=alerting["repeat_interval"],
        ),
        models=MappingProxyType({
            model: ModelSettings(**spec) for model, spec in sorted((data.get("models") or {}).items())
        }),
        max_severity=data.get("max_severity", "critical"),
        cluster_label=data.get("cluster_label"),
        kubernetes_mixin_alerts=data.get("kubernetes_mixin_alerts", True),
        queue_caps_file=data.get("queue_caps_file"),
        clusters=tuple(
            Cluster(
                name=cluster["name"],
                destination_server=cluster["destination_server"],
                monitoring_namespace=cluster.get("monitoring_namespace", data["monitoring_namespace"]),
                prometheus_release=cluster.get("prometheus_release", data["prometheus_release"]),
            )
            for cluster in data.get("clusters") or ()
        ),
    )


def parse_settings(document: Any, path: Path) -> Settings:
    """Validate a parsed settings document and build the typed object."""
    from gen.settings import queue_caps
    from gen.settings import schema as settings_schema
    from gen.settings.schema_check import Checker

    file = path.name
    checker = Checker()
    validators: dict[str, Any] = {}

    def problems(schema: dict, instance: Any, prefix: str) -> list[str]:
        """Every problem, in words: gen.schema_check tells a valid document apart fast,
        jsonschema finds the errors and says what they are (and decides when the checker is
        unsure)."""
        if _plainly_valid(checker, schema, instance):
            return []
        if id(schema) not in validators:
            validators[id(schema)] = _validator_class()(schema)
        return _problems(validators[id(schema)], instance, prefix)

    def validate(schema: dict, instance: Any, prefix: str) -> None:
        _raise(file, problems(schema, instance, prefix))

    validate(settings_schema.DOCUMENT, document, "")
    defaults = document.get("defaults") or {}
    environments: dict[str, Environment] = {}
    # Each environment is checked as merged with `defaults` (two keys that exclude each other can
    # come one from each). For a fleet of 200 the checker sees the parts taken from `defaults`
    # unchanged once.
    caps_files: dict[str, dict[str, dict[str, int]]] = {}
    found: list[str] = []
    merged_all = {}
    for name, raw in document["environments"].items():
        merged_all[name] = deep_merge(defaults, raw)
        found += problems(settings_schema.ENVIRONMENT, merged_all[name], f"environments.{name}")
    _raise(file, found)  # every environment's problems at once
    for name, merged in merged_all.items():
        environments[name] = _from_mapping(name, merged)
        if merged.get("queue_caps_file"):
            caps_file = merged["queue_caps_file"]
            if caps_file not in caps_files:
                caps_files[caps_file] = queue_caps.read(path.parent / caps_file)
            environments[name] = queue_caps.apply(environments[name], caps_files[caps_file].get(name, {}), caps_file)

    _check_unique(environments, file)
    argocd = ArgoSource(**document["argocd"]) if document.get("argocd") else None
    default_env = document.get("default_env")
    if default_env is not None and default_env != "all" and default_env not in environments:
        raise UserError(f"{file}: default_env: unknown environment '{default_env}' "
                        f"({_known(default_env, list(environments))})")
    return Settings(path=path, environments=MappingProxyType(environments), argocd=argocd,
                    default_env=default_env, raw=document)


def _plainly_valid(checker, schema: dict, instance: Any) -> bool:
    from gen.settings.schema_check import Unsure

    try:
        return checker.check(schema, instance)
    except Unsure:
        return False


def _check_unique(environments: Mapping[str, Environment], file: str) -> None:
    """Two environments sharing a folder uid would overwrite each other's dashboards in Grafana;
    two clusters of one environment with one name would be one Argo CD Application."""
    seen: dict[str, str] = {}
    for env in environments.values():
        names = env.cluster_names
        for index, name in enumerate(names):
            if name in names[:index]:
                raise UserError(f"{file}: environments.{env.name}.clusters[{index}].name: '{name}' is listed twice")
        other = seen.setdefault(env.grafana.folder_uid, env.name)
        if other != env.name:
            raise UserError(
                f"{file}: environments.{env.name}.grafana.folder_uid: '{env.grafana.folder_uid}' "
                f"is already used by environment '{other}'"
            )
    # A parent folder is one folder for every environment that names it: one title, and never an
    # environment's own folder (gen push would nest a folder in itself).
    titles: dict[str, tuple[str, str]] = {}
    for env in environments.values():
        for i, parent in enumerate(env.grafana.parent_folders):
            where = f"{file}: environments.{env.name}.grafana.parent_folders[{i}].uid: '{parent.uid}'"
            if parent.uid in seen:
                raise UserError(f"{where} is the folder of environment '{seen[parent.uid]}'")
            title, other = titles.setdefault(parent.uid, (parent.title, env.name))
            if title != parent.title:
                raise UserError(f"{where} has title '{parent.title}' here and '{title}' in environment '{other}'")


def discover(path: str | Path, start: Path | None = None) -> Path:
    """A bare file name (the default, environments.yaml) is looked for in the working directory,
    then in each folder above it, as git looks for .git: a command run in dashboards/ finds the
    project. The search ends at the top of a git repository. Any other path is taken as given."""
    path = Path(path)
    if path.is_absolute() or len(path.parts) != 1:
        return path.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / path).is_file():
            return folder / path
        if (folder / ".git").exists():
            break
    return (here / path).resolve()


def load_settings(path: str | Path = DEFAULT_SETTINGS_FILE) -> Settings:
    import yaml

    bare = len(Path(path).parts) == 1 and not Path(path).is_absolute()
    path = discover(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = " or in any folder above it" if bare else ""
        raise UserError(f"{path}: settings file not found{where} (pass --settings FILE)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read settings: {exc}") from None
    try:
        document = yaml.load(text, Loader=unique_key_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{path.name}{where}: invalid YAML: {problem}") from None
    except DuplicateKey as exc:
        raise UserError(f"{path.name}:{exc.line}: {exc}") from None
    if not isinstance(document, dict):
        raise UserError(f"{path.name}: (top level): expected a mapping with an 'environments' key")
    return parse_settings(document, path)


class DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first_line: int):
        super().__init__(f"duplicate key {key!r} (first at line {first_line}); YAML would silently keep the last")
        self.line = line


_LOADER = None


def unique_key_loader():
    """A safe YAML loader (libyaml when present: 10x faster) that refuses a key given twice in one
    mapping, at any level: PyYAML would silently keep the last one."""
    global _LOADER
    if _LOADER is None:
        import yaml

        class UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            def construct_mapping(self, node, deep=False):
                seen: dict[Any, int] = {}
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=True)
                    line = key_node.start_mark.line + 1
                    try:
                        if key in seen:
                            raise DuplicateKey(key, line, seen[key])
                        seen[key] = line
                    except TypeError:  # an unhashable key: the base class reports it
                        continue
                return super().construct_mapping(node, deep)

        _LOADER = UniqueKeyLoader
    return _LOADER


def with_queue_caps(settings: Settings, path: Path) -> Settings:
    """The settings with the caps of `path` (`--queue-caps FILE`) instead of each environment's
    queue_caps_file; caps written under `models:` still win."""
    import dataclasses

    from gen.settings import queue_caps

    if not path.is_file():
        raise UserError(f"{path}: --queue-caps file not found")
    caps = queue_caps.read(path)
    environments = {}
    for name, env in settings.environments.items():
        original = _from_mapping(name, deep_merge(settings.raw.get("defaults") or {}, settings.raw["environments"][name]))
        environments[name] = queue_caps.apply(original, caps.get(name, {}), str(path))
    return dataclasses.replace(settings, environments=MappingProxyType(environments))
