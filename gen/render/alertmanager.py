"""Routing and inhibition of the Triton alerts, per environment, as a prometheus-operator
AlertmanagerConfig (monitoring.coreos.com/v1alpha1):

  out/<env>/alertmanagerconfig-triton.yaml

It lives in the environment's Triton namespace, because the operator scopes an
AlertmanagerConfig to its own namespace: it adds `namespace="<its namespace>"` to the route and to
both sides of every inhibition, and the alerts carry Triton's namespace. The Alertmanager must
select it (`alertmanagerConfigSelector` on the `release` label, `alertmanagerConfigNamespaceSelector`
allowing the Triton namespace).

- route: the environment's alerts (label `environment`), grouped by alert, cluster, namespace and
  model; `critical` to the receiver the settings name for it, `warning` likewise; `info` stays
  with the default (the info receiver, usually without an integration: dropped).
- inhibition: every model alert while no Triton target of the namespace is up (TritonTargetAbsent
  explains them all), the missing-replicas alert likewise; every warning while a critical alert
  fires for the same object (model, or pod and container): one incident, one notification.

`alertmanager_yaml` turns the resource into the equivalent plain Alertmanager configuration, the
way the operator merges it (receiver names `<namespace>/<name>/<receiver>`, namespace matchers),
for `amtool check-config` and for a real Alertmanager in the tests.
"""

from __future__ import annotations

from typing import Any, Mapping

from gen.errors import UserError
from gen.outdir import Artifact, env_file_owner
from gen.render import k8s
from gen.settings import Environment, Settings

NAME = "triton"
TARGET_ABSENT = "TritonTargetAbsent"
# Alerts about pods and replicas have no `model`; this one is explained by the absent target too.
EXPLAINED_BY_ABSENT = "TritonReplicasMissing"
# Labels that make two alerts "the same object" for the warning-under-critical inhibition; a label
# absent from both sides counts as equal. Not the alert's name: one backend outage fires the fast
# burn (critical) and the error-ratio, latency, queue-time and backlog tickets of the same model,
# and the page alone says it all. A model's alerts and a pod's (no model) stay apart.
SAME_OBJECT = ["namespace", "model", "pod", "container"]
# Beside kube-prometheus-stack's rules (kubernetes_mixin_alerts), a Triton pod that is not Ready
# also fires theirs after 15 minutes: TritonReplicasMissing says which models lost capacity, and
# holds back these two (of Triton's Deployment and its pods only).
REPLICAS_MISSING = "TritonReplicasMissing"
UPSTREAM_EXPLAINED_BY_REPLICAS = ("KubeDeploymentReplicasMismatch", "KubePodNotReady")


def _matcher(name: str, value: str, match_type: str = "=") -> dict[str, str]:
    return {"name": name, "value": value, "matchType": match_type}


def _receiver(receiver) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": receiver.name}
    if receiver.webhook_url_secret:
        secret = dict(receiver.webhook_url_secret)
        entry["webhookConfigs"] = [{"urlSecret": {"name": secret["name"], "key": secret["key"]}, "sendResolved": True}]
    elif receiver.webhook_url:
        entry["webhookConfigs"] = [{"url": receiver.webhook_url, "sendResolved": True}]
    return entry


def _receivers(env: Environment) -> list[dict[str, Any]]:
    """One entry per receiver name; two severities may share a receiver, not its name with two
    different integrations."""
    by_name: dict[str, dict[str, Any]] = {}
    for severity, receiver in env.alertmanager.receivers.items():
        entry = _receiver(receiver)
        other = by_name.setdefault(receiver.name, entry)
        if other != entry:
            raise UserError(
                f"environments.yaml: environments.{env.name}.alertmanager.receivers.{severity}.name: "
                f"'{receiver.name}' is used by another severity with a different integration"
            )
    return list(by_name.values())


def alertmanager_config(env: Environment) -> dict[str, Any]:
    cluster = [env.cluster_label] if env.cluster_label else []
    receivers = env.alertmanager.receivers
    scope = ["environment", *cluster, "namespace"]
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        # Selected by the same `release` label as the rules; in the Triton namespace (see above).
        "metadata": k8s.selected_by_prometheus(f"{NAME}-{env.name}", env.namespace, env.prometheus_release, env.name),
        "spec": {
            "route": {
                "receiver": receivers["info"].name,
                "matchers": [_matcher("environment", env.name)],
                "groupBy": ["alertname", *cluster, "namespace", "model"],
                "groupWait": env.alertmanager.group_wait,
                "groupInterval": env.alertmanager.group_interval,
                "repeatInterval": env.alertmanager.repeat_interval,
                "routes": [
                    {"receiver": receivers[severity].name, "matchers": [_matcher("severity", severity)]}
                    for severity in ("critical", "warning")
                ],
            },
            "receivers": _receivers(env),
            "inhibitRules": [
                {
                    "sourceMatch": [_matcher("alertname", TARGET_ABSENT), _matcher("environment", env.name)],
                    "targetMatch": [_matcher("model", ".+", "=~"), _matcher("environment", env.name)],
                    "equal": list(scope),
                },
                {
                    "sourceMatch": [_matcher("alertname", TARGET_ABSENT), _matcher("environment", env.name)],
                    "targetMatch": [_matcher("alertname", EXPLAINED_BY_ABSENT), _matcher("environment", env.name)],
                    "equal": list(scope),
                },
                {
                    "sourceMatch": [_matcher("severity", "critical"), _matcher("environment", env.name)],
                    "targetMatch": [_matcher("severity", "warning"), _matcher("environment", env.name)],
                    "equal": ["environment", *cluster, *SAME_OBJECT],
                },
                *(_upstream_inhibitions(env) if env.kubernetes_mixin_alerts else []),
            ],
        },
    }


def _upstream_inhibitions(env: Environment) -> list[dict[str, Any]]:
    """kube-prometheus-stack's alerts carry no `environment`: matched by Triton's Deployment
    (and its pods' names) in the namespace the operator scopes this object to."""
    cluster = [env.cluster_label] if env.cluster_label else []
    source = [_matcher("alertname", REPLICAS_MISSING), _matcher("environment", env.name)]
    mismatch, not_ready = UPSTREAM_EXPLAINED_BY_REPLICAS
    return [
        {"sourceMatch": source,
         "targetMatch": [_matcher("alertname", mismatch), _matcher("deployment", env.triton.deployment)],
         "equal": [*cluster, "namespace"]},
        {"sourceMatch": source,
         "targetMatch": [_matcher("alertname", not_ready), _matcher("pod", f"{env.triton.deployment}-.+", "=~")],
         "equal": [*cluster, "namespace"]},
    ]


def path(env: Environment) -> str:
    return f"{env.name}/alertmanagerconfig-{NAME}.yaml"


def render_all(settings: Settings, envs: list[Environment]) -> list[Artifact]:
    return [Artifact(path(env), k8s.manifest(alertmanager_config(env)).encode("utf-8")) for env in envs]


owns = env_file_owner("alertmanagerconfig-")


# -- the equivalent Alertmanager configuration ---------------------------------------------------

def _matchers(items: list[Mapping[str, str]]) -> list[str]:
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return [f"{m['name']}{m.get('matchType', '=')}{quoted(m['value'])}" for m in items]


def alertmanager_yaml(document: Mapping[str, Any], urls: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The plain Alertmanager configuration the operator builds from one AlertmanagerConfig: its
    route below a catch-all root, scoped to its namespace, receivers named
    `<namespace>/<name>/<receiver>`. A webhook URL kept in a Secret is taken from `urls`
    (receiver name -> URL), else a placeholder that `amtool check-config` accepts."""
    meta, spec = document["metadata"], document["spec"]
    prefix = f"{meta['namespace']}/{meta['name']}/"
    scope = {"name": "namespace", "value": meta["namespace"], "matchType": "="}
    urls = urls or {}

    def route(entry: Mapping[str, Any], top: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"receiver": prefix + entry["receiver"]}
        matchers = ([scope] if top else []) + list(entry.get("matchers", []))
        if matchers:
            out["matchers"] = _matchers(matchers)
        for key, name in (("groupBy", "group_by"), ("groupWait", "group_wait"),
                          ("groupInterval", "group_interval"), ("repeatInterval", "repeat_interval")):
            if key in entry:
                out[name] = entry[key]
        if entry.get("routes"):
            out["routes"] = [route(child, False) for child in entry["routes"]]
        if top:
            out["continue"] = True
        return out

    receivers: list[dict[str, Any]] = [{"name": "null"}]
    for receiver in spec["receivers"]:
        entry: dict[str, Any] = {"name": prefix + receiver["name"]}
        hooks = []
        for hook in receiver.get("webhookConfigs", []):
            url = hook.get("url") or urls.get(receiver["name"])
            if not url:
                secret = hook["urlSecret"]
                url = f"https://{secret['name']}.secret.invalid/{secret['key']}"
            hooks.append({"url": url, "send_resolved": bool(hook.get("sendResolved", True))})
        if hooks:
            entry["webhook_configs"] = hooks
        receivers.append(entry)

    inhibit = [
        {
            "source_matchers": _matchers([scope, *rule["sourceMatch"]]),
            "target_matchers": _matchers([scope, *rule["targetMatch"]]),
            "equal": list(rule.get("equal", [])),
        }
        for rule in spec.get("inhibitRules", [])
    ]
    return {
        "route": {"receiver": "null", "routes": [route(spec["route"], True)]},
        "receivers": receivers,
        "inhibit_rules": inhibit,
    }
