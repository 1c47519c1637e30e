"""Benchmark `gen push`: 200 dashboards to the Grafana API emulator with 20 ms per request.

    python bench/bench_push.py [--dashboards 200] [--latency-ms 20]

Measures, in one run: the first push sequentially (--concurrency 1, the baseline) and with the
default concurrency (4) and 8, each into a fresh emulator; then the number of requests and
writes of a second push with nothing changed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gen.push.client import Credentials, GrafanaClient  # noqa: E402
from gen.push.push import Options, push  # noqa: E402
from gen.settings import load_settings  # noqa: E402
from tests.grafana_api_emulator import GrafanaEmulator  # noqa: E402

TOKEN = "bench-token"


def make_out(root: Path, count: int) -> Path:
    out = root / "out"
    model = json.loads((REPO / "out/grafana/dev/triton-dev.json").read_text())
    (out / "grafana/dev").mkdir(parents=True)
    for i in range(count):
        model.update(uid=f"bench-{i:04d}", title=f"Bench dashboard {i:04d}")
        (out / f"grafana/dev/bench-{i:04d}.json").write_text(json.dumps(model, indent=2, sort_keys=True))
    return out


def one_push(settings, out: Path, grafana: GrafanaEmulator, concurrency: int):
    client = GrafanaClient(grafana.url, Credentials(token=TOKEN), pool=concurrency * 2)
    started = time.perf_counter()
    result = push(settings, [settings.environments["dev"]], out, client, Options(concurrency=concurrency))
    elapsed = time.perf_counter() - started
    assert result.ok, [o for o in result.outcomes if o.action == "error"][:1]
    return elapsed, client.counters, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dashboards", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()
    settings = load_settings(REPO / "environments.yaml")
    tmp = Path(tempfile.mkdtemp(prefix="bench-push-"))
    try:
        out = make_out(tmp, args.dashboards)
        print(f"{args.dashboards} dashboards, {args.latency_ms:g} ms per request")
        times = {}
        for concurrency in (1, 4, 8):
            with GrafanaEmulator(tokens={TOKEN: "Editor"}) as grafana:
                grafana.latency_s = args.latency_ms / 1000
                elapsed, counters, _ = one_push(settings, out, grafana, concurrency)
                times[concurrency] = elapsed
                print(f"first push, concurrency {concurrency}: {elapsed:6.2f} s, {counters.requests} requests "
                      f"({counters.writes} writes)" + ("" if concurrency == 1 else
                                                       f"  = {times[1] / elapsed:.1f}x faster than sequential"))
                if concurrency == 4:
                    grafana.reset_requests()
                    elapsed2, counters2, result = one_push(settings, out, grafana, concurrency)
                    unchanged = sum(o.action == "unchanged" for o in result.outcomes)
                    print(f"second push, nothing changed: {elapsed2:6.2f} s, {counters2.requests} requests, "
                          f"{counters2.writes} writes, {unchanged} unchanged; emulator saw "
                          f"{len(grafana.write_requests())} write requests")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
