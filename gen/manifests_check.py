"""Checks of the Kubernetes manifests in out/, as the API server and Argo CD would see them.

Each check takes the parsed manifests and returns Findings (gen/findings.py):
  size        ConfigMaps within Kubernetes' 1 MiB limit, and a warning above 256 KiB, where
              client-side apply's last-applied annotation no longer fits (server-side apply needed)
  names       metadata names and label keys/values valid for Kubernetes
  collisions  no two objects with one kind/namespace/name in one cluster (environments that
              share an Argo CD destination server share a cluster)
  schema      core kinds (ConfigMap) against Kubernetes' own schemas (kubernetes-validate, offline)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from gen.errors import UserError
from gen.findings import ERROR, INFO, WARNING, Finding
from gen.settings import Settings

CONFIGMAP_LIMIT = 1024 * 1024  # bytes; the API server refuses larger ConfigMaps
LAST_APPLIED_LIMIT = 256 * 1024  # bytes; total annotation size, which client-side apply fills
KUBERNETES_VERSION = "1.30"  # the schemas core kinds are checked against

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CORE_KINDS = {("v1", "ConfigMap")}


@dataclass(frozen=True)
class Manifest:
    path: str  # relative to out/
    document: dict[str, Any]
    size: int  # bytes of the file

    @property
    def env(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def what(self) -> str:
        meta = self.document.get("metadata") or {}
        return f"out/{self.path}: {self.document.get('kind', '?')} {meta.get('name', '?')}"


def load(out_dir: Path, files: Iterable[str] | None = None, contents: dict[str, bytes] | None = None) -> list[Manifest]:
    """The Kubernetes objects under out/<env>/ and out/argocd/ (not the Grafana JSON, not the
    kustomization, which is kustomize's input rather than an object)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if contents is None:
        contents = {p.relative_to(out_dir).as_posix(): p.read_bytes() for p in sorted(out_dir.rglob("*.yaml"))}
    manifests = []
    for rel, data in sorted(contents.items()):
        if not rel.endswith(".yaml") or rel.startswith("grafana/") or rel.endswith("/kustomization.yaml"):
            continue
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        try:
            documents = list(yaml.load_all(data, Loader=loader))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            raise UserError(f"out/{rel}: not YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
        for document in documents:
            if isinstance(document, dict):
                manifests.append(Manifest(rel, document, len(data)))
    return manifests


def _kib(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size < CONFIGMAP_LIMIT else f"{size / CONFIGMAP_LIMIT:.2f} MiB"


def size_findings(files: Iterable[tuple[str, int]]) -> list[Finding]:
    """(path relative to out/, bytes) of dashboard ConfigMaps; sizes only, so generation can run it
    on every file without parsing. The file is the ConfigMap as applied, so its size bounds both
    the object and its last-applied annotation."""
    findings = []
    for path, size in files:
        name = path.rsplit("/", 1)[-1]
        if not (name.startswith("dashboard-") and name.endswith(".yaml")):
            continue
        env = path.split("/", 1)[0]
        what = f"out/{path}: dashboard '{name[len('dashboard-'):-len('.yaml')]}' (environment '{env}')"
        if size > CONFIGMAP_LIMIT:
            findings.append(Finding(
                ERROR, what,
                f"its ConfigMap is {_kib(size)}, over Kubernetes' 1 MiB limit for a ConfigMap",
                hint="split the dashboard into smaller ones (fewer panels or rows)",
                check="manifest-size",
            ))
        elif size > LAST_APPLIED_LIMIT:
            findings.append(Finding(
                WARNING, what,
                f"its ConfigMap is {_kib(size)}, over the 256 KiB that client-side apply can record in its "
                "last-applied annotation: apply it server-side",
                hint="the Argo CD Applications set ServerSideApply=true; by hand use kubectl apply --server-side",
                check="manifest-size",
            ))
    return findings


def check_size(manifests: list[Manifest], settings: Settings | None = None) -> list[Finding]:
    return size_findings(sorted({(m.path, m.size) for m in manifests if m.document.get("kind") == "ConfigMap"}))


def check_names(manifests: list[Manifest], settings: Settings | None = None) -> list[Finding]:
    findings = []
    for manifest in manifests:
        meta = manifest.document.get("metadata") or {}
        name = meta.get("name")
        if not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
            findings.append(Finding(ERROR, manifest.what, f"metadata.name {name!r} is not a valid Kubernetes name "
                                    "(lower-case letters, digits, '-' and '.', at most 253)", check="manifest-names"))
        namespace = meta.get("namespace")
        if namespace is not None and (len(namespace) > 63 or not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", namespace)):
            findings.append(Finding(ERROR, manifest.what, f"metadata.namespace {namespace!r} is not a valid namespace",
                                    check="manifest-names"))
        for key, value in (meta.get("labels") or {}).items():
            prefix, _, label = key.rpartition("/")
            if (prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix))) or len(label) > 63 or not LABEL_NAME.match(label):
                findings.append(Finding(ERROR, manifest.what, f"label key {key!r} is not valid", check="manifest-names"))
            if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
                findings.append(Finding(ERROR, manifest.what, f"label {key}: value {value!r} is not valid",
                                        check="manifest-names"))
    return findings


def check_collisions(manifests: list[Manifest], settings: Settings | None = None) -> list[Finding]:
    """Objects of environments synced to one cluster share its namespaces: the same kind, namespace
    and name twice means two Argo CD Applications fight over one object."""
    # Where each environment's objects land: (server, namespace Argo CD's kustomize sets, or None
    # for the manifest's own), once per cluster the environment lists.
    targets: dict[str, list[tuple[str, str | None]]] = {}
    if settings is not None:
        for name, env in settings.environments.items():
            targets[name] = ([(c.destination_server, c.monitoring_namespace) for c in env.clusters]
                             or [(env.argocd.destination_server, None)])
    seen: dict[tuple, Manifest] = {}
    findings = []
    for manifest in manifests:
        doc = manifest.document
        meta = doc.get("metadata") or {}
        group = str(doc.get("apiVersion", "")).rpartition("/")[0]
        where = [("argocd", None)] if manifest.env == "argocd" else targets.get(manifest.env, [(manifest.env, None)])
        for cluster, namespace in where:
            key = (cluster, group, doc.get("kind"), namespace or meta.get("namespace"), meta.get("name"))
            other = seen.setdefault(key, manifest)
            if other is not manifest:
                findings.append(Finding(
                    ERROR, manifest.what,
                    f"collides with out/{other.path} (same kind, namespace and name in one cluster)",
                    hint="give each environment's objects distinct names",
                    check="manifest-collision",
                ))
                break
    return findings


def check_schema(manifests: list[Manifest], settings: Settings | None = None) -> list[Finding]:
    try:
        import kubernetes_validate
    except ImportError:
        return [Finding(INFO, "out/", "kubernetes-validate is not installed: core kinds not checked against "
                        "Kubernetes' schemas", hint="pip install kubernetes-validate", check="manifest-schema")]
    findings = []
    for manifest in manifests:
        doc = manifest.document
        if (doc.get("apiVersion"), doc.get("kind")) not in CORE_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(top)"
            findings.append(Finding(ERROR, manifest.what, f"{path}: {exc.message}", check="manifest-schema"))
    return findings


CHECKS: dict[str, Callable[[list[Manifest], Settings | None], list[Finding]]] = {
    "manifest-size": check_size,
    "manifest-names": check_names,
    "manifest-collision": check_collisions,
    "manifest-schema": check_schema,
}


def run(manifests: list[Manifest], settings: Settings | None = None, checks: Iterable[str] | None = None) -> list[Finding]:
    findings = []
    for name in checks or CHECKS:
        findings.extend(CHECKS[name](manifests, settings))
    return findings
