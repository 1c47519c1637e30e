"""Checks against a live Prometheus-compatible API, for one environment's namespace.

Order matters: targets and metadata first (their results explain later empty answers), then
every metric and label the queries need, then variables, panels and rules, run concurrently.
Each check returns Findings; the hint of an empty result names the likely cause.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

from gen.findings import ERROR, INFO, WARNING, Finding
from gen.promql import parse, substitute
from gen.settings import Environment
from gen.validate import promql_ast
from gen.validate.client import PrometheusClient, QueryError
from gen.validate.inventory import Inventory, Query

# Series Triton exposes only with optional flags or hardware: absence is information.
OPTIONAL_METRICS = re.compile(
    r"^nv_(gpu_|energy_|cache_|inference_\w+_summary_us|inference_first_response_histogram|"
    r"pinned_memory_|inference_load_ratio)"
)
# Series of other exporters that kube-prometheus-stack runs (kube-state-metrics, cAdvisor): the pod
# and replica alerts and the dashboard's Pods row read them. Absent (a Prometheus without
# kube-prometheus-stack's exporters): those are blind, the rest works.
KUBERNETES_METRICS = re.compile(r"^(kube_|container_)")
# Series whose absence is normal: ALERTS exists only while an alert is pending or firing, and
# kube-state-metrics writes a container's last termination reason only once one has terminated.
ABSENCE_NORMAL = {"ALERTS", "ALERTS_FOR_STATE", "kube_pod_container_status_last_terminated_reason"}
PANEL_WINDOW_S = 15 * 60  # a panel "returns data" when its range query over this window has points
DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration):
        total += int(number) * DURATION_UNITS[unit]
    return total


@dataclass
class Context:
    env: Environment
    client: PrometheusClient
    inventory: Inventory
    concurrency: int = 8
    progress: Callable[[int, int], None] | None = None
    scrape_s: float = 0.0
    metric_types: dict[str, str] = field(default_factory=dict)
    present: dict[str, bool] = field(default_factory=dict)  # metric -> has series in the namespace
    queries_run: int = 0
    clusters: list[str] = field(default_factory=list)  # values of the cluster label with Triton targets
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _memo: dict = field(default_factory=dict)

    def count(self) -> None:
        with self._lock:
            self.queries_run += 1

    def started_at(self) -> float | None:
        """The server's start, asked once."""
        with self._lock:
            if "started_at" not in self._memo:
                self._memo["started_at"] = self.client.started_at()
            return self._memo["started_at"]

    def query(self, expr: str) -> list[dict]:
        self.count()
        return self.client.query(expr)

    @property
    def ns(self) -> str:
        return self.env.namespace

    def rate_interval(self) -> str:
        # Grafana: $__rate_interval is at least four scrape intervals.
        return f"{int(max(4 * self.scrape_s, 1))}s"

    def variables(self, cluster: str | None = None) -> dict[str, str]:
        # A namespace and a cluster name are DNS labels: nothing in them needs regex escaping.
        # The cluster variable's All is `.*`, as the dashboard's (series without the label match too).
        return {"namespace": self.ns, "model": ".+", "version": ".+", "cluster": cluster or ".*",
                "datasource": "prometheus"}

    def macros(self) -> dict[str, str]:
        return {"__rate_interval": self.rate_interval(), "__interval": f"{int(max(self.scrape_s, 15))}s",
                "__range": f"{PANEL_WINDOW_S}s", "__range_s": str(PANEL_WINDOW_S),
                "__range_ms": str(PANEL_WINDOW_S * 1000)}

    def prepare(self, expr: str, cluster: str | None = None) -> str:
        return substitute(expr, self.variables(cluster), self.macros())


def _env_queries(ctx: Context) -> list[Query]:
    return ctx.inventory.queries(ctx.env.name)


def _metrics(ctx: Context) -> dict[str, set[str]]:
    """metric -> labels the queries filter it on (besides namespace), over all queries."""
    records = set(ctx.inventory.records(ctx.env.name))
    found: dict[str, set[str]] = {}
    # The cluster label is checked once, on the targets: a cluster's own Prometheus has none.
    skipped = {"namespace", "__name__", ctx.env.cluster_label}
    for q in _env_queries(ctx):
        if (q.kind == "variable" and not q.expr) or q.kind == "annotation":
            continue
        try:
            ast = parse(ctx.prepare(q.expr))
        except ValueError:
            continue  # the static check reports it
        for selector in promql_ast.selectors(ast):
            if not selector.name or selector.name in ABSENCE_NORMAL:
                continue
            labels = found.setdefault(selector.name, set())
            if selector.name not in records:
                labels.update(m.name for m in selector.matchers.matchers if m.name not in skipped)
    return found


# -- the checks, in order -----------------------------------------------------------------------

def check_targets(ctx: Context) -> list[Finding]:
    job = ctx.env.triton.job
    obj = f"{ctx.env.name}: Triton targets (job {job}, namespace {ctx.ns})"
    up = ctx.query(f'up{{job="{job}", namespace="{ctx.ns}"}}')
    if up:
        found = _clusters(ctx, up, obj)
        down = [_instance(ctx, s["metric"]) for s in up if s["value"][1] == "0"]
        if down:
            found.append(Finding(ERROR, obj, f"{len(down)} of {len(up)} targets are down: {', '.join(sorted(down))}",
                                 f'up{{job="{job}", namespace="{ctx.ns}"}}', hint="see Status > Targets in Prometheus",
                                 check="live-targets"))
        return found
    anywhere = ctx.query(f'count by (namespace) (up{{job="{job}"}})')
    triton_series = ctx.query('count by (job, namespace) (nv_inference_count)')
    if any("namespace" not in s["metric"] for s in anywhere + triton_series):
        hint = ("Triton is scraped, but its series carry no namespace label: the target is not discovered "
                "through the ServiceMonitor (check its release label and the Prometheus selector)")
    elif anywhere or triton_series:
        seen = sorted({s["metric"].get("namespace", "?") for s in anywhere + triton_series})
        hint = f"Triton targets exist in other namespaces ({', '.join(seen)}): check namespaceSelector"
    else:
        hint = (f"no Triton target at all: is the ServiceMonitor labelled release={ctx.env.prometheus_release} "
                f"and does it match the Service labels {dict(ctx.env.triton.service_labels)}?")
    return [Finding(ERROR, obj, "no scraped Triton target in the environment's namespace",
                    f'up{{job="{job}", namespace="{ctx.ns}"}}', hint=hint, check="live-targets")]


def _instance(ctx: Context, labels: dict) -> str:
    instance = labels.get("instance", "?")
    label = ctx.env.cluster_label
    return f"{labels[label]}/{instance}" if label and labels.get(label) else instance


def _clusters(ctx: Context, up: list[dict], obj: str) -> list[Finding]:
    """With a cluster label: which clusters have Triton targets, against the clusters listed in the
    settings. The panels are then checked at All and at each cluster found."""
    label = ctx.env.cluster_label
    if not label:
        return []
    ctx.clusters = sorted({s["metric"][label] for s in up if s["metric"].get(label)})
    expr = f'count by ({label}) (up{{job="{ctx.env.triton.job}", namespace="{ctx.ns}"}})'
    if not ctx.clusters:
        return [Finding(WARNING, obj, f"no Triton target carries the cluster label {label}", expr,
                        hint="a cluster's own Prometheus stores no external labels: point --prometheus-url at the "
                             "global view (Thanos, Mimir, VictoriaMetrics) that its remote_write feeds",
                        check="live-targets")]
    found = [Finding(INFO, obj, f"Triton targets in {len(ctx.clusters)} cluster(s): {', '.join(ctx.clusters)}",
                     expr, check="live-targets")]
    for name in ctx.env.cluster_names:
        if name not in ctx.clusters:
            found.append(Finding(ERROR, obj, f"cluster {name} (listed in the settings) has no Triton target", expr,
                                 hint=f"does that cluster's Prometheus set external_labels {{{label}: {name}}} and "
                                      "remote_write to this global view?", check="live-targets"))
    return found


def check_scrape_interval(ctx: Context) -> list[Finding]:
    """The scrape interval Prometheus reports for Triton's targets; the settings' value when the
    API does not say (VictoriaMetrics)."""
    intervals = sorted({
        seconds(t["scrapeInterval"]) for t in ctx.client.targets()
        if t.get("scrapeInterval") and (t.get("labels") or {}).get("namespace") == ctx.ns
        and (t.get("labels") or {}).get("job") == ctx.env.triton.job
    })
    ctx.scrape_s = intervals[-1] if intervals else seconds(ctx.env.scrape_interval)
    if not intervals:
        return [Finding(INFO, f"{ctx.env.name}: scrape interval",
                        f"the API reports no scrape interval for Triton's targets; assuming {ctx.env.scrape_interval} "
                        "from the settings", check="live-scrape-interval")]
    return []


def check_windows(ctx: Context) -> list[Finding]:
    found = []
    for q in _env_queries(ctx):
        if q.kind == "variable":
            continue
        try:
            ast = parse(ctx.prepare(q.expr))
        except ValueError:
            continue
        for text, window in promql_ast.matrix_ranges(ast):
            if window < 2 * ctx.scrape_s:
                found.append(Finding(ERROR, q.object, f"range [{text}] is shorter than twice the scrape interval "
                                     f"({ctx.scrape_s:g}s): rate() over it has at most one sample and shows nothing",
                                     q.expr, hint=f"use at least {int(2 * ctx.scrape_s)}s (Grafana: $__rate_interval)",
                                     check="live-range-window"))
    return found


# VictoriaMetrics writes a bare number of months ("1" is 31 days); M is its month.
RETENTION_UNITS = {**DURATION_UNITS, "M": 31 * 86400}


def retention_seconds(text: str) -> float | None:
    """"15d", "1y2w", "10d or 50GiB" (time and size: the time part), "12M" (months); None for
    a size only ("50GiB"), whose time depends on the ingest."""
    for part in text.split(" or "):
        part = part.strip()
        pieces = re.findall(r"(\d+)(ms|s|m|h|d|w|y|M)", part)
        if pieces and "".join(n + u for n, u in pieces) == part:
            return float(sum(int(n) * RETENTION_UNITS[u] for n, u in pieces))
    return None


def _longest_windows(ctx: Context) -> list[tuple[float, str, str]]:
    """(seconds, window as written, object) of every range the environment's rules and panels read."""
    found = []
    items = [(q.object, q.expr) for q in _env_queries(ctx) if q.kind != "variable"]
    items += [(r.object, r.rule.get("expr", "")) for r in ctx.inventory.rules if r.env == ctx.env.name]
    for obj, expr in items:
        try:
            ast = parse(ctx.prepare(expr))
        except ValueError:
            continue
        for text, window in promql_ast.matrix_ranges(ast):
            found.append((window, text, obj))
    return sorted(found, key=lambda item: (-item[0], item[2]))


def check_retention(ctx: Context) -> list[Finding]:
    """The longest window a rule or panel reads against what the server keeps: a 30-day budget
    over 10 days of data (kube-prometheus-stack's default) forgets failures and overstates it."""
    obj = f"{ctx.env.name}: retention"
    windows = _longest_windows(ctx)
    if not windows:
        return []
    kept, source = ctx.client.retention()
    if kept is None:
        return [Finding(INFO, obj, f"retention not checked: {source}", hint="compare the server's retention with "
                        f"the longest window the rules read ({windows[0][1]}) by hand", check="live-retention")]
    kept_s = retention_seconds(kept)
    if kept_s is None:
        return [Finding(INFO, obj, f"retention not checked: the server keeps data by size only ({kept}, {source})",
                        check="live-retention")]
    longest_s, text, _ = windows[0]
    if kept_s >= longest_s:
        return []
    short = [w for w in windows if w[0] > kept_s]
    named = ", ".join(sorted({o for _, _, o in short})[:3])
    more = len({o for _, _, o in short}) - 3
    return [Finding(WARNING, obj, f"the server keeps {kept} ({source}), but {len({o for _, _, o in short})} rules and "
                    f"panels read windows up to [{text}] ({named}{f' and {more} more' if more > 0 else ''}): over "
                    "those, data older than the retention is gone, and a budget over the whole window is overstated",
                    hint=f"raise the retention to at least {text} (kube-prometheus-stack: "
                         "prometheus.prometheusSpec.retention), or shorten slo.window", check="live-retention")]


def check_queue_caps(ctx: Context) -> list[Finding]:
    """Each model Triton serves in the namespace whose queue cap is unknown: a full queue answers
    503 and moves no counter, so for it nothing alerts."""
    try:
        served = ctx.query(f'group by (model) (nv_inference_request_success{{namespace="{ctx.ns}"}})')
    except QueryError as exc:
        return [Finding(ERROR, f"{ctx.env.name}: queue caps", f"query failed: {exc}", check="live-queue-caps")]
    unknown = sorted({s["metric"].get("model", "") for s in served} - {
        m for m, settings in ctx.env.models.items() if settings.max_queue_size})
    return [Finding(WARNING, f"{ctx.env.name}: model {model}", "queue cap unknown: if its queue is capped "
                    "(max_queue_size), a full queue answers HTTP 503, counted by no metric, and no alert fires",
                    hint="gen doctor --triton-url URL --write-queue-caps reads every model's cap from Triton "
                         f"(then gen build); or set models.{model}.max_queue_size", check="live-queue-caps")
            for model in unknown if model]


def check_metrics(ctx: Context) -> list[Finding]:
    metadata = ctx.client.metadata()
    ctx.metric_types = {name: (entries[0].get("type") or "") for name, entries in metadata.items() if entries}
    metrics = _metrics(ctx)
    records = set(ctx.inventory.records(ctx.env.name))

    def one(item: tuple[str, set[str]]) -> list[Finding]:
        metric, labels = item
        obj = f"{ctx.env.name}: metric {metric}"
        try:
            here = ctx.query(f'count({metric}{{namespace="{ctx.ns}"}})')
            ctx.present[metric] = bool(here)
            if not here:
                if ctx.query(f"count({metric})"):
                    return [Finding(ERROR, obj, f"exists, but not with namespace={ctx.ns}", f"count({metric})",
                                    hint="Prometheus does not attach the namespace label: is the target scraped "
                                         "through the ServiceMonitor?", check="live-metric")]
                slow = ctx.inventory.slow_records(ctx.env.name)
                if metric in slow:
                    return [Finding(INFO, obj, f"recorded series is absent: its group runs every {slow[metric]}, "
                                    "so it appears up to that long after Prometheus starts", check="live-metric")]
                if metric in records:
                    return [Finding(ERROR, obj, "recorded series is absent: the recording rules are not loaded",
                                    hint=f"the PrometheusRule needs the label release={ctx.env.prometheus_release}; "
                                         "or no traffic yet", check="live-metric")]
                if KUBERNETES_METRICS.match(metric):
                    # A warning, not an error: Triton's own alerts work without it; these are blind.
                    readers = sorted({r.name for r in ctx.inventory.rules if r.env == ctx.env.name and r.is_alert
                                      and re.search(rf"\b{metric}\b", r.rule.get("expr", ""))})
                    blind = f"the alerts reading it ({', '.join(readers)}) and" if readers else "the"
                    return [Finding(WARNING, obj, "absent: it comes from kube-state-metrics or cAdvisor "
                                    f"(kube-prometheus-stack); {blind} dashboard panels reading it are blind",
                                    hint="scrape kube-state-metrics and the kubelet's cAdvisor endpoint",
                                    check="live-metric")]
                if OPTIONAL_METRICS.match(metric):
                    return [Finding(INFO, obj, "absent: Triton exposes it only with optional flags or hardware "
                                    "(GPU, response cache, summary latencies)", check="live-metric")]
                return [Finding(ERROR, obj, "absent: no series has this name",
                                hint="misspelt, or not exposed by this Triton version", check="live-metric")]
            missing = [label for label in sorted(labels)
                       if not ctx.query(f'count({metric}{{namespace="{ctx.ns}", {label}!=""}})')]
            return [Finding(ERROR, obj, f"has no label {label}, which the queries filter on",
                            hint="a query filtering on it always returns nothing", check="live-label")
                    for label in missing]
        except QueryError as exc:
            return [Finding(ERROR, obj, f"query failed: {exc}", check="live-metric")]

    found = _parallel(ctx, one, sorted(metrics.items()))
    for q in _env_queries(ctx):
        if q.kind == "variable" or not ctx.metric_types:
            continue
        try:
            ast = parse(ctx.prepare(q.expr))
        except ValueError:
            continue
        for metric in promql_ast.counters_outside_rate(ast, lambda n: ctx.metric_types.get(n) == "counter"):
            found.append(Finding(ERROR, q.object, f"{metric} is a counter, used outside rate()/increase()", q.expr,
                                 hint="a counter's raw value only grows; use rate() or increase()",
                                 check="live-counter"))
    if not metadata:
        found.append(Finding(INFO, f"{ctx.env.name}: metadata", "the API serves no metric metadata: counter use "
                             "not checked", check="live-counter"))
    return found


def _explain_empty(ctx: Context, expr: str, cluster: str | None = None) -> str:
    """Why a query returns nothing: a metric absent, a selector that matches nothing, or no
    traffic (the series exist, but rates are 0 and the ratios' `> 0` guards drop them)."""
    try:
        found = [s for s in promql_ast.selectors(parse(ctx.prepare(expr, cluster))) if s.name]
    except ValueError:
        found = []
    names = [s.name for s in found]
    absent = sorted({n for n in names if ctx.present.get(n) is False})
    if absent and all(OPTIONAL_METRICS.match(n) for n in absent):
        return f"optional metrics absent ({', '.join(absent)}): expected without a GPU, cache or summaries"
    if absent and all(KUBERNETES_METRICS.match(n) or OPTIONAL_METRICS.match(n) for n in absent):
        return (f"Kubernetes metrics absent in {ctx.ns} ({', '.join(absent)}): this Prometheus collects no "
                "cAdvisor or kube-state-metrics series there")
    slow = ctx.inventory.slow_records(ctx.env.name)
    if absent and all(n in slow or OPTIONAL_METRICS.match(n) for n in absent):
        every = ", ".join(sorted({slow[n] for n in absent if n in slow}))
        return (f"optional until the first evaluation: {', '.join(absent)} recorded every {every}, so it appears "
                "up to that long after Prometheus loads the rules")
    if absent:
        return f"metric absent in {ctx.ns}: {', '.join(absent)}"
    # A series recorded every few minutes or hourly, on a server up for less than two of its
    # intervals: its first evaluations are still to come (for every cluster, or some).
    reading_slow = sorted({n for n in names if n in slow})
    if reading_slow:
        import time

        started = ctx.started_at()
        if started is not None and all(time.time() - started < 2 * seconds(slow[n]) for n in reading_slow):
            return (f"optional until the first evaluations: {', '.join(reading_slow)} recorded every "
                    f"{', '.join(sorted({slow[n] for n in reading_slow}))}, and the server started "
                    f"{int(time.time() - started)}s ago")
    # A series recorded every few minutes may exist for one cluster and not yet for another, or
    # hold a single evaluation so far: then it may have appeared while the checks ran (after the
    # panel's query, before this one). Read from the data, so a remote-written global view, whose
    # own start says nothing about the rules', is judged the same.
    where = f'namespace="{ctx.ns}"' + (f', {ctx.env.cluster_label}="{cluster}"' if cluster else "")
    for name in sorted({n for n in names if n in slow}):
        try:
            if not ctx.query(f"count({name}{{{where}}})"):
                return (f"optional until the first evaluation: {name} recorded every {slow[name]} has no series "
                        f"{'for ' + cluster if cluster else 'here'} yet")
            window = f"{int(2 * seconds(slow[name]) + seconds(slow[name]) // 2)}s"
            evaluations = ctx.query(f"max(count_over_time({name}{{{where}}}[{window}]))")
            if evaluations and float(evaluations[0]["value"][1]) < 2:
                return (f"optional until the first evaluations: {name} recorded every {slow[name]} has been "
                        f"evaluated once so far {'for ' + cluster if cluster else 'here'}")
        except (QueryError, LookupError, ValueError):
            break
    for selector in found:
        try:
            if not ctx.query(f"count({selector})"):
                return f"the selector {selector} matches nothing: a label value the query filters on does not exist"
        except QueryError:
            break
    return "the series exist but the query returns nothing now: no traffic yet (rates are 0, ratios are guarded)"


def check_variables(ctx: Context) -> list[Finding]:
    def one(q: Query) -> list[Finding]:
        try:
            ctx.count()
            values = ctx.client.label_values(q.label, ctx.prepare(q.expr) if q.expr else "", PANEL_WINDOW_S)
        except QueryError as exc:
            return [Finding(ERROR, q.object, f"query failed: {exc}", q.expr, check="live-variable")]
        if not values:
            return [Finding(ERROR, q.object, f"returns no values for label {q.label}", q.expr,
                            hint=_explain_empty(ctx, q.expr), check="live-variable")]
        if q.label == "namespace" and ctx.ns not in values:
            return [Finding(ERROR, q.object, f"does not offer the environment's namespace {ctx.ns}", q.expr,
                            hint=f"values: {', '.join(values[:5])}", check="live-variable")]
        if q.label == "namespace" and set(values) - {ctx.ns}:
            return [Finding(ERROR, q.object, f"offers namespaces the recording rules do not cover: "
                            f"{', '.join(sorted(set(values) - {ctx.ns}))}", q.expr, check="live-variable")]
        if ctx.env.cluster_label and q.label == ctx.env.cluster_label:
            missing = [name for name in ctx.env.cluster_names if name not in values]
            if missing:
                return [Finding(ERROR, q.object, f"does not offer the cluster(s) {', '.join(missing)} listed in the "
                                "settings", q.expr, hint=f"values: {', '.join(values[:5])}", check="live-variable")]
        return []

    return _parallel(ctx, one, [q for q in _env_queries(ctx) if q.kind == "variable" and q.label])


def check_panels(ctx: Context) -> list[Finding]:
    """Every panel query returns data with the cluster variable at All and, in a fleet, at each
    cluster that has Triton targets."""
    step = max(PANEL_WINDOW_S / 60, ctx.scrape_s)

    def one(item: tuple[Query, str | None]) -> list[Finding]:
        q, cluster = item
        obj = f"{q.object} (cluster={cluster})" if cluster else q.object
        expr = ctx.prepare(q.expr, cluster)
        try:
            ctx.count()
            result = ctx.client.query(expr) if q.instant else ctx.client.query_range(expr, PANEL_WINDOW_S, step)
        except QueryError as exc:
            return [Finding(ERROR, obj, f"query failed: {exc}", q.expr, check="live-panel")]
        if result:
            return []
        hint = _explain_empty(ctx, q.expr, cluster)
        optional = hint.startswith("optional")
        return [Finding(INFO if optional else WARNING, obj, "returns no data", q.expr, hint=hint,
                        check="live-panel")]

    panels = [q for q in _env_queries(ctx) if q.kind == "panel"]
    clusters: list[str | None] = [None, *ctx.clusters] if ctx.env.cluster_label else [None]
    return _parallel(ctx, one, [(q, cluster) for cluster in clusters for q in panels])


def check_annotations(ctx: Context) -> list[Finding]:
    """Annotation queries must evaluate; no data is normal (no alert firing)."""
    step = max(PANEL_WINDOW_S / 60, ctx.scrape_s)

    def one(q: Query) -> list[Finding]:
        try:
            ctx.count()
            ctx.client.query_range(ctx.prepare(q.expr), PANEL_WINDOW_S, step)
        except QueryError as exc:
            return [Finding(ERROR, q.object, f"query failed: {exc}", q.expr, check="live-annotation")]
        return []

    return _parallel(ctx, one, [q for q in _env_queries(ctx) if q.kind == "annotation"])


def check_rules(ctx: Context) -> list[Finding]:
    def one(q: Query) -> list[Finding]:
        try:
            result = ctx.query(q.expr)
        except QueryError as exc:
            return [Finding(ERROR, q.object, f"does not evaluate: {exc}", q.expr, check="live-rule")]
        if q.kind == "alert" and result:
            return [Finding(INFO, q.object, f"condition is true now for {len(result)} series (fires after `for`)",
                            q.expr, check="live-rule")]
        if q.kind == "record" and not result:
            slow = ctx.inventory.slow_records(ctx.env.name)
            record = q.object.split(" record ", 1)[-1]
            if record in slow or any(name in q.expr for name in slow):
                return [Finding(INFO, q.object, f"records nothing yet: it reads a group that runs every "
                                f"{max(slow.values())}", q.expr, check="live-rule")]
            return [Finding(WARNING, q.object, "records nothing now", q.expr, hint=_explain_empty(ctx, q.expr),
                            check="live-rule")]
        return []

    return _parallel(ctx, one, [q for q in _env_queries(ctx) if q.kind in ("alert", "record")])


LIVE_CHECKS: list[tuple[str, Callable[[Context], list[Finding]]]] = [
    ("live-targets", check_targets),
    ("live-scrape-interval", check_scrape_interval),
    ("live-range-window", check_windows),
    ("live-metric", check_metrics),
    ("live-variable", check_variables),
    ("live-panel", check_panels),
    ("live-annotation", check_annotations),
    ("live-rule", check_rules),
    ("live-retention", check_retention),
    ("live-queue-caps", check_queue_caps),
]


def _parallel(ctx: Context, fn, items: list) -> list[Finding]:
    """Bounded concurrency: at most ctx.concurrency queries in flight against the server."""
    found: list[Finding] = []
    if not items:
        return found
    with ThreadPoolExecutor(max_workers=max(1, ctx.concurrency)) as pool:
        for result in pool.map(fn, items):
            found.extend(result)
            if ctx.progress:
                ctx.progress(ctx.queries_run, 0)
    return found


# What follows from an environment without any scraped Triton target: every metric absent, every
# panel, variable and recording rule empty.
FOLLOWS_FROM_NO_TARGET = {"live-metric", "live-label", "live-variable", "live-panel", "live-rule"}


def run(ctx: Context) -> list[Finding]:
    ctx.client.probe()
    findings: list[Finding] = []
    for _, check in LIVE_CHECKS:
        findings.extend(check(ctx))
    return attribute_causes(findings)


def attribute_causes(findings: list[Finding]) -> list[Finding]:
    """Mark the findings that a missing Triton target explains, so that the cause is read first."""
    cause = next((f for f in findings if f.check == "live-targets" and f.severity == ERROR
                  and f.message.startswith("no scraped Triton target")), None)
    if cause is None:
        return findings
    return [replace(f, cause=cause.object)
            if f.check in FOLLOWS_FROM_NO_TARGET and f.severity in (ERROR, WARNING) and "failed" not in f.message
            else f for f in findings]
