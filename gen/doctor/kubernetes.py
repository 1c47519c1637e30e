"""Step 1, Kubernetes (kubectl and a context, or offline with --prometheus-cr FILE):
Triton's pods run and are ready; the Service exposes the metrics port the ServiceMonitor names;
the Prometheus custom resource selects the generated ServiceMonitor and PrometheusRule (the
label that is missing, named); the dashboard ConfigMap carries the label the Grafana sidecar
watches."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from gen.doctor.context import Context
from gen.doctor.result import StepResult, failed, one_line, passed, skipped, warned
from gen.doctor.selectors import describe, mismatches
from gen.errors import UserError

PROMETHEUS_RESOURCE = "prometheuses.monitoring.coreos.com"
GRAFANA_SELECTOR = "app.kubernetes.io/name=grafana"


class KubectlError(Exception):
    pass


class Kubectl:
    """`kubectl get ... -o json` through the binary on PATH: whatever kubeconfig, exec plugin or
    proxy the user has set up works as it does for them."""

    def __init__(self, binary: str, context: str, timeout: float):
        self.binary, self.context, self.timeout = binary, context, timeout

    def get(self, *args: str) -> dict[str, Any]:
        argv = [self.binary, "--context", self.context, "get", *args, "-o", "json"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=max(self.timeout, 10))
        except subprocess.TimeoutExpired:
            raise KubectlError(f"kubectl get {' '.join(args)} timed out") from None
        except OSError as exc:
            raise KubectlError(f"kubectl: {exc.strerror}") from None
        if done.returncode != 0:
            message = next((line for line in done.stderr.splitlines() if line.strip()), f"exit {done.returncode}")
            raise KubectlError(one_line(message.removeprefix("Error from server ")))
        try:
            return json.loads(done.stdout)
        except ValueError:
            raise KubectlError(f"kubectl get {' '.join(args)}: the answer is not JSON") from None

    def find(self, *args: str) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        try:
            return self.get(*args)
        except KubectlError as exc:
            if "NotFound" in str(exc) or "not found" in str(exc):
                return None
            raise


def discover(context: str | None, timeout: float) -> tuple[Kubectl | None, str]:
    """kubectl and the context to use, or None and why not."""
    binary = shutil.which("kubectl")
    if binary is None:
        return None, "kubectl is not on PATH"
    if context:
        return Kubectl(binary, context, timeout), f"context {context}"
    try:
        done = subprocess.run([binary, "config", "current-context"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None, "kubectl config current-context failed"
    current = done.stdout.strip()
    if done.returncode != 0 or not current:
        return None, "kubectl has no current context (pass --kube-context CTX)"
    return Kubectl(binary, current, timeout), f"context {current}"


# -- the generated objects -------------------------------------------------------------------------

def generated(ctx: Context, prefix: str) -> list[dict[str, Any]]:
    """The objects out/<env>/<prefix>*.yaml holds (what Argo CD deploys)."""
    import yaml

    found = []
    for path in sorted((ctx.out_dir / ctx.env.name).glob(f"{prefix}*.yaml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise UserError(f"out/{ctx.env.name}/{path.name}: not YAML: {one_line(exc)}") from None
        if isinstance(document, dict):
            found.append(document)
    return found


def _meta(obj: dict) -> tuple[str, str, dict[str, str]]:
    meta = obj.get("metadata") or {}
    return meta.get("name", "?"), meta.get("namespace", ""), dict(meta.get("labels") or {})


# -- the Prometheus custom resource ----------------------------------------------------------------

def load_prometheus_cr(path: Path) -> list[dict[str, Any]]:
    """Prometheus objects saved with `kubectl get prometheus -o yaml|json` (one, a List, or several
    YAML documents). Bad input is a UserError naming the file."""
    import yaml

    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise UserError(f"{path}: --prometheus-cr file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read --prometheus-cr: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: not YAML or JSON: {getattr(exc, 'problem', None) or exc}") from None
    objects = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List":
            objects.extend(i for i in document.get("items") or [] if isinstance(i, dict))
        elif isinstance(document, dict):
            objects.append(document)
    prometheuses = [o for o in objects if o.get("kind") == "Prometheus"]
    if not prometheuses:
        kinds = sorted({str(o.get("kind")) for o in objects}) or ["nothing"]
        raise UserError(f"{path}: kind: expected a Prometheus object (kubectl get prometheus NAME -o yaml), "
                        f"found {', '.join(kinds)}")
    for obj in prometheuses:
        if not isinstance(obj.get("spec"), dict):
            raise UserError(f"{path}: Prometheus {(obj.get('metadata') or {}).get('name', '?')}: spec: missing")
    return prometheuses


def _pick_prometheus(ctx: Context, items: list[dict]) -> tuple[dict | None, str]:
    """The environment's Prometheus: labelled with its release, else in its monitoring namespace,
    else the only one."""
    release = ctx.env.prometheus_release
    for rule, why in (
        (lambda o: _meta(o)[2].get("release") == release, f"labelled release={release}"),
        (lambda o: _meta(o)[1] == ctx.env.monitoring_namespace, f"in {ctx.env.monitoring_namespace}"),
    ):
        matching = [o for o in items if rule(o)]
        if len(matching) == 1:
            return matching[0], why
    if len(items) == 1:
        return items[0], "the only one"
    return None, ""


def _namespace_labels(ctx: Context, namespace: str) -> tuple[dict[str, str], bool]:
    """A namespace's labels, from the cluster; offline, only the label Kubernetes sets on every
    namespace (kubernetes.io/metadata.name). The flag says whether they are the real ones."""
    if ctx.kubectl is not None:
        obj = ctx.kubectl.find("namespace", namespace)
        if obj is not None:
            return dict((obj.get("metadata") or {}).get("labels") or {}), True
    return {"kubernetes.io/metadata.name": namespace}, False


def _selects(ctx: Context, prom: dict, kind: str, obj: dict, selector_key: str, ns_key: str) -> StepResult:
    spec = prom.get("spec") or {}
    prom_name, prom_ns, _ = _meta(prom)
    name, namespace, labels = _meta(obj)
    what = f"{kind} {namespace}/{name}"
    where = f"Prometheus {prom_ns}/{prom_name}"
    selector = spec.get(selector_key)
    if selector is None:
        return failed(what, f"{where} has no {selector_key}: it selects no {kind} at all",
                      f"set {selector_key} to match release={ctx.env.prometheus_release} (kube-prometheus-stack: "
                      f"prometheus.prometheusSpec.{selector_key})")
    wrong = mismatches(selector, labels)
    if wrong:
        return failed(what, f"not selected by {where}: {selector_key} wants {describe(selector)}; {'; '.join(wrong)}",
                      f"set prometheus_release in environments.yaml to the release the Prometheus selects, then "
                      f"gen build (the {kind} carries release={labels.get('release', '?')} today)")
    ns_selector = spec.get(ns_key)
    if ns_selector is None:
        if namespace != prom_ns:
            return failed(what, f"in namespace {namespace}, but {where} has no {ns_key} and so looks in {prom_ns} only",
                          f"set monitoring_namespace: {prom_ns} in environments.yaml, or give the Prometheus a "
                          f"{ns_key}")
    else:
        ns_labels, real = _namespace_labels(ctx, namespace)
        ns_wrong = mismatches(ns_selector, ns_labels)
        if ns_wrong:
            assumed = "" if real else " (offline: only the namespace's kubernetes.io/metadata.name label is known)"
            return failed(what, f"namespace {namespace} is not selected by {ns_key} {describe(ns_selector)}: "
                                f"{'; '.join(ns_wrong)}{assumed}",
                          f"label the namespace {namespace} to match, or widen {ns_key}")
    return passed(what, f"selected by {where} ({selector_key} {describe(selector)})")


def check_prometheus_selectors(ctx: Context) -> list[StepResult]:
    if ctx.options.prometheus_cr is not None:
        items, source = load_prometheus_cr(ctx.options.prometheus_cr), str(ctx.options.prometheus_cr)
    else:
        try:
            items, source = ctx.kubectl.get(PROMETHEUS_RESOURCE, "--all-namespaces").get("items") or [], "the cluster"
        except KubectlError as exc:
            return [failed("Prometheus resource", f"kubectl: {exc}",
                           "is prometheus-operator installed (the Prometheus CRD), and may you list it?")]
    prom, why = _pick_prometheus(ctx, items)
    if prom is None:
        names = ", ".join("/".join(reversed(_meta(o)[:2])) for o in items) or "none"
        return [failed("Prometheus resource", f"no Prometheus for release {ctx.env.prometheus_release} in {source} "
                                              f"(found: {names})",
                       "install kube-prometheus-stack for the environment, or set prometheus_release in "
                       "environments.yaml to its release name")]
    results = []
    for kind, prefix, selector_key, ns_key, resource in (
        ("ServiceMonitor", "servicemonitor-", "serviceMonitorSelector", "serviceMonitorNamespaceSelector",
         "servicemonitors.monitoring.coreos.com"),
        ("PrometheusRule", "prometheusrule-", "ruleSelector", "ruleNamespaceSelector",
         "prometheusrules.monitoring.coreos.com"),
    ):
        for obj in generated(ctx, prefix):
            if ctx.kubectl is not None and ctx.options.prometheus_cr is None:
                name, namespace, _ = _meta(obj)
                try:
                    deployed = ctx.kubectl.find(resource, name, "-n", namespace)
                except KubectlError as exc:
                    results.append(failed(f"{kind} {namespace}/{name}", f"kubectl: {exc}"))
                    continue
                if deployed is None:
                    results.append(failed(f"{kind} {namespace}/{name}", "not in the cluster",
                                          f"sync out/{ctx.env.name}/ (Argo CD), or kubectl apply -k out/{ctx.env.name}"))
                    continue
                obj = deployed
            results.append(_selects(ctx, prom, kind, obj, selector_key, ns_key))
    prom_name, prom_ns, _ = _meta(prom)
    return [passed("Prometheus resource", f"{prom_ns}/{prom_name} from {source} ({why})")] + results


# -- pods, Service, ConfigMap (cluster only) ------------------------------------------------------

def check_namespace(ctx: Context) -> list[StepResult]:
    """The cluster answers and the environment's namespace exists: without it nothing else can be
    told apart (and every later kubectl call would wait for the same timeout)."""
    try:
        found = ctx.kubectl.find("namespace", ctx.ns)
    except KubectlError as exc:
        return [failed("namespace", f"kubectl (context {ctx.kubectl.context}): {exc}",
                       "is the context right (--kube-context), the cluster reachable, and may you read namespaces?")]
    if found is None:
        return [failed("namespace", f"namespace {ctx.ns} does not exist in context {ctx.kubectl.context}",
                       "is this the environment's cluster? The namespace comes from environments.yaml")]
    return [passed("namespace", f"{ctx.ns} exists (context {ctx.kubectl.context})")]


def _services(ctx: Context) -> list[dict]:
    selector = ",".join(f"{k}={v}" for k, v in ctx.env.triton.service_labels.items())
    return ctx.kubectl.get("services", "-n", ctx.ns, "-l", selector).get("items") or []


def check_pods(ctx: Context) -> list[StepResult]:
    labels = ",".join(f"{k}={v}" for k, v in ctx.env.triton.service_labels.items())
    try:
        services = _services(ctx)
        if not services:
            return [failed("Triton Service", f"no Service labelled {labels} in {ctx.ns}",
                           "the ServiceMonitor selects Triton's Service by these labels (triton.service_labels in "
                           "environments.yaml)")]
        pods: dict[str, dict] = {}
        for service in services:
            selector = (service.get("spec") or {}).get("selector") or {}
            if not selector:
                continue
            query = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
            for pod in ctx.kubectl.get("pods", "-n", ctx.ns, "-l", query).get("items") or []:
                pods[_meta(pod)[0]] = pod
    except KubectlError as exc:
        return [failed("Triton pods", f"kubectl: {exc}")]
    ctx.facts.pods = sorted(pods)
    if not pods:
        return [failed("Triton pods", f"the Service selects no pod in {ctx.ns}",
                       "is the Deployment scaled to 0, or do the Service's selector and the pod labels differ?")]
    results = []
    for name, pod in sorted(pods.items()):
        status = pod.get("status") or {}
        phase = status.get("phase", "?")
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        containers = status.get("containerStatuses") or []
        restarts = sum(int(c.get("restartCount") or 0) for c in containers)
        last = next(((c.get("lastState") or {}).get("terminated") or {} for c in containers
                     if (c.get("lastState") or {}).get("terminated")), {})
        waiting = next(((c.get("state") or {}).get("waiting") or {} for c in containers
                        if (c.get("state") or {}).get("waiting")), {})
        restart_note = f", {restarts} restarts" + (f" (last: {last.get('reason')})" if last.get("reason") else "")
        obj = f"pod {name}"
        if phase != "Running" or not ready:
            why = f" ({waiting.get('reason')})" if waiting.get("reason") else ""
            results.append(failed(obj, f"{phase}{why}, {'ready' if ready else 'not ready'}{restart_note}",
                                  f"kubectl -n {ctx.ns} describe pod {name}; kubectl -n {ctx.ns} logs {name}"))
        elif restarts:
            results.append(warned(obj, f"Running and Ready{restart_note}",
                                  f"kubectl -n {ctx.ns} logs {name} --previous"))
        else:
            results.append(passed(obj, "Running and Ready, 0 restarts"))
    return results


def check_service_port(ctx: Context) -> list[StepResult]:
    port_name = ctx.env.triton.metrics_port
    try:
        services = _services(ctx)
    except KubectlError as exc:
        return [failed("Triton Service", f"kubectl: {exc}")]
    if not services:
        return [skipped("Triton Service", "no Service (see the pods check)")]
    results = []
    for service in services:
        name = _meta(service)[0]
        ports = (service.get("spec") or {}).get("ports") or []
        match = next((p for p in ports if p.get("name") == port_name), None)
        if match is None:
            names = ", ".join(str(p.get("name") or p.get("port")) for p in ports) or "none"
            results.append(failed(f"Service {name}", f"has ports {names}, none named '{port_name}', which the "
                                                     "ServiceMonitor's endpoint names",
                                  f"name the metrics port (8002) '{port_name}' in the Service, or set "
                                  "triton.metrics_port in environments.yaml to its name"))
        else:
            results.append(passed(f"Service {name}", f"exposes '{port_name}' (port {match.get('port')} -> "
                                                     f"{match.get('targetPort', match.get('port'))})"))
    return results


def _sidecar(ctx: Context) -> tuple[dict[str, str], str] | None:
    """The dashboard sidecar's settings (LABEL, LABEL_VALUE, NAMESPACE) and its Deployment's namespace."""
    for deployment in ctx.kubectl.get("deployments", "--all-namespaces", "-l", GRAFANA_SELECTOR).get("items") or []:
        containers = ((((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")
                      or [])
        candidates = []
        for container in containers:
            env = {e.get("name"): e.get("value") for e in container.get("env") or [] if "value" in e}
            if "LABEL" in env:
                candidates.append((("dashboard" not in container.get("name", "")), env))
        if candidates:
            return sorted(candidates, key=lambda c: c[0])[0][1], _meta(deployment)[1]
    return None


def check_dashboard_configmap(ctx: Context) -> list[StepResult]:
    configmaps = generated(ctx, "dashboard-")
    if not configmaps:
        return [skipped("dashboard ConfigMap", f"out/{ctx.env.name}/ holds none")]
    try:
        sidecar = _sidecar(ctx)
    except KubectlError as exc:
        return [failed("Grafana sidecar", f"kubectl: {exc}")]
    results = []
    for generated_cm in configmaps:
        name, namespace, _ = _meta(generated_cm)
        obj = f"ConfigMap {namespace}/{name}"
        try:
            deployed = ctx.kubectl.find("configmap", name, "-n", namespace)
        except KubectlError as exc:
            results.append(failed(obj, f"kubectl: {exc}"))
            continue
        if deployed is None:
            results.append(failed(obj, "not in the cluster",
                                  f"sync out/{ctx.env.name}/ (Argo CD), or kubectl apply -k out/{ctx.env.name}"))
            continue
        labels = _meta(deployed)[2]
        if sidecar is None:
            results.append(warned(obj, f"in the cluster; no Grafana Deployment ({GRAFANA_SELECTOR}) with a dashboard "
                                       "sidecar found to compare its label with",
                                  "the kube-prometheus-stack sidecar watches grafana_dashboard=1 by default"))
            continue
        env, grafana_ns = sidecar
        label, value = env.get("LABEL"), env.get("LABEL_VALUE")
        watched = env.get("NAMESPACE") or grafana_ns
        namespaces = [n.strip() for n in watched.split(",")]
        if label not in labels or (value and labels[label] != value):
            want = f"{label}={value}" if value else label
            have = f"{label}={labels[label]}" if label in labels else "no such label"
            results.append(failed(obj, f"the Grafana sidecar watches {want}; the ConfigMap has {have}",
                                  "set grafana.sidecar.dashboards.label/labelValue in the chart to match, or change "
                                  "the label in gen/render/dashboards.py (SIDECAR_LABEL)"))
        elif "ALL" not in namespaces and namespace not in namespaces:
            results.append(failed(obj, f"the Grafana sidecar watches namespaces {', '.join(namespaces)}, not {namespace}",
                                  f"add {namespace} to grafana.sidecar.dashboards.searchNamespace"))
        else:
            results.append(passed(obj, f"carries {label}={labels[label]}, which the Grafana sidecar watches"))
    return results
