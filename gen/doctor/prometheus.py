"""Step 4, Prometheus: Triton's pods are up targets with the labels the rules expect; the scrape
interval fits the dashboards' rate windows; the generated rule groups are loaded and healthy; the
recording rules produce series; no Triton alert fires."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from gen.doctor.context import Context
from gen.doctor.result import StepResult, failed, one_line, passed, skipped, warned
from gen.errors import UserError
from gen.validate.client import QueryError
from gen.validate.live import seconds

# Labels the generated rules and dashboards group or filter Triton's series by.
EXPECTED_TARGET_LABELS = ("job", "namespace", "pod")
NEVER = "0001-01-01T00:00:00Z"


def _live_context(ctx: Context):
    from gen.validate.live import Context as LiveContext

    live = LiveContext(ctx.env, ctx.prometheus, ctx.inventory, concurrency=8)
    live.scrape_s = ctx.scrape_seconds()
    return live


def check_reachable(ctx: Context) -> list[StepResult]:
    try:
        ctx.prometheus.probe()
    except (UserError, QueryError) as exc:
        return [failed("Prometheus", one_line(str(exc)),
                       "check --prometheus-url (Prometheus's own port, 9090 by default) and the credentials")]
    return [passed("Prometheus", f"{ctx.prometheus.url} answers queries")]


def check_targets(ctx: Context) -> list[StepResult]:
    from gen.validate import live

    job = ctx.env.triton.job
    try:
        targets = ctx.prometheus.targets()
    except (UserError, QueryError) as exc:
        return [failed("Triton targets", one_line(str(exc)))]
    mine = [t for t in targets if (t.get("labels") or {}).get("job") == job
            and (t.get("labels") or {}).get("namespace") == ctx.ns]
    if not mine:
        try:
            # In a fleet the check also reports the clusters found: the error, if any, explains.
            findings = live.check_targets(_live_context(ctx))
            finding = next((f for f in findings if f.severity == "error"), findings[0] if findings else None)
        except QueryError as exc:
            return [failed("Triton targets", f"query failed: {exc}")]
        hint = finding.hint if finding else ""
        others = sorted({t.get("scrapePool", "?") for t in targets})
        seen = f" (it scrapes {len(targets)} targets in {', '.join(others)})" if targets else " (it scrapes nothing)"
        return [failed("Triton targets", f"Prometheus has no target with job={job} and namespace={ctx.ns}{seen}",
                       hint)]
    results = []
    for target in sorted(mine, key=lambda t: (t.get("labels") or {}).get("pod") or t.get("scrapeUrl", "")):
        labels = target.get("labels") or {}
        name = labels.get("pod") or labels.get("instance") or target.get("scrapeUrl", "?")
        obj = f"target {name}"
        missing = [label for label in EXPECTED_TARGET_LABELS if not labels.get(label)]
        if target.get("health") != "up":
            results.append(failed(obj, f"{target.get('scrapeUrl')} is {target.get('health')}: "
                                       f"{one_line(target.get('lastError') or 'no error given')}",
                                  "Prometheus cannot scrape the pod's metrics port: is the port in the Service the "
                                  "one Triton serves metrics on (8002)? NetworkPolicy?"))
        elif missing:
            results.append(warned(obj, f"up, but without the label(s) {', '.join(missing)} that the rules and "
                                       "dashboards use", "scrape Triton through the generated ServiceMonitor, "
                                                         "which the operator labels with namespace and pod"))
        else:
            results.append(passed(obj, f"up: {target.get('scrapeUrl')} with job={job}, namespace={ctx.ns}"))
    scraped = {(t.get("labels") or {}).get("pod") for t in mine}
    for pod in [p for p in ctx.facts.pods or [] if p not in scraped]:
        results.append(failed(f"pod {pod}", "runs in the cluster but is no target of this Prometheus",
                              f"kubectl -n {ctx.ns} get endpoints: is the pod behind the Service the ServiceMonitor "
                              "selects, and ready?"))
    return results


def check_scrape_interval(ctx: Context) -> list[StepResult]:
    from gen.promql import parse
    from gen.validate import live, promql_ast

    live_ctx = _live_context(ctx)
    try:
        assumed = live.check_scrape_interval(live_ctx)  # a finding only when the API reports none
    except (UserError, QueryError) as exc:
        return [failed("scrape interval", one_line(str(exc)))]
    ctx.facts.scrape_s = live_ctx.scrape_s
    scrape = live_ctx.scrape_s
    shortest: tuple[float, str, str] | None = None
    for query in live_ctx.inventory.queries(ctx.env.name):
        if query.kind == "variable":
            continue
        try:
            ast = parse(live_ctx.prepare(query.expr))
        except ValueError:
            continue
        for text, window in promql_ast.matrix_ranges(ast):
            if shortest is None or window < shortest[0]:
                shortest = (window, text, query.object)
    settings = (" (no Triton target reports one: the settings' value)" if assumed else
                f" (settings: {ctx.env.scrape_interval})")
    if shortest is None:
        return [passed("scrape interval", f"Triton is scraped every {scrape:g}s{settings}; no rate window used")]
    window, text, obj = shortest
    if window < 2 * scrape:
        return [failed("scrape interval", f"every {scrape:g}s{settings}, but {obj} uses [{text}]: rate() over it "
                                          "sees at most one sample and shows nothing",
                       f"windows of at least {int(4 * scrape)}s ($__rate_interval in dashboards)")]
    if window < 4 * scrape:
        return [warned("scrape interval", f"every {scrape:g}s{settings}; {obj} uses [{text}], fewer than 4 scrapes: "
                                          "one missed scrape empties it", "use $__rate_interval in dashboards")]
    return [passed("scrape interval", f"Triton is scraped every {scrape:g}s{settings}; the shortest rate window, "
                                      f"[{text}], spans {window / scrape:g} scrapes")]


def _expected_groups(ctx: Context) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for rule in ctx.inventory.rules:
        if rule.env == ctx.env.name:
            groups.setdefault(rule.group, []).append(rule.name)
    return groups


def check_rules(ctx: Context) -> list[StepResult]:
    expected = _expected_groups(ctx)
    if not expected:
        return [skipped("rule groups", f"out/{ctx.env.name}/ holds no PrometheusRule")]
    try:
        loaded = ctx.prometheus.rules()
    except QueryError as exc:
        return [warned("rule groups", f"this API serves no rules ({one_line(str(exc))})",
                       "VictoriaMetrics evaluates rules in vmalert: check its /api/v1/rules")]
    except UserError as exc:
        return [failed("rule groups", f"/api/v1/rules failed: {one_line(str(exc))}")]
    marker = f'namespace="{ctx.ns}"'
    results = []
    for name, rule_names in expected.items():
        candidates = [g for g in loaded if g.get("name") == name]
        # Two environments' groups share names in one Prometheus: ours select our namespace.
        ours = [g for g in candidates if any(marker in (r.get("query") or "") for r in g.get("rules") or [])]
        group = (ours or candidates or [None])[0]
        obj = f"rule group {name}"
        if group is None:
            results.append(failed(obj, "not loaded by Prometheus",
                                  f"the PrometheusRule must carry release={ctx.env.prometheus_release} and match the "
                                  "Prometheus ruleSelector/ruleNamespaceSelector (gen doctor --prometheus-cr FILE "
                                  "checks it offline); is out/" + ctx.env.name + "/ synced?"))
            continue
        rules = group.get("rules") or []
        broken = [r for r in rules if r.get("health") == "err"]
        missing = [r for r in rule_names if r not in {x.get("name") for x in rules}]
        if broken:
            first = broken[0]
            results.append(failed(obj, f"{len(broken)} of {len(rules)} rules fail to evaluate; {first.get('name')}: "
                                       f"{one_line(first.get('lastError') or '?')}",
                                  "run gen validate --prometheus-url to find the query at fault"))
        elif missing:
            results.append(warned(obj, f"loaded, but without {', '.join(missing[:3])}"
                                       f"{' ...' if len(missing) > 3 else ''}: an older version is deployed",
                                  f"sync out/{ctx.env.name}/ (Argo CD) or apply the PrometheusRule"))
        elif (group.get("lastEvaluation") or NEVER).startswith("0001-"):
            results.append(warned(obj, f"{len(rules)} rules loaded, not evaluated yet",
                                  "wait one evaluation interval"))
        else:
            results.append(passed(obj, f"{len(rules)} rules loaded and healthy (evaluated every "
                                       f"{group.get('interval', '?')}s)"))
    return results


def check_records(ctx: Context) -> list[StepResult]:
    records = ctx.inventory.records(ctx.env.name)
    if not records:
        return [skipped("recording rules", "no recording rule in out/")]

    def produces(record: str) -> tuple[str, bool | str]:
        try:
            return record, bool(ctx.prometheus.query(f'count({record}{{namespace="{ctx.ns}"}})'))
        except QueryError as exc:
            return record, str(exc)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = dict(pool.map(produces, sorted(records)))
    errors = {r: a for r, a in answers.items() if isinstance(a, str)}
    # A group evaluated every few minutes or hourly (the long SLO windows) records its first
    # sample up to one interval after Prometheus loads it: empty is expected until then.
    slow = {rule.name: rule.interval for rule in ctx.inventory.rules
            if rule.env == ctx.env.name and not rule.is_alert and rule.interval and seconds(rule.interval) >= 300}
    waiting = [r for r, a in answers.items() if a is False and r in slow]
    empty = [r for r, a in answers.items() if a is False and r not in slow]
    if errors:
        record, error = next(iter(errors.items()))
        return [failed("recording rules", f"{record}: query failed: {one_line(error)}")]
    note = (f"; {len(waiting)} in groups evaluated every {', '.join(sorted(set(slow[r] for r in waiting)))} "
            "record nothing yet (expected up to one interval after loading)") if waiting else ""
    if empty:
        return [warned("recording rules", f"{len(empty)} of {len(records)} record nothing for {ctx.ns}: "
                                          f"{', '.join(empty[:3])}{' ...' if len(empty) > 3 else ''}",
                       "no traffic yet (rates are 0 and the ratios are guarded), or the rule group is not loaded")]
    return [passed("recording rules", f"{len(records) - len(waiting)} of {len(records)} produce series for {ctx.ns}"
                                      f"{note}" if waiting else f"all {len(records)} produce series for {ctx.ns}")]


def check_alerts(ctx: Context) -> list[StepResult]:
    names = {r.name for r in ctx.inventory.rules if r.env == ctx.env.name and r.is_alert}
    try:
        alerts = ctx.prometheus.alerts()
    except QueryError as exc:
        return [warned("Triton alerts", f"this API serves no alerts ({one_line(str(exc))})",
                       "VictoriaMetrics evaluates alerts in vmalert: check its /api/v1/alerts")]
    except UserError as exc:
        return [failed("Triton alerts", f"/api/v1/alerts failed: {one_line(str(exc))}")]
    mine = [a for a in alerts if (a.get("labels") or {}).get("alertname") in names
            and (a.get("labels") or {}).get("namespace", ctx.ns) == ctx.ns]

    def describe(alert: dict) -> str:
        labels = alert.get("labels") or {}
        where = ", ".join(f"{k}={labels[k]}" for k in ("model", "pod") if labels.get(k))
        return f"{labels.get('alertname')}{f' ({where})' if where else ''}"

    firing = sorted({describe(a) for a in mine if a.get("state") == "firing"})
    pending = sorted({describe(a) for a in mine if a.get("state") == "pending"})
    if firing:
        runbooks = sorted({(a.get("annotations") or {}).get("runbook_url", "") for a in mine
                           if a.get("state") == "firing"} - {""})
        return [failed("Triton alerts", f"firing: {', '.join(firing)}",
                       f"follow the runbook: {runbooks[0]}" if runbooks else "see docs/runbooks.md")]
    if pending:
        return [warned("Triton alerts", f"pending (fire once their `for` has passed): {', '.join(pending)}")]
    return [passed("Triton alerts", f"none of the {len(names)} Triton alerts is pending or firing")]
