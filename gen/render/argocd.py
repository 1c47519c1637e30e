"""Argo CD objects that sync out/<env> into each environment's cluster.

  out/argocd/applications/<env>.yaml     one Application per environment
  out/argocd/applicationset.yaml         the same as one ApplicationSet over a list of clusters,
                                         for teams that run many; use one or the other

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


def application(source: ArgoSource, env: Environment) -> dict[str, Any]:
    meta = k8s.metadata(f"{APP_PREFIX}-{env.name}", source.namespace, {"triton-obs/environment": env.name})
    meta["finalizers"] = [FINALIZER]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": meta,
        "spec": {
            "project": source.project,
            "source": {
                "repoURL": source.repo_url,
                "targetRevision": source.target_revision,
                "path": f"{source.path}/{env.name}",
            },
            "destination": {"server": env.argocd.destination_server, "namespace": env.monitoring_namespace},
            "syncPolicy": _sync_policy(),
        },
    }


def application_set(source: ArgoSource, envs: list[Environment]) -> dict[str, Any]:
    elements = [
        {
            "env": env.name,
            "server": env.argocd.destination_server,
            "namespace": env.monitoring_namespace,
            "path": f"{source.path}/{env.name}",
        }
        for env in envs
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
                    "name": APP_PREFIX + "-{{.env}}",
                    "labels": {**k8s.MANAGED_BY, "triton-obs/environment": "{{.env}}"},
                    "finalizers": [FINALIZER],
                },
                "spec": {
                    "project": source.project,
                    "source": {
                        "repoURL": source.repo_url,
                        "targetRevision": source.target_revision,
                        "path": "{{.path}}",
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
        Artifact(f"argocd/applications/{env.name}.yaml", k8s.manifest(application(source, env)).encode("utf-8"))
        for env in envs
    ]
    # The ApplicationSet lists every environment, whichever --env was asked for.
    everything = list(settings.environments.values())
    artifacts.append(
        Artifact("argocd/applicationset.yaml", k8s.manifest(application_set(source, everything)).encode("utf-8"))
    )
    return artifacts


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
