"""Benchmark `gen validate --prometheus-url` against a local stack: a real Triton (pytriton) and a
real Prometheus scraping it every second with the dev rules loaded.

    python bench/bench_validate.py [--runs 3]

Reports, in one run:
  - the CLI end to end on the project's out/ (dev);
  - how the live checks grow with the number of queries: out/ with 1, 2, 4 and 8 copies of the
    dev dashboard (each copy adds every panel and variable query);
  - bounded concurrency (8, the default) against sequential queries (--concurrency 1), the
    baseline, on the largest set.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gen.settings import load_settings  # noqa: E402
from gen.validate import inventory, live  # noqa: E402
from gen.validate.client import PrometheusClient  # noqa: E402
from tests.stack import servers  # noqa: E402

LABELS = {"namespace": "triton-dev", "pod": "triton-0", "service": "triton"}


def out_with_copies(root: Path, copies: int) -> Path:
    out = root / f"out-{copies}"
    if out.exists():
        return out
    shutil.copytree(REPO / "out", out, ignore=shutil.ignore_patterns(".backup"))
    model = json.loads((REPO / "out/grafana/dev/triton-dev.json").read_text())
    for i in range(1, copies):
        model.update(uid=f"triton-dev-copy{i}", title=f"Copy {i}")
        (out / f"grafana/dev/triton-dev-copy{i}.json").write_text(json.dumps(model))
    return out


def live_time(url: str, out: Path, concurrency: int, runs: int) -> tuple[float, int]:
    settings = load_settings(REPO / "environments.yaml")
    inv = inventory.load(out)
    samples, queries = [], 0
    for _ in range(runs):
        ctx = live.Context(settings.environments["dev"], PrometheusClient(url), inv, concurrency=concurrency)
        started = time.perf_counter()
        findings = live.run(ctx)
        samples.append(time.perf_counter() - started)
        queries = ctx.queries_run
        assert not [f for f in findings if f.severity == "error"], findings
    return statistics.median(samples), queries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-validate-"))
    try:
        with servers.triton_server(tmp / "triton") as triton, servers.Traffic(triton.http_url):
            rules = servers.rule_files_from_out(REPO / "out/dev", tmp / "rules")
            with servers.prometheus_server(tmp / "prom", [(triton.metrics_target, LABELS)], rules) as prom:
                servers.wait_for(prom.url, "namespace_model:nv_inference_request_failures_per_request:ratio_rate5m")
                time.sleep(5)
                cli = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "gen", "validate", "--prometheus-url", prom.url, "--env",
                                    "dev"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
                    cli.append(time.perf_counter() - started)
                print(f"gen validate --prometheus-url (CLI, dev, static + live): {statistics.median(cli) * 1000:.0f} ms")
                base = None
                for copies in (1, 2, 4, 8):
                    seconds, queries = live_time(prom.url, out_with_copies(tmp, copies), 8, args.runs)
                    base = base or seconds / queries
                    print(f"live checks, {copies} dashboard(s): {queries:4d} queries in {seconds * 1000:6.0f} ms "
                          f"= {seconds / queries * 1000:.2f} ms/query ({seconds / queries / base:.2f}x the first)")
                largest = out_with_copies(tmp, 8)
                sequential, queries = live_time(prom.url, largest, 1, args.runs)
                concurrent, _ = live_time(prom.url, largest, 8, args.runs)
                print(f"{queries} queries: sequential {sequential * 1000:.0f} ms, concurrency 8 "
                      f"{concurrent * 1000:.0f} ms = {sequential / concurrent:.1f}x faster")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
