"""Step 3, Triton's metrics port: `/metrics` serves nv_inference_* for every loaded model, says so
when the series are still zero (no request yet), and tells which dashboard rows will show data
from the families present (CPU, GPU, summaries, cache)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from gen.doctor.context import Context
from gen.doctor.http import HttpClient, Unreachable
from gen.doctor.result import StepResult, failed, passed, skipped, warned

DEFAULT_METRICS_PORT = 8002
_SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
FAMILIES = {
    "CPU": re.compile(r"^nv_cpu_"),
    "GPU": re.compile(r"^nv_(gpu_|energy_)"),
    "summary latencies": re.compile(r"^nv_inference_\w+_summary_us"),
    "response cache": re.compile(r"^nv_cache_"),
}
_FAMILY_HINTS = {
    "CPU": "start Triton with --allow-cpu-metrics=true",
    "GPU": "none without a GPU; with one, --allow-gpu-metrics=true",
    "summary latencies": "optional: --metrics-config summary_latencies=true",
    "response cache": "optional: only with a response cache (--cache-config) and models that enable it",
}


def metrics_url(ctx: Context) -> str | None:
    """--metrics-url, else Triton's host on the metrics port (8002)."""
    if ctx.options.metrics_url:
        return ctx.options.metrics_url
    if not ctx.options.triton_url:
        return None
    parts = urlsplit(ctx.options.triton_url)
    host = parts.hostname or "localhost"
    netloc = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, f"{netloc}:{DEFAULT_METRICS_PORT}", "/metrics", "", ""))


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The text exposition format as family -> [(labels, value)]; comments skipped."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(match.group("labels") or "")}
        found.setdefault(match.group("name"), []).append((labels, value))
    return found


def check_endpoint(ctx: Context) -> list[StepResult]:
    url = metrics_url(ctx)
    parts = urlsplit(url)
    client = HttpClient(urlunsplit((parts.scheme, parts.netloc, "", "", "")), ctx.options.timeout)
    path = parts.path or "/metrics"
    try:
        answer = client.call("GET", path)
    except Unreachable as exc:
        return [failed("metrics port", f"no answer at {url}: {exc}",
                       "metrics are served on their own port (8002 by default; --metrics-port); pass --metrics-url, "
                       "and check that Triton runs without --allow-metrics=false")]
    if answer.status != 200:
        return [failed("metrics port", f"{url} answered HTTP {answer.status}")]
    families = parse(answer.text)
    ctx.facts.metrics = families
    triton = sorted(name for name in families if name.startswith("nv_"))
    if not triton:
        return [failed("metrics port", f"{url} serves no nv_* series",
                       "not Triton's metrics port, or Triton runs with --allow-metrics=false")]
    return [passed("metrics port", f"{url} serves {len(triton)} nv_* families")]


def _model_samples(families, model: str, family: str) -> list[float]:
    return [value for labels, value in families.get(family, []) if labels.get("model") == model]


def check_models(ctx: Context) -> list[StepResult]:
    families = ctx.facts.metrics
    if families is None:
        return [skipped("per-model series", "no metrics read")]
    models = list(ctx.facts.ready_models) or sorted(
        {labels.get("model") for labels, _ in families.get("nv_inference_count", []) if labels.get("model")})
    if not models:
        return [warned("per-model series", "no model is loaded, so no nv_inference_* series exists",
                       "load a model (gen doctor --load)")]
    results = []
    for model in models:
        obj = f"model {model}"
        counts = _model_samples(families, model, "nv_inference_count")
        success = _model_samples(families, model, "nv_inference_request_success")
        failures = _model_samples(families, model, "nv_inference_request_failure")
        if not counts and not success:
            if ctx.facts.inferred.get(model):
                results.append(failed(obj, "no nv_inference_* series, although an inference succeeded",
                                      "Triton runs with metrics off for this model, or --metrics-url is not this "
                                      "Triton's metrics port"))
            else:
                results.append(warned(obj, "no nv_inference_* series yet",
                                      "older Triton releases create per-model series at the first request: send one "
                                      "(gen doctor --infer)"))
            continue
        total = sum(success) + sum(failures)
        if total == 0:
            results.append(warned(obj, "nv_inference_* present, all zero: no request was made yet",
                                  "rate panels show 0 and ratio panels stay empty until traffic arrives; "
                                  "send one with gen doctor --infer"))
        else:
            results.append(passed(obj, f"nv_inference_* present: {sum(success):.0f} successful, "
                                       f"{sum(failures):.0f} failed requests so far"))
    return results


def _row_metrics(ctx: Context) -> dict[str, set[str]]:
    """Dashboard row title -> the Triton metrics its panels read (recorded series resolved to the
    metrics their rules read)."""
    from gen.promql import parse as parse_promql
    from gen.promql import substitute
    from gen.validate import promql_ast

    records = ctx.inventory.records(ctx.env.name)

    def metrics_of(expr: str, depth: int = 0) -> set[str]:
        try:
            ast = parse_promql(substitute(expr))
        except ValueError:
            return set()
        names: set[str] = set()
        for selector in promql_ast.selectors(ast):
            if selector.name in records and depth < 5:
                names |= metrics_of(records[selector.name], depth + 1)
            elif selector.name:
                names.add(selector.name)
        return names

    rows: dict[str, set[str]] = {}
    for dashboard in ctx.inventory.dashboards:
        if dashboard.env != ctx.env.name:
            continue
        row = "(top)"
        for panel in dashboard.panels():
            if panel.get("type") == "row":
                row = panel.get("title") or "(row)"
                rows.setdefault(row, set())
                for inner in panel.get("panels") or []:
                    for target in inner.get("targets") or []:
                        rows[row] |= metrics_of(target.get("expr") or "")
                continue
            for target in panel.get("targets") or []:
                rows.setdefault(row, set()).update(metrics_of(target.get("expr") or ""))
    return rows


def check_families(ctx: Context) -> list[StepResult]:
    families = ctx.facts.metrics
    if families is None:
        return [skipped("metric families", "no metrics read")]
    present = {name for name, samples in families.items() if samples}
    have = [f for f, pattern in FAMILIES.items() if any(pattern.match(n) for n in present)]
    lacking = [f for f in FAMILIES if f not in have]
    results = [passed("metric families", f"present: {', '.join(have) or 'none'}; absent: {', '.join(lacking) or 'none'}",
                      "; ".join(f"{f}: {_FAMILY_HINTS[f]}" for f in lacking))]
    with_data, without = [], []
    for row, needed in _row_metrics(ctx).items():
        triton_metrics = {m for m in needed if m.startswith("nv_")}
        if not triton_metrics:
            continue
        missing = sorted(m for m in triton_metrics if m not in present)
        (without if missing else with_data).append((row, missing))
    reason = f"rows with data: {', '.join(r for r, _ in with_data) or 'none'}"
    if without:
        reason += "; rows without: " + ", ".join(f"{r} (no {m[0]})" for r, m in without)
    from gen.validate.live import OPTIONAL_METRICS

    # Rows for optional features (GPU, response cache, summary latencies, first-response histogram)
    # are empty by design where the feature is off.
    optional_only = all(all(OPTIONAL_METRICS.match(name) for name in m) for _, m in without)
    status = passed if not without or optional_only else warned
    hint = "" if not without else ("expected without a GPU, a response cache or summary latencies" if optional_only
                                   else "a row without its metrics stays empty: see the absent families above")
    results.append(status("dashboard rows", reason, hint))
    return results
