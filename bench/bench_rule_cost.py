"""What the rules cost Prometheus: samples read per evaluation, before and after, on a Prometheus
holding a fleet's worth of history.

    python bench/bench_rule_cost.py [--models 200] [--pods 3] [--baseline 8f2c3ed] [--env dev]

A synthetic history (every series the two rule sets read: Triton's per model and pod, the pods'
up/cAdvisor/kube-state-metrics series, and every recorded series at its group's evaluation
interval, each as far back as the longest window any rule reads it over) is backfilled into a TSDB
with `promtool tsdb create-blocks-from openmetrics`; a real Prometheus (Debian's) serves it; each
rule's expression is evaluated at the end of the history with `stats=all`, and
`totalQueryableSamples` is the number of samples it reads. Values do not change the counts, only
the number of series and their density do; counters grow so that rates and `> 0` guards select.

"Per cycle" is one evaluation of every group, with a group that has its own interval (the SLO's
day-long windows, every 5m) counted at its share of the cycles (interval / eval interval).
The baseline is the rule set of `out/<env>/prometheusrule-triton.yaml` at `--baseline` (the
commit before the SLO and alert rework), measured in the same run on the same TSDB.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.stack import servers  # noqa: E402

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
REASONS = ("BACKEND", "REJECTED", "CANCELED", "OTHER")
WINDOW = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\[(\d+[smhdw])\]")


def seconds(text: str) -> int:
    return sum(int(n) * UNITS[u] for n, u in re.findall(r"(\d+)([smhdw])", text))


def rule_groups(text: str) -> list[dict]:
    return yaml.safe_load(text)["spec"]["groups"]


def longest_windows(groups_sets: list[list[dict]]) -> dict[str, int]:
    """metric -> the longest range any expression reads it over, in seconds."""
    longest: dict[str, int] = {}
    for groups in groups_sets:
        for group in groups:
            for rule in group["rules"]:
                for metric, window in WINDOW.findall(rule["expr"]):
                    longest[metric] = max(longest.get(metric, 0), seconds(window))
    return longest


def write_history(path: Path, end: int, models: int, pods: int, namespace: str, scrape: int, evaluation: int,
                  groups_sets: list[list[dict]]) -> int:
    """OpenMetrics text with every series the rules read; returns the number of samples."""
    longest = longest_windows(groups_sets)
    margin = 600
    records: dict[str, int] = {}  # record -> its density
    for groups in groups_sets:
        for group in groups:
            for rule in group["rules"]:
                if "record" in rule:
                    records[rule["record"]] = seconds(group["interval"]) if group.get("interval") else evaluation
    # The first model is the one dev's settings give its own objectives and queue cap to, so that
    # the per-model branches read something too.
    model_names = ["simple_model", *[f"model_{i:03d}" for i in range(1, models)]]
    pod_names = [f"triton-{i}" for i in range(pods)]
    samples = 0

    with open(path, "w") as out:
        def family(metric: str, series: list[tuple[str, float]], step: int, counter: bool) -> None:
            nonlocal samples
            start = end - longest.get(metric, 0) - margin
            for labels, slope in series:
                value = 0.0
                for t in range(start, end + 1, step):
                    value = value + slope * step if counter else slope
                    out.write(f"{metric}{{{labels}}} {value:g} {t}\n")
                    samples += 1

        ns = f'namespace="{namespace}"'
        per_model_pod = [(f'{ns},pod="{p}",model="{m}",version="1"', m, p) for m in model_names for p in pod_names]
        family("nv_inference_request_success", [(labels, 10.0) for labels, _, _ in per_model_pod], scrape, True)
        family("nv_inference_request_failure",
               [(f'{labels},reason="{r}"', 0.01) for labels, _, _ in per_model_pod for r in REASONS], scrape, True)
        for metric, slope in (("nv_inference_request_duration_us", 2e5), ("nv_inference_queue_duration_us", 1e4)):
            family(metric, [(labels, slope) for labels, _, _ in per_model_pod], scrape, True)
        family("nv_inference_pending_request_count", [(labels, 2.0) for labels, _, _ in per_model_pod], scrape, False)
        per_pod = [f'{ns},pod="{p}"' for p in pod_names]
        family("up", [(f'{labels},job="triton",instance="{p}:8002"', 1.0) for labels, p in zip(per_pod, pod_names)],
               scrape, False)
        family("nv_cpu_utilization", [(labels, 0.5) for labels in per_pod], scrape, False)
        container = [f'{labels},container="triton"' for labels in per_pod]
        family("container_cpu_cfs_periods_total", [(labels, 10.0) for labels in container], scrape, True)
        family("container_cpu_cfs_throttled_periods_total", [(labels, 0.1) for labels in container], scrape, True)
        family("container_memory_working_set_bytes", [(labels, 4e9) for labels in container], scrape, False)
        family("kube_pod_container_resource_limits", [(f'{labels},resource="memory"', 8e9) for labels in container],
               scrape, False)
        family("kube_pod_container_status_restarts_total", [(labels, 0.0) for labels in container], scrape, True)
        family("kube_pod_container_status_last_terminated_reason",
               [(f'{labels},reason="OOMKilled"', 0.0) for labels in container], scrape, False)
        family("kube_deployment_spec_replicas", [(f'{ns},deployment="triton"', float(pods))], scrape, False)
        for record, density in sorted(records.items()):
            family(record, [(f'{ns},model="{m}"', 0.001) for m in model_names], density, False)
        out.write("# EOF\n")
    return samples


def query_samples(url: str, expr: str, at: int) -> int:
    params = urllib.parse.urlencode({"query": expr, "time": str(at), "stats": "all"})
    with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=300) as response:
        body = json.load(response)
    return int(body["data"]["stats"]["samples"]["totalQueryableSamples"])


def measure(url: str, groups: list[dict], at: int, evaluation: int) -> tuple[list[tuple[str, str, int]], float, int]:
    """(group, rule, samples) per rule; the mean per cycle; the worst cycle (every group at once)."""
    rows = []
    per_cycle = 0.0
    worst = 0
    for group in groups:
        share = evaluation / seconds(group["interval"]) if group.get("interval") else 1.0
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            if "alert" in rule and rule.get("labels", {}).get("burn_rate"):
                name += f" ({rule['labels']['burn_rate']})"
            count = query_samples(url, rule["expr"], at)
            rows.append((group["name"], name, count))
            per_cycle += count * share
            worst += count
    return rows, per_cycle, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--pods", type=int, default=3)
    parser.add_argument("--env", default="dev")
    parser.add_argument("--baseline", default="8f2c3ed", help="git revision of the baseline rules")
    parser.add_argument("--scrape-interval", default="15s")
    parser.add_argument("--evaluation-interval", default="30s")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    settings = yaml.safe_load((ROOT / "environments.yaml").read_text())
    namespace = settings["environments"][args.env]["namespace"]
    rules_path = f"out/{args.env}/prometheusrule-triton.yaml"
    before = rule_groups(subprocess.run(["git", "show", f"{args.baseline}:{rules_path}"], cwd=ROOT, check=True,
                                        capture_output=True, text=True).stdout)
    after = rule_groups((ROOT / rules_path).read_text())
    scrape, evaluation = seconds(args.scrape_interval), seconds(args.evaluation_interval)
    end = (int(time.time()) // 60) * 60 - 3600

    workdir = Path(tempfile.mkdtemp(prefix="bench-rule-cost-"))
    try:
        history = workdir / "history.om"
        started = time.monotonic()
        total = write_history(history, end, args.models, args.pods, namespace, scrape, evaluation, [before, after])
        data = workdir / "prom" / "data"
        data.mkdir(parents=True)
        subprocess.run([shutil.which("promtool") or "promtool", "tsdb", "create-blocks-from", "openmetrics",
                        "--max-block-duration=720h", str(history), str(data)], check=True, capture_output=True)
        history.unlink()
        print(f"history: {total:,} samples, {args.models} models x {args.pods} pods, "
              f"backfilled in {time.monotonic() - started:.0f}s", file=sys.stderr)
        config = workdir / "prom" / "prometheus.yml"
        config.write_text(yaml.safe_dump({"global": {"evaluation_interval": args.evaluation_interval}}))
        port = servers.free_port()
        argv = [servers.require_binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=90d", "--log.level=warn"]
        url = f"http://127.0.0.1:{port}"
        # The backfilled blocks are loaded when Prometheus opens the TSDB; no scraping, no rules.
        with servers.process("prometheus", argv, workdir / "prom", f"{url}/-/ready", timeout=300):
            prom = servers.PromServer(url, None)
            results = {}
            for label, groups in (("before", before), ("after", after)):
                results[label] = measure(prom.url, groups, end, evaluation)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if args.json:
        print(json.dumps({k: {"rules": v[0], "per_cycle": v[1], "worst_cycle": v[2]} for k, v in results.items()}))
        return
    titles = {"before": f"before ({args.baseline})", "after": "after (working tree)"}
    for label in ("before", "after"):
        rows, per_cycle, worst = results[label]
        print(f"\n{titles[label]}: samples read per evaluation")
        for group, name, count in rows:
            print(f"  {count:>12,}  {group:<16} {name}")
        alerts = sum(c for g, n, c in rows if n[0].isupper())
        print(f"  {'':>12}  alerts alone: {alerts:,}")
        print(f"  per evaluation cycle ({args.evaluation_interval}): {per_cycle:,.0f} on average, {worst:,} when "
              "every group runs")
    b, a = results["before"][1], results["after"][1]
    print(f"\nafter / before, per cycle: {a / b:.2f}")


if __name__ == "__main__":
    main()
