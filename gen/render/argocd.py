"""Argo CD objects that sync out/<env> into each cluster of each environment.

  out/argocd/applications/<env>.yaml     the environment's Applications: one, or one per cluster
                                         the environment lists (several YAML documents)
  out/argocd/applicationset.yaml         the same as one ApplicationSet whose list generator has an
                                         element per environment and cluster, for teams that run
                                         many; use one or the other

Per-cluster values that may differ from the environment's (the monitoring namespace, the
Prometheus `release` label) are set with Argo CD's kustomize options on the one out/<env>
directory, so every cluster gets the same manifests with its own values.

Automated sync prunes what gen no longer renders and reverts drift (self-heal). Server-side
apply, because a dashboard ConfigMap can pass the 256 KiB limit of the last-applied annotation
that client-side apply writes.
"""

from __future__ import annotations

from typing import Any

from gen.render import k8s
from gen.outdir import Artifact
from gen.settings import ArgoSource, Environment, Settings

APP_PREFIX = "triton-obs"
SYNC_OPTIONS = ["ServerSideApply=true", "PruneLast=true"]
# Deleting the Application deletes what it synced; without it the manifests would be orphaned.
FINALIZER = "resources-finalizer.argocd.argoproj.io"


def _sync_policy() -> dict[str, Any]:
    return {"automated": {"prune": True, "selfHeal": True}, "syncOptions": list(SYNC_OPTIONS)}


def _kustomize(namespace: str, release: str) -> dict[str, Any]:
    """Argo CD's kustomize options for one cluster: its monitoring namespace, and the `release`
    label its Prometheus selects PrometheusRules and ServiceMonitors by."""
    patch = f"- op: replace\n  path: /metadata/labels/release\n  value: {release}\n"
    return {
        "namespace": namespace,
        "patches": [
            {"target": {"group": "monitoring.coreos.com", "kind": kind}, "patch": patch}
            for kind in ("PrometheusRule", "ServiceMonitor")
        ],
    }


def targets(env: Environment) -> list[dict[str, str]]:
    """Where the environment is deployed: one entry per cluster, or the environment's server."""
    if not env.clusters:
        return [{"env": env.name, "cluster": "", "name": f"{APP_PREFIX}-{env.name}",
                 "server": env.argocd.destination_server, "namespace": env.monitoring_namespace,
                 "release": env.prometheus_release}]
    return [{"env": env.name, "cluster": c.name, "name": f"{APP_PREFIX}-{env.name}-{c.name}",
             "server": c.destination_server, "namespace": c.monitoring_namespace,
             "release": c.prometheus_release} for c in env.clusters]


def application(source: ArgoSource, env: Environment, target: dict[str, str] | None = None) -> dict[str, Any]:
    target = target or targets(env)[0]
    labels = {"triton-obs/environment": env.name}
    if target["cluster"]:
        labels["triton-obs/cluster"] = target["cluster"]
    meta = k8s.metadata(target["name"], source.namespace, labels)
    meta["finalizers"] = [FINALIZER]
    spec_source: dict[str, Any] = {
        "repoURL": source.repo_url,
        "targetRevision": source.target_revision,
        "path": f"{source.path}/{env.name}",
    }
    if (target["namespace"], target["release"]) != (env.monitoring_namespace, env.prometheus_release):
        spec_source["kustomize"] = _kustomize(target["namespace"], target["release"])
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": meta,
        "spec": {
            "project": source.project,
            "source": spec_source,
            "destination": {"server": target["server"], "namespace": target["namespace"]},
            "syncPolicy": _sync_policy(),
        },
    }


def application_set(source: ArgoSource, envs: list[Environment]) -> dict[str, Any]:
    elements = [
        {**target, "path": f"{source.path}/{env.name}"}
        for env in envs
        for target in targets(env)
    ]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": k8s.metadata(APP_PREFIX, source.namespace, {}),
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"list": {"elements": elements}}],
            "template": {
                "metadata": {
                    "name": "{{.name}}",
                    "labels": {**k8s.MANAGED_BY, "triton-obs/environment": "{{.env}}",
                               "triton-obs/cluster": "{{.cluster}}"},
                    "finalizers": [FINALIZER],
                },
                "spec": {
                    "project": source.project,
                    "source": {
                        "repoURL": source.repo_url,
                        "targetRevision": source.target_revision,
                        "path": "{{.path}}",
                        # The environment's values unless the cluster has its own (settings).
                        "kustomize": _kustomize("{{.namespace}}", "{{.release}}"),
                    },
                    "destination": {"server": "{{.server}}", "namespace": "{{.namespace}}"},
                    "syncPolicy": _sync_policy(),
                },
            },
        },
    }


def render_all(settings: Settings, envs: list[Environment]) -> list[Artifact]:
    if settings.argocd is None:
        return []
    source = settings.argocd
    artifacts = [
        Artifact(f"argocd/applications/{env.name}.yaml", _documents(
            [application(source, env, target) for target in targets(env)]).encode("utf-8"))
        for env in envs
    ]
    # The ApplicationSet lists every environment, whichever --env was asked for.
    everything = list(settings.environments.values())
    artifacts.append(
        Artifact("argocd/applicationset.yaml", k8s.manifest(application_set(source, everything)).encode("utf-8"))
    )
    return artifacts


def _documents(documents: list[dict[str, Any]]) -> str:
    return k8s.HEADER + "---\n".join(k8s.dump_yaml(document) for document in documents)


def owns(relpath: str, env_names: set[str] | None) -> bool:
    parts = relpath.split("/")
    if parts[0] != "argocd":
        return False
    if len(parts) == 2:
        return parts[1] == "applicationset.yaml"
    return (
        len(parts) == 3
        and parts[1] == "applications"
        and parts[2].endswith(".yaml")
        and (env_names is None or parts[2][: -len(".yaml")] in env_names)
    )
