"""Load environments.yaml into one typed, immutable object that every definition receives."""

from __future__ import annotations

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


@dataclass(frozen=True)
class TritonTarget:
    """How Triton's Service looks, so the ServiceMonitor can select it."""

    service_labels: Mapping[str, str]
    metrics_port: str
    metrics_path: str
    # The `job` label the ServiceMonitor gives Triton's targets; rules select targets by it.
    job: str


@dataclass(frozen=True)
class GrafanaFolder:
    folder_uid: str
    folder_title: str
    # The ConfigMap annotation the dashboard sidecar reads the folder from.
    folder_annotation: str


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
    # The label that tells clusters apart in a global view (Thanos, Mimir, VictoriaMetrics), set by
    # each cluster's Prometheus as an external label; None: one cluster, no such label.
    cluster_label: str | None = None
    # The clusters the environment runs in; empty: the one at argocd.destination_server.
    clusters: tuple[Cluster, ...] = ()

    @property
    def cluster_names(self) -> list[str]:
        return [cluster.name for cluster in self.clusters]


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
            known = ", ".join(self.environments)
            raise UserError(f"{self.path.name}: unknown environment '{env}' (known: {known}, all)")
        return [self.environments[env]]


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


def _describe(error) -> str:
    """jsonschema's message, shortened: the full instance can be a whole mapping."""
    if error.validator == "required":
        return error.message
    if error.validator == "additionalProperties":
        return error.message.replace(" were unexpected", " are not allowed").replace(
            " was unexpected", " is not allowed"
        )
    if error.validator in ("type", "enum", "pattern", "minLength", "maxLength", "exclusiveMinimum", "minimum"):
        value = error.instance
        shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        if error.validator == "type":
            return f"{shown} is not of type {error.validator_value!r}"
        if error.validator == "enum":
            return f"{shown} is not one of {error.validator_value}"
        if error.validator == "pattern":
            return f"{shown} does not match {error.validator_value!r}"
        return f"{shown}: {error.message.split(' is ', 1)[-1] if ' is ' in error.message else error.message}"
    return error.message


def _validate(validator, instance: Any, file: str, prefix: str) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UserError(f"{file}: {_key_path(prefix, first.absolute_path)}: {_describe(first)}{more}")


def _from_mapping(name: str, data: Mapping[str, Any]) -> Environment:
    thresholds = {
        alert: AlertSetting(for_=spec["for"], severity=spec["severity"], threshold=spec.get("threshold"))
        for alert, spec in sorted(data["thresholds"].items())
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
        ),
        grafana=GrafanaFolder(**data["grafana"]),
        argocd=ArgoDestination(**data["argocd"]),
        thresholds=MappingProxyType(thresholds),
        runbooks_url=data["runbooks_url"],
        cluster_label=data.get("cluster_label"),
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
    from jsonschema import Draft202012Validator

    from gen import settings_schema

    file = path.name
    _validate(Draft202012Validator(settings_schema.DOCUMENT), document, file, "")
    defaults = document.get("defaults") or {}
    environments: dict[str, Environment] = {}
    # One validator for every environment: a fleet of 200 clusters is 200 validations.
    validator = Draft202012Validator(settings_schema.ENVIRONMENT)
    for name, raw in document["environments"].items():
        merged = deep_merge(defaults, raw)
        _validate(validator, merged, file, f"environments.{name}")
        environments[name] = _from_mapping(name, merged)

    _check_unique(environments, file)
    argocd = ArgoSource(**document["argocd"]) if document.get("argocd") else None
    return Settings(path=path, environments=MappingProxyType(environments), argocd=argocd, raw=document)


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


def load_settings(path: str | Path = DEFAULT_SETTINGS_FILE) -> Settings:
    import yaml

    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: settings file not found (pass --settings FILE)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read settings: {exc}") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster
    try:
        document = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{path.name}{where}: invalid YAML: {problem}") from None
    if not isinstance(document, dict):
        raise UserError(f"{path.name}: (top level): expected a mapping with an 'environments' key")
    return parse_settings(document, path)
