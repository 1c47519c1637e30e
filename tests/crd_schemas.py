"""Validators for the upstream CRDs in tests/schemas/ (PrometheusRule, ServiceMonitor,
AlertmanagerConfig, Argo CD Application and ApplicationSet); versions in tests/schemas/README.md.

The CRDs carry OpenAPI v3 schemas with Go regexes; they are used with a Draft 4 validator
directly, without checking them against a metaschema (which they would not pass)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator

SCHEMAS = Path(__file__).resolve().parent / "schemas"

CRD_FILES = {
    ("monitoring.coreos.com", "PrometheusRule"): "crd-prometheusrules.yaml",
    ("monitoring.coreos.com", "ServiceMonitor"): "crd-servicemonitors.yaml",
    ("monitoring.coreos.com", "AlertmanagerConfig"): "crd-alertmanagerconfigs.yaml",
    ("argoproj.io", "Application"): "crd-argocd-application.yaml",
    ("argoproj.io", "ApplicationSet"): "crd-argocd-applicationset.yaml",
}


@functools.lru_cache(maxsize=None)
def validator(api_version: str, kind: str) -> Draft4Validator:
    group, _, version = api_version.partition("/")
    crd = yaml.safe_load((SCHEMAS / CRD_FILES[(group, kind)]).read_text())
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            return Draft4Validator(entry["schema"]["openAPIV3Schema"])
    raise KeyError(f"{kind} {api_version}: version not in the CRD")


def errors(document: dict[str, Any]) -> list[str]:
    """Every schema violation of a custom resource, as 'path: message'."""
    found = validator(document["apiVersion"], document["kind"]).iter_errors(document)
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in found)


def is_custom_resource(document: dict[str, Any]) -> bool:
    group = document.get("apiVersion", "").partition("/")[0]
    return (group, document.get("kind")) in CRD_FILES
