"""Benchmark the cost of one full refresh of the Triton dashboard: every panel's query over 1 h,
as Grafana sends it, measured by Prometheus itself (`stats=all`: samples read, evaluation time).

    python bench/bench_dashboard_refresh.py [--models 200] [--versions 3] [--pods 10] [--runs 3]

The data: a real Prometheus (Debian's 2.42) over a TSDB backfilled with `promtool tsdb
create-blocks-from openmetrics`: Triton's series for models x versions x pods in the dev
namespace (every per-model counter, the four failure reasons, the pending gauge, the node
gauges), `up` per pod, cAdvisor and kube-state-metrics series per pod, one sample per scrape
interval over the last 65 minutes; and the series of the recording rules the dashboard reads
(out/<env>/prometheusrule-*.yaml: one per namespace and model, one sample per evaluation
interval). The raw form of a query inlines each recorded series' rule expression.

Reported, in one run:
  - per panel query: samples read and series returned, with the recording rules (the dashboard
    as shipped) and in the raw form of the same query (each recorded series replaced by its
    rule's expression), and evaluation time (median of --runs, the two forms interleaved);
  - the totals of one refresh, both ways;
  - growth: every query with the model variable matching a quarter of the models, then all:
    samples read against series returned, to show no query's cost grows faster than its input.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gen.promql import substitute  # noqa: E402
from tests.stack import servers  # noqa: E402

NAMESPACE = "triton-dev"
COUNTERS = {
    "nv_inference_request_success": 1.0,
    "nv_inference_count": 1.0,
    "nv_inference_exec_count": 1.0,
    "nv_inference_request_duration_us": 2000.0,
    "nv_inference_queue_duration_us": 300.0,
    "nv_inference_compute_input_duration_us": 100.0,
    "nv_inference_compute_infer_duration_us": 1500.0,
    "nv_inference_compute_output_duration_us": 100.0,
}
REASONS = ("OTHER", "BACKEND", "REJECTED", "CANCELED")
FAILURE_SHARE = 0.01
SELECTOR = re.compile(r"\b([a-zA-Z_][\w:]*:[\w:]*)\{[^}]*\}")


def version_rps(version: int) -> float:
    return {1: 1.0, 2: 0.5}.get(version, 0.1)  # version 3 is a canary


def generate(path: Path, models: int, versions: int, pods: int, interval: int, start: int, end: int,
             recorded: list[str]) -> int:
    """Write the OpenMetrics file promtool backfills; returns the number of samples."""
    steps = list(range(start, end + 1, interval))
    samples = 0

    def series(handle, name: str, labels: str, values) -> None:
        nonlocal samples
        handle.write("".join(f"{name}{{{labels}}} {value:.3f} {ts}\n" for ts, value in values))
        samples += len(steps)

    def combos():
        for m in range(models):
            for v in range(1, versions + 1):
                for p in range(pods):
                    yield (f'job="triton",namespace="{NAMESPACE}",pod="triton-{p}",'
                           f'model="model-{m:03d}",version="{v}"'), version_rps(v)

    with open(path, "w", encoding="utf-8") as handle:
        for name, per_request in COUNTERS.items():
            handle.write(f"# TYPE {name} counter\n")
            for labels, rps in combos():
                series(handle, name, labels, ((ts, rps * per_request * (ts - start)) for ts in steps))
        handle.write("# TYPE nv_inference_request_failure counter\n")
        for labels, rps in combos():
            for reason in REASONS:
                share = FAILURE_SHARE if reason == "BACKEND" else 0.0
                series(handle, "nv_inference_request_failure", f'{labels},reason="{reason}"',
                       ((ts, rps * share * (ts - start)) for ts in steps))
        handle.write("# TYPE nv_inference_pending_request_count gauge\n")
        for labels, _ in combos():
            series(handle, "nv_inference_pending_request_count", labels, ((ts, 1.0) for ts in steps))
        per_pod = {"nv_cpu_utilization": 0.4, "nv_cpu_memory_total_bytes": 64e9, "nv_cpu_memory_used_bytes": 20e9,
                   "up": 1.0}
        for name, value in per_pod.items():
            handle.write(f"# TYPE {name} gauge\n")
            for p in range(pods):
                series(handle, name, f'job="triton",namespace="{NAMESPACE}",pod="triton-{p}"',
                       ((ts, value) for ts in steps))
        kube = f'job="kubelet",namespace="{NAMESPACE}",container="triton"'
        for name, kind, value in (("container_cpu_usage_seconds_total", "counter", 1.5),
                                  ("container_cpu_cfs_periods_total", "counter", 10.0),
                                  ("container_cpu_cfs_throttled_periods_total", "counter", 1.0),
                                  ("kube_pod_container_status_restarts_total", "counter", 0.0),
                                  ("container_memory_working_set_bytes", "gauge", 1.5e9)):
            handle.write(f"# TYPE {name} {kind}\n")
            for p in range(pods):
                fn = (lambda ts, v=value: v * (ts - start)) if kind == "counter" else (lambda ts, v=value: v)
                series(handle, name, f'{kube},pod="triton-{p}"', ((ts, fn(ts)) for ts in steps))
        handle.write("# TYPE kube_pod_container_resource_limits gauge\n")
        for p in range(pods):
            for resource, value in (("cpu", 2.0), ("memory", 4e9)):
                series(handle, "kube_pod_container_resource_limits", f'{kube},pod="triton-{p}",resource="{resource}"',
                       ((ts, value) for ts in steps))
        handle.write("# TYPE kube_deployment_spec_replicas gauge\n")
        series(handle, "kube_deployment_spec_replicas", f'job="kubelet",namespace="{NAMESPACE}",deployment="triton"',
               ((ts, float(pods)) for ts in steps))
        # The recording rules' series the dashboard reads, one per namespace and model and one sample
        # per evaluation interval. Their values do not change what a query reads; 1 keeps every
        # `> 0` guard open.
        for name in recorded:
            handle.write(f"# TYPE {name} gauge\n")
            for m in range(models):
                series(handle, name, f'namespace="{NAMESPACE}",model="model-{m:03d}"', ((ts, 1.0) for ts in steps))
        handle.write("# EOF\n")
    return samples


def recording_rules(rule_file: Path) -> dict[str, str]:
    """record -> expression, from the environment's rendered PrometheusRule (what Prometheus runs)."""
    import yaml

    document = yaml.safe_load(rule_file.read_text())
    return {r["record"]: r["expr"] for g in document["spec"]["groups"] for r in g["rules"] if "record" in r}


def raw_form(expr: str, records: dict[str, str]) -> str:
    """The same query without recording rules: each recorded series replaced by its rule's
    expression (itself expanded where it reads other records). The rules select the environment's
    namespace; the dashboard's matchers on a recorded series are the namespace (the same one) and
    $model, which is All (`.+`) wherever the raw form is measured."""
    def inline(match: re.Match) -> str:
        name = match.group(1)
        return f"({raw_form(records[name], records)})" if name in records else match.group(0)

    return SELECTOR.sub(inline, expr)


def panel_queries(dashboard: dict) -> list[tuple[str, str, bool, bool]]:
    """(name, expr, instant, in a collapsed row) of every panel query. Grafana runs the queries of
    a collapsed row's panels only once someone opens the row."""
    found = []
    for top in dashboard["panels"]:
        collapsed = top.get("type") == "row" and bool(top.get("collapsed"))
        for panel in [top, *(top.get("panels") or [])]:
            for target in panel.get("targets") or []:
                found.append((f"{panel['title']} / {target['refId']}", target["expr"], bool(target.get("instant")),
                              collapsed))
    return found


def run_query(url: str, expr: str, instant: bool, end: int, step: int) -> tuple[int, int, float]:
    """(samples read, series returned, evaluation seconds) as Prometheus reports them."""
    import requests

    params = {"query": expr, "stats": "all"}
    if instant:
        response = requests.get(f"{url}/api/v1/query", params={**params, "time": end}, timeout=300)
    else:
        response = requests.get(f"{url}/api/v1/query_range",
                                params={**params, "start": end - 3600, "end": end, "step": step}, timeout=300)
    body = response.json()
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body.get('error')}")
    stats = body["data"]["stats"]
    return (int(stats["samples"]["totalQueryableSamples"]), len(body["data"]["result"]),
            float(stats["timings"]["evalTotalTime"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--pods", type=int, default=10)
    parser.add_argument("--interval", type=int, default=15, help="scrape and rule evaluation interval, seconds")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dashboard", type=Path, default=REPO / "out/grafana/dev/triton-dev.json")
    parser.add_argument("--rules", type=Path, default=REPO / "out/dev/prometheusrule-triton.yaml")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-refresh-"))
    try:
        end = int(time.time()) // args.interval * args.interval - 60
        start = end - 3600 - 300  # 1 h of panels plus the 5 m the rules' windows reach back
        started = time.perf_counter()
        dashboard = json.loads(args.dashboard.read_text())
        queries = panel_queries(dashboard)
        records = recording_rules(args.rules)
        read = sorted({m.group(1) for _, expr, _, _ in queries for m in SELECTOR.finditer(expr)} & set(records))
        samples = generate(tmp / "data.om", args.models, args.versions, args.pods, args.interval, start, end, read)
        subprocess.run([shutil.which("promtool") or "promtool", "tsdb", "create-blocks-from", "openmetrics",
                        str(tmp / "data.om"), str(tmp / "prom" / "data")], check=True, stdout=subprocess.DEVNULL)
        (tmp / "data.om").unlink()
        print(f"data: {args.models} models x {args.versions} versions x {args.pods} pods, {samples:,} samples "
              f"backfilled in {time.perf_counter() - started:.0f} s")

        rate_interval = f"{4 * args.interval}s"
        macros = {"__rate_interval": rate_interval, "__interval": f"{args.interval}s", "__range": "1h",
                  "__range_s": "3600", "__range_ms": "3600000"}

        def prepared(expr: str, model: str = ".+") -> str:
            return substitute(expr, {"namespace": NAMESPACE, "model": model, "version": ".+", "cluster": ".*"}, macros)

        with servers.prometheus_server(tmp / "prom", [], interval=f"{args.interval}s") as prom:
            rows = []
            for name, expr, instant, collapsed in queries:
                recorded, raw = prepared(expr), prepared(raw_form(expr, records))
                times = {"rec": [], "raw": []}
                for _ in range(args.runs):  # interleaved: both forms under the same load
                    s_rec, n_rec, t = run_query(prom.url, recorded, instant, end, args.interval)
                    times["rec"].append(t)
                    if raw != recorded:
                        s_raw, n_raw, t = run_query(prom.url, raw, instant, end, args.interval)
                        times["raw"].append(t)
                rows.append({"query": name + (" (collapsed row)" if collapsed else ""), "collapsed": collapsed,
                             "uses_rules": raw != recorded, "samples": s_rec, "series": n_rec,
                             "seconds": statistics.median(times["rec"]),
                             "raw_samples": s_raw if raw != recorded else s_rec,
                             "raw_seconds": statistics.median(times["raw"]) if times["raw"] else None})

            print(f"\none refresh, every panel query over 1 h (step {args.interval}s, $__rate_interval "
                  f"{rate_interval}); medians of {args.runs} runs\n")
            print(f"{'query':58} {'samples':>11} {'raw form':>11} {'ratio':>7} {'series':>6} {'ms':>7} {'raw ms':>7}")
            for row in rows:
                if row["uses_rules"]:
                    ratio = row["raw_samples"] / max(row["samples"], 1)
                    print(f"{row['query'][:58]:58} {row['samples']:11,} {row['raw_samples']:11,} {ratio:6.0f}x "
                          f"{row['series']:6} {row['seconds'] * 1000:7.1f} {row['raw_seconds'] * 1000:7.1f}")
                else:
                    print(f"{row['query'][:58]:58} {row['samples']:11,} {'':>11} {'':>7} {row['series']:6} "
                          f"{row['seconds'] * 1000:7.1f}")
            ruled = [r for r in rows if r["uses_rules"]]
            opened = [r for r in rows if not r["collapsed"]]
            total = sum(r["samples"] for r in opened)
            total_raw = sum(r["raw_samples"] for r in opened)
            if ruled:
                print(f"\nqueries reading recording rules: {len(ruled)}; their samples "
                      f"{sum(r['samples'] for r in ruled):,} vs raw {sum(r['raw_samples'] for r in ruled):,} "
                      f"(smallest ratio {min(r['raw_samples'] / max(r['samples'], 1) for r in ruled):.0f}x)")
            else:
                print("\nno query reads a recording rule of this environment")
            print(f"whole refresh (collapsed rows closed): {total:,} samples in "
                  f"{sum(r['seconds'] for r in opened) * 1000:.0f} ms of evaluation with the rules; {total_raw:,} "
                  f"samples in {sum((r['raw_seconds'] or r['seconds']) for r in opened) * 1000:.0f} ms without; "
                  f"collapsed rows add {sum(r['samples'] for r in rows if r['collapsed']):,} samples when opened")

            # Growth: a quarter of the models, then all of them.
            quarter = "model-(" + "|".join(f"{m:03d}" for m in range(args.models // 4)) + ")"
            print(f"\ngrowth from {args.models // 4} to {args.models} models (x4 input series):")
            worst = 0.0
            for name, expr, instant, _ in queries:
                small = run_query(prom.url, prepared(expr, quarter), instant, end, args.interval)
                large = run_query(prom.url, prepared(expr), instant, end, args.interval)
                if not small[0]:
                    continue
                growth = large[0] / small[0]
                series_growth = large[1] / max(small[1], 1)
                worst = max(worst, growth)
                flag = "  <-- grows faster than its input" if growth > 4.4 else ""
                print(f"  {name[:58]:58} samples x{growth:5.2f}, series returned x{series_growth:5.2f}{flag}")
            print(f"largest growth of samples read: x{worst:.2f} for x4 input")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
