"""Step 5, Grafana: the environment's dashboards exist and match what `gen push` would write; the
Prometheus datasource the dashboards use exists, passes Grafana's health check and holds Triton's
series; and, through Grafana's datasource proxy, every panel returns data: the last box of the
checklist, checked the way a person sees it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from gen.doctor.context import Context
from gen.doctor.result import StepResult, failed, one_line, passed, skipped, warned
from gen.errors import UserError
from gen.push.client import GrafanaError

PANEL_WINDOW_S = 15 * 60  # as gen validate: a panel "returns data" over the last 15 minutes


def _get(ctx: Context, path: str, what: str, params: dict | None = None):
    return ctx.grafana.request("GET", path, what, params=params)


def check_reachable(ctx: Context) -> list[StepResult]:
    try:
        health = _get(ctx, "/api/health", "health")
        _get(ctx, "/api/datasources", "datasources")
    except UserError as exc:
        return [failed("Grafana", one_line(exc.message), "check --grafana-url (Grafana's base URL, port 3000 by default)")]
    except GrafanaError as exc:
        return [failed("Grafana", one_line(exc.message),
                       "a service-account token with the Viewer role reads everything the doctor needs "
                       "(GRAFANA_TOKEN or --token-file)")]
    return [passed("Grafana", f"Grafana {health.get('version', '?')} at {ctx.grafana.url}, credentials accepted")]


# -- dashboards ----------------------------------------------------------------------------------

def dashboard_state(client, local) -> tuple[str, str]:
    """(state, detail) of one rendered dashboard against Grafana: unchanged | create | update |
    conflict | error, with the difference in one line. The one place that decides it, so that
    `gen diff`'s comparison can replace the push plan used here."""
    from gen.push.push import plan_one

    outcome, _ = plan_one(client, local)
    return outcome.action, outcome.detail


def check_dashboards(ctx: Context) -> list[StepResult]:
    from gen.push.push import load_local

    try:
        dashboards = load_local(ctx.out_dir, [ctx.env])
    except UserError as exc:
        return [failed("dashboards", one_line(exc.message), f"run gen build, then gen push --env {ctx.env.name}")]
    results = []
    for local in dashboards:
        obj = f"dashboard {local.uid}"
        try:
            state, detail = dashboard_state(ctx.grafana, local)
        except UserError as exc:
            results.append(failed(obj, one_line(exc.message)))
            continue
        push = f"gen push --env {ctx.env.name} --grafana-url {ctx.grafana.url}"
        if state == "unchanged":
            results.append(passed(obj, f"'{local.title}' matches what gen push would write"))
        elif state == "create":
            results.append(failed(obj, f"'{local.title}' is not in Grafana", f"publish it: {push}"))
        elif state == "update":
            results.append(warned(obj, f"differs from out/: {detail}", f"publish the current version: {push}"))
        elif state == "conflict":
            results.append(warned(obj, f"changed in Grafana: {detail}",
                                  f"carry the change into dashboards/*.py, or overwrite it: {push} --force"))
        else:
            results.append(failed(obj, one_line(detail)))
    return results


# -- datasource ----------------------------------------------------------------------------------

def _dashboard_models(ctx: Context) -> list[dict]:
    """The environment's dashboards as Grafana holds them (what a person sees), else as in out/."""
    from gen.push.push import load_local

    if ctx.facts.grafana_models is not None:
        return ctx.facts.grafana_models
    models: list[dict] = []
    try:
        dashboards = load_local(ctx.out_dir, [ctx.env])
    except UserError:
        return []
    for local in dashboards:
        try:
            remote = _get(ctx, f"/api/dashboards/uid/{local.uid}", f"dashboard {local.uid}")
            models.append(remote.get("dashboard") or local.model)
        except (GrafanaError, UserError):
            models.append(local.model)
    ctx.facts.grafana_models = models
    return models


def _wanted_datasource(ctx: Context) -> str:
    """What the dashboards' datasource variable selects: a uid or name, or "default"."""
    if ctx.options.datasource:
        return ctx.options.datasource
    for model in _dashboard_models(ctx):
        for variable in (model.get("templating") or {}).get("list") or []:
            if variable.get("type") == "datasource" and variable.get("query") == "prometheus":
                current = (variable.get("current") or {}).get("value")
                if isinstance(current, str) and current and not current.startswith("$"):
                    return current
    return "default"


def _choose(datasources: list[dict], wanted: str) -> dict | None:
    prometheus = sorted((d for d in datasources if d.get("type") == "prometheus"), key=lambda d: d.get("name", ""))
    if wanted != "default":
        return next((d for d in datasources if wanted in (d.get("uid"), d.get("name"))), None)
    # Grafana resolves "default" to the default datasource when it has the variable's type,
    # else to the first datasource of that type.
    return next((d for d in prometheus if d.get("isDefault")), prometheus[0] if prometheus else None)


def _proxy_query(ctx: Context, uid: str, expr: str, instant: bool = True, step: float = 15.0) -> list:
    base = f"/api/datasources/proxy/uid/{uid}/api/v1"
    if instant:
        answer = _get(ctx, f"{base}/query", f"datasource {uid}", {"query": expr})
    else:
        end = time.time()
        answer = _get(ctx, f"{base}/query_range", f"datasource {uid}",
                      {"query": expr, "start": f"{end - PANEL_WINDOW_S:.0f}", "end": f"{end:.0f}", "step": f"{step:g}"})
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise GrafanaError(None, f"datasource {uid}: {one_line((answer or {}).get('error', 'not a Prometheus answer'))}")
    return (answer.get("data") or {}).get("result") or []


def _has_triton(ctx: Context, uid: str) -> bool:
    return bool(_proxy_query(ctx, uid, f'count(up{{job="{ctx.env.triton.job}", namespace="{ctx.ns}"}})'))


def check_datasource(ctx: Context) -> list[StepResult]:
    try:
        datasources = _get(ctx, "/api/datasources", "datasources")
    except (UserError, GrafanaError) as exc:
        return [failed("datasource", one_line(getattr(exc, "message", str(exc))))]
    wanted = _wanted_datasource(ctx)
    chosen = _choose(datasources, wanted)
    if chosen is None:
        known = ", ".join(f"{d.get('name')} ({d.get('type')})" for d in datasources) or "none"
        return [failed("datasource", f"no Prometheus datasource '{wanted}' in Grafana (datasources: {known})",
                       "add one under Connections > Data sources pointing at the environment's Prometheus")]
    ctx.facts.grafana_datasource = chosen
    obj = f"datasource {chosen.get('name')}"
    uid, url = chosen.get("uid"), chosen.get("url", "?")
    try:
        health = _get(ctx, f"/api/datasources/uid/{uid}/health", obj)
        health_note = one_line(health.get("message") or "OK")
    except GrafanaError as exc:
        if exc.status == 404:  # Grafana before 10 has no backend health check for Prometheus
            health_note = "no health endpoint (Grafana < 10); a query through the proxy answered instead"
            try:
                _proxy_query(ctx, uid, "1")
            except (GrafanaError, UserError) as inner:
                ctx.facts.grafana_datasource = None
                return [failed(obj, f"a query through Grafana fails: {one_line(getattr(inner, 'message', inner))}",
                               f"Grafana cannot reach {url}: fix the URL under Connections > Data sources")]
        else:
            ctx.facts.grafana_datasource = None
            return [failed(obj, f"health check failed: {one_line(exc.message)}",
                           f"Grafana cannot query {url}: fix the datasource's URL (or auth) under Connections > "
                           "Data sources, so that it points at the environment's Prometheus")]
    except UserError as exc:
        return [failed(obj, one_line(exc.message))]
    results = [passed(obj, f"uid {uid}, {url}: {health_note}")]
    try:
        if _has_triton(ctx, uid):
            results.append(passed(obj, f"holds Triton's targets for {ctx.ns}"))
            return results
        others = [d for d in datasources if d.get("type") == "prometheus" and d.get("uid") != uid]
        better = next((d for d in others if _safe_has_triton(ctx, d.get("uid"))), None)
    except (GrafanaError, UserError) as exc:
        results.append(failed(obj, f"a query through Grafana fails: {one_line(getattr(exc, 'message', exc))}"))
        return results
    hint = (f"the dashboards' datasource variable should point at '{better.get('name')}' (uid {better.get('uid')}), "
            "which holds them; make it the default or pass --datasource" if better else
            "this Prometheus does not scrape the environment's Triton: see the prometheus step")
    results.append(failed(obj, f"holds no Triton target for job={ctx.env.triton.job}, namespace={ctx.ns}", hint))
    ctx.facts.grafana_datasource = None  # every panel would be empty: nothing more to learn from them
    return results


def _safe_has_triton(ctx: Context, uid: str) -> bool:
    try:
        return _has_triton(ctx, uid)
    except (GrafanaError, UserError):
        return False


# -- panels --------------------------------------------------------------------------------------

def check_panels(ctx: Context) -> list[StepResult]:
    from gen.promql import substitute
    from gen.render.grafana_json import iter_panels
    from gen.validate.live import OPTIONAL_METRICS

    datasource = ctx.facts.grafana_datasource
    if datasource is None:
        return [skipped("panels", "not checked: the datasource check failed (see above)")]
    uid = datasource.get("uid")
    scrape = ctx.scrape_seconds()
    macros = {"__rate_interval": f"{int(max(4 * scrape, 1))}s", "__interval": f"{int(max(scrape, 15))}s",
              "__range": f"{PANEL_WINDOW_S}s", "__range_s": str(PANEL_WINDOW_S),
              "__range_ms": str(PANEL_WINDOW_S * 1000)}
    # As gen validate: All for model and version, and `.*` for the cluster (a cluster's own
    # Prometheus has no cluster label).
    variables = {"namespace": ctx.ns, "model": ".+", "version": ".+", "cluster": ".*", "datasource": uid}
    step = max(PANEL_WINDOW_S / 60, scrape)
    panels = []
    for model in _dashboard_models(ctx):
        for panel in iter_panels(model):
            targets = [t for t in panel.get("targets") or [] if t.get("expr")]
            if panel.get("type") != "row" and targets:
                panels.append((model.get("uid"), panel, targets))
    if not panels:
        return [skipped("panels", "the dashboards have no panel with a query")]

    # SLO windows recorded every 5m or hourly appear up to that long after the rules load.
    slow_records = set(ctx.inventory.slow_records(ctx.env.name))

    def run(item) -> tuple[str, str, bool | str, bool]:
        dashboard, panel, targets = item
        title = f"{dashboard} / '{panel.get('title', '?')}'"
        optional = False
        for target in targets:
            expr = substitute(target["expr"], variables, macros)
            try:
                if _proxy_query(ctx, uid, expr, instant=bool(target.get("instant")), step=step):
                    return title, expr, True, False
            except (GrafanaError, UserError) as exc:
                return title, expr, one_line(getattr(exc, "message", str(exc))), False
            optional = optional or _reads_optional_metrics(expr, OPTIONAL_METRICS, slow_records)
        return title, substitute(targets[0]["expr"], variables, macros), False, optional

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(run, panels))
    with_data = [a for a in answers if a[2] is True]
    errors = [a for a in answers if isinstance(a[2], str)]
    empty = [a for a in answers if a[2] is False and not a[3]]
    optional = [a for a in answers if a[2] is False and a[3]]
    results = []
    for title, _, error, _ in errors:
        results.append(failed(f"panel {title}", f"the query fails through Grafana: {error}"))
    explain = _explainer(ctx, uid, scrape) if empty else None
    for title, expr, _, _ in empty:
        results.append(warned(f"panel {title}", "returns no data through Grafana", explain(expr)))
    note = f"; empty as expected without a GPU/cache/summaries, or before a slow SLO window's first evaluation: {', '.join(t for t, *_ in optional)}" if optional else ""
    status = passed if not errors and not empty else warned if not errors else failed
    results.insert(0, status("panels", f"{len(with_data)} of {len(answers)} panels return data through Grafana's "
                                       f"datasource proxy ({datasource.get('name')}){note}"))
    return results


def _reads_optional_metrics(expr: str, pattern, slow_records: set[str] = frozenset()) -> bool:
    from gen.promql import metric_names, parse

    try:
        names = metric_names(parse(expr))
    except ValueError:
        return False
    # GPU energy per inference divides an optional series by a required one: empty without a GPU.
    return any(pattern.match(n) or n in slow_records for n in names)


def _explainer(ctx: Context, uid: str, scrape: float):
    """Why a panel's query is empty, asked through the same datasource proxy: gen validate's
    diagnosis (a metric absent, a selector matching nothing, or no traffic)."""
    from gen.validate import live
    from gen.validate.client import Auth, PrometheusClient

    from gen.validate.client import QueryError

    credentials = ctx.grafana_credentials
    verify = ctx.grafana.session.verify
    client = PrometheusClient(f"{ctx.grafana.url}/api/datasources/proxy/uid/{uid}",
                              Auth(credentials.token, credentials.basic), verify if isinstance(verify, str) else None,
                              verify is False, ctx.options.timeout)
    live_ctx = live.Context(ctx.env, client, ctx.inventory)
    live_ctx.scrape_s = scrape

    def explain(expr: str) -> str:
        try:
            return live._explain_empty(live_ctx, expr)
        except (QueryError, UserError) as exc:
            return f"no diagnosis: {one_line(exc)}"

    return explain
