"""Benchmark `gen push`: 200 dashboards to the Grafana API emulator with 20 ms per request, on
each API: the legacy API (emulated Grafana 11) and the resource API (emulated Grafana 13,
dashboard.grafana.app/v1).

    python bench/bench_push.py [--dashboards 200] [--latency-ms 20] [--runs 3]

The emulator runs in a process of its own (as Grafana would), so its work is not counted as ours.
Per run and API, interleaved: the first push sequentially (--concurrency 1, the baseline), then
with 4 and with the default concurrency (8), each into a fresh emulator; then a re-push with
nothing changed (its requests and writes). Figures are medians over the runs; the ratio is
against the sequential first push of the same run. gen's own CPU time and the emulator's are
printed too: on a loaded machine the emulator (one Python process) is the bound.
Targets: the re-push makes no write and at most one read per dashboard; the first push at the
default concurrency takes under 1/4 of the sequential time.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
from contextlib import contextmanager
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gen.push.client import Credentials, GrafanaClient  # noqa: E402
from gen.push.discovery import discover  # noqa: E402
from gen.push.push import Options, push  # noqa: E402
from gen.settings import load_settings  # noqa: E402

TOKEN = "bench-token"
DEFAULT_CONCURRENCY = 8
APIS = {"legacy": "11", "resource": "13"}
OUR_CPU: list[float] = []  # CPU seconds of gen push per push (all its threads)


def make_out(root: Path, count: int) -> Path:
    out = root / "out"
    model = json.loads((REPO / "out/grafana/dev/triton-dev.json").read_text())
    (out / "grafana/dev").mkdir(parents=True)
    for i in range(count):
        model.update(uid=f"bench-{i:04d}", title=f"Bench dashboard {i:04d}")
        (out / f"grafana/dev/bench-{i:04d}.json").write_text(json.dumps(model, indent=2, sort_keys=True))
    return out


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def emulator(version: str, latency_ms: float):
    """The emulator in a child process; yields its URL, and always stops it."""
    process = subprocess.Popen([sys.executable, "-m", "tests.grafana_api_emulator", "--version", version,
                                "--token", TOKEN, "--latency-ms", str(latency_ms)],
                               cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def one_push(settings, out: Path, url: str, concurrency: int):
    client = GrafanaClient(url, Credentials(token=TOKEN), pool=concurrency * 2)
    cpu = time.process_time()
    started = time.perf_counter()
    target = discover(client)
    result = push(settings, [settings.environments["dev"]], out, client, Options(concurrency=concurrency), target)
    elapsed = time.perf_counter() - started
    OUR_CPU.append(time.process_time() - cpu)
    assert result.ok, [o for o in result.outcomes if o.action == "error"][:1]
    return elapsed, client.counters, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dashboards", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings(REPO / "environments.yaml")
    tmp = Path(tempfile.mkdtemp(prefix="bench-push-"))
    figures: dict[tuple[str, str], list[float]] = {}
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    try:
        out = make_out(tmp, args.dashboards)
        print(f"{args.dashboards} dashboards, {args.latency_ms:g} ms per request, {args.runs} runs (medians)")
        for _ in range(args.runs):
            for api, version in APIS.items():
                for concurrency in (1, 4, DEFAULT_CONCURRENCY):
                    emulator_cpu = children_cpu()
                    with emulator(version, args.latency_ms) as url:
                        elapsed, counters, _ = one_push(settings, out, url, concurrency)
                        figures.setdefault((api, f"cpu c{concurrency}"), []).append(OUR_CPU[-1])
                        figures.setdefault((api, f"first c{concurrency}"), []).append(elapsed)
                        counts[(api, f"first c{concurrency}")] = (counters.requests, counters.writes)
                        if concurrency == DEFAULT_CONCURRENCY:
                            elapsed, counters, result = one_push(settings, out, url, concurrency)
                            assert all(o.action == "unchanged" for o in result.outcomes)
                            assert counters.writes == 0
                            figures.setdefault((api, "re-push"), []).append(elapsed)
                            figures.setdefault((api, "cpu re-push"), []).append(OUR_CPU[-1])
                            counts[(api, "re-push")] = (counters.requests, counters.writes)
                    figures.setdefault((api, f"emulator c{concurrency}"), []).append(children_cpu() - emulator_cpu)
        for api in APIS:
            sequential = statistics.median(figures[(api, "first c1")])
            print(f"\n{api} API (emulated Grafana {APIS[api]}):")
            for label in ("first c1", "first c4", f"first c{DEFAULT_CONCURRENCY}", "re-push"):
                median = statistics.median(figures[(api, label)])
                requests, writes = counts[(api, label)]
                ratio = "" if label == "first c1" else f"  = {median / sequential:.2f} of sequential"
                name = {"first c1": "first push, sequential (baseline)", "re-push": "re-push, nothing changed",
                        f"first c{DEFAULT_CONCURRENCY}": f"first push, concurrency {DEFAULT_CONCURRENCY} (default)"}.get(
                    label, f"first push, concurrency {label[7:]}")
                cpu = statistics.median(figures[(api, f"cpu {label.removeprefix('first ')}")])
                print(f"  {name:36s} {median:6.2f} s  {requests:4d} requests ({writes} writes){ratio}; "
                      f"gen's CPU {cpu:.2f} s")
            emulator_cpu = statistics.median(figures[(api, f"emulator c{DEFAULT_CONCURRENCY}")])
            print(f"  emulator CPU for the default-concurrency first push and re-push: {emulator_cpu:.2f} s "
                  "(one Python process: it bounds how much concurrency can gain here)")
            requests, writes = counts[(api, "re-push")]
            print(f"  re-push reads per dashboard: {(requests - writes) / args.dashboards:.3f} "
                  f"(all requests, discovery and folder checks included)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
