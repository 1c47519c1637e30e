"""Benchmark `gen alerts backtest`: every alert of one environment over 7 days of 200 models,
against a local Prometheus holding that week (built as OpenMetrics text, loaded with
`promtool tsdb create-blocks-from openmetrics`).

    python bench/bench_backtest.py [--models 200] [--runs 3] [--keep DIR]

The Prometheus holds the week as one that ran the environment's rules all along would: the raw
series, and the recorded series of out/dev's recording rules backfilled with `promtool tsdb
create-blocks-from rules` (level by level, as rules read each other), with those rules loaded so
/api/v1/rules lists them. Three runs of the backtest on that history, for each of which, in one
run, interleaved run by run:
  - out/dev rules, `--inline changed` (the default): the server runs them as defined, so the alerts
    read the recorded series;
  - out/dev rules, `--inline all`: every recording rule inlined, as for rules the server never ran;
  - the fixture rules of the backtest test (four alerts on recorded series the server does not
    run, so inlined);
and for each the baseline: the same range queries (the expressions as run, at the same step),
sequential, with plain requests and nothing done with the answers: the cost of reading the
history at all. Reports medians, the ratio backtest / baseline, and the number of range queries.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.backtest_history import DAY, RULES, WEEK_START, History, backfill_recordings  # noqa: E402
from tests.conftest import copy_project  # noqa: E402
from tests.stack import servers  # noqa: E402

WEEK_END = WEEK_START + 7 * DAY


def backtest_cli(url: str, project: Path, *extra: str) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gen", "alerts", "backtest", "--prometheus-url", url, "--env", "dev",
                           "--range", "7d", "--end", str(WEEK_END), "--format", "json", "--timeout", "600", *extra],
                          cwd=project, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise SystemExit(f"gen alerts backtest failed: {done.stderr.strip()}")
    document = json.loads(done.stdout)
    for alert in document["environments"][0]["alerts"]:
        if alert["error"]:
            print(f"  {alert['name']}: {alert['error']}", flush=True)
    return seconds, document


def baseline(url: str, document: dict) -> float:
    session = requests.Session()
    started = time.perf_counter()
    for alert in document["environments"][0]["alerts"]:
        step = int(alert["interval_seconds"])
        first = -(-int(WEEK_END - 7 * DAY) // step) * step
        response = session.get(f"{url}/api/v1/query_range", params={
            "query": alert["run_expr"], "start": first, "end": WEEK_END // step * step, "step": step}, timeout=600)
        if response.status_code == 503:  # the query ran out of Prometheus' time: the baseline is a floor
            print(f"  baseline: {alert['name']} timed out at the server", flush=True)
        elif response.status_code != 200:
            raise SystemExit(f"baseline: {alert['name']}: HTTP {response.status_code}: {response.text[:300]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Keep the built TSDB in this directory and reuse it next time.")
    args = parser.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench-backtest-"))
    try:
        history = History(models=[f"model-{i:03d}" for i in range(args.models - 3)] + ["bert", "llm", "resnet"],
                          pods=["triton-0"], pod_lost=("triton-0", WEEK_START + 5 * DAY + 72000,
                                                       WEEK_START + 5 * DAY + 73800))
        started = time.perf_counter()
        files, samples = ([], 0) if (tmp / "prom/data").is_dir() else history.write_openmetrics_windows(tmp / "om")
        built = time.perf_counter() - started
        started = time.perf_counter()
        for path in files:
            subprocess.run([shutil.which("promtool"), "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                            str(path), str(tmp / "prom" / "data")], check=True, capture_output=True)
            path.unlink()
        loaded = time.perf_counter() - started
        if files:
            print(f"history: {args.models} models x 7 days at 1m, {samples:,} samples; OpenMetrics written in "
                  f"{built:.1f} s, {len(files)} blocks created in {loaded:.1f} s", flush=True)
        else:
            print(f"history: reused from {tmp / 'prom/data'}", flush=True)
        for name in ("own", "fixture"):
            shutil.rmtree(tmp / name, ignore_errors=True)
        own = copy_project(tmp / "own")
        fixture = copy_project(tmp / "fixture")
        for old in (fixture / "out/dev").glob("prometheusrule-*.yaml"):
            old.unlink()
        (fixture / "out/dev/prometheusrule-fixture.yaml").write_text(yaml.safe_dump(RULES, sort_keys=False))
        groups = yaml.safe_load((own / "out/dev/prometheusrule-triton.yaml").read_text())["spec"]["groups"]
        rules_file = tmp / "prom" / "rules.yaml"
        if not (tmp / "prom" / "recorded").exists():
            @contextlib.contextmanager
            def serve():
                with servers.prometheus_server(tmp / "prom", [], []) as prom:
                    servers.wait_for(prom.url, f"up @ {WEEK_END}", timeout=300)
                    yield prom.url

            started = time.perf_counter()
            levels = backfill_recordings(shutil.which("promtool"), groups, tmp / "prom" / "data", WEEK_START,
                                         WEEK_END, serve)
            (tmp / "prom" / "recorded").write_text("yes")
            print(f"recorded series of out/dev backfilled in {levels} levels in {time.perf_counter() - started:.0f} s",
                  flush=True)
        rules_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        with servers.prometheus_server(tmp / "prom", [], [rules_file]) as prom:
            servers.wait_for(prom.url, f"up @ {WEEK_END}", timeout=300)
            # --inline all costs minutes a run: one run, after the others have warmed the page cache.
            for name, project, extra, runs in (
                    ("out/dev rules, recorded series from history", own, (), args.runs),
                    ("fixture rules (recorded series inlined)", fixture, (), args.runs),
                    ("out/dev rules, --inline all", own, ("--inline", "all"), 1)):
                cli, base, queries, alerts, fired = [], [], 0, 0, 0
                if runs > 1:
                    backtest_cli(prom.url, project, *extra)  # warm the page cache once
                for _ in range(runs):
                    seconds, document = backtest_cli(prom.url, project, *extra)
                    cli.append(seconds)
                    base.append(baseline(prom.url, document))
                    env = document["environments"][0]
                    queries, alerts = env["queries"], len(env["alerts"])
                    fired = sum(a["firings"] for a in env["alerts"])
                c, b = statistics.median(cli), statistics.median(base)
                print(f"{name}: {alerts} alerts, {queries} range queries, {fired} firings; "
                      f"gen alerts backtest {c:.2f} s, baseline (same queries, sequential, answers unread) {b:.2f} s, "
                      f"ratio {c / b:.2f}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
