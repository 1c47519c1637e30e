"""Benchmark `gen doctor` on a healthy local stack: a real Triton (pytriton, explicit model
control, every model loaded and receiving traffic), a real Prometheus scraping it every second with
the dev rules, and the Grafana emulator holding the pushed dashboards and a datasource proxying
to that Prometheus.

    python bench/bench_doctor.py [--runs 7]

Interleaved run by run, medians reported:
  - the full doctor (triton, metrics, prometheus, grafana; --format json), end to end as a user
    runs it, and the time it reports for itself and for each step;
  - the baseline: `gen doctor --env dev` with no source given (interpreter, imports, settings:
    what any gen command pays), so the ratio shows what the checks themselves cost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.grafana_api_emulator import GrafanaEmulator  # noqa: E402
from tests.stack import servers  # noqa: E402
from tests.stack.triton_repository_app import request_load  # noqa: E402

LABELS = {"namespace": "triton-dev", "pod": "triton-0", "service": "triton"}
TOKEN = "bench-doctor-token"
MODELS = ("simple_model", "spare_model", "mismatch_model")


@contextlib.contextmanager
def healthy_stack(workdir: Path) -> Iterator[dict]:
    """Every model loaded (mismatch_model's config fixed first) with traffic flowing; yields the
    doctor's arguments."""
    with servers.triton_repository_server(workdir / "triton") as triton:
        config = triton.workspace / "model-store" / "mismatch_model" / "config.pbtxt"
        config.write_text(config.read_text().replace("dims: [4]", "dims: [1, 4]"))
        port = int(triton.http_url.rsplit(":", 1)[1])
        for model in ("mismatch_model", "spare_model"):
            assert request_load(port, model) == 200, model
        stop = threading.Event()

        def traffic() -> None:
            while not stop.is_set():
                for model in MODELS:
                    servers.infer(triton.http_url, model, [1.0, 2.0, 3.0, 4.0])
                stop.wait(0.2)

        thread = threading.Thread(target=traffic, daemon=True)
        thread.start()
        try:
            rules = servers.rule_files_from_out(REPO / "out/dev", workdir / "rules")
            with servers.prometheus_server(workdir / "prom", [(triton.metrics_target, LABELS)], rules) as prom:
                servers.wait_for(prom.url, "namespace_model:nv_inference_request_success:rate5m > 0")
                time.sleep(4)
                with GrafanaEmulator(tokens={TOKEN: "Editor"}) as grafana:
                    grafana.datasources.add("Prometheus", prom.url, uid="prometheus-dev", is_default=True)
                    env = {**os.environ, "GRAFANA_TOKEN": TOKEN, "PYTHONPATH": str(REPO)}
                    subprocess.run([sys.executable, "-m", "gen", "push", "--env", "dev", "--grafana-url", grafana.url],
                                   cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
                    yield {"env": env, "args": [
                        "--triton-url", triton.http_url,
                        "--metrics-url", f"http://127.0.0.1:{triton.metrics_port}/metrics",
                        "--prometheus-url", prom.url, "--grafana-url", grafana.url]}
        finally:
            stop.set()
            thread.join(10)


def run(args: list[str], env: dict) -> tuple[float, dict | None]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gen", "doctor", "--env", "dev", "--format", "json", *args],
                          cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    report = json.loads(done.stdout) if done.stdout.startswith("{") else None
    return elapsed, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-doctor-"))
    try:
        with healthy_stack(tmp) as stack:
            env = {**stack["env"], "KUBECONFIG": "/nonexistent"}
            full, baseline, reported, steps = [], [], [], {}
            for _ in range(options.runs):
                seconds, report = run(stack["args"], env)
                assert report is not None and report["ok"], report
                full.append(seconds)
                reported.append(report["seconds"])
                for step in report["steps"]:
                    steps.setdefault(step["step"], []).append(step["seconds"])
                baseline.append(run([], env)[0])
            med = statistics.median
            print(f"gen doctor, all sources, healthy (CLI end to end): {med(full) * 1000:.0f} ms median of "
                  f"{options.runs}; {med(full) / med(baseline):.1f}x the baseline")
            print(f"  as reported in --format json: {med(reported) * 1000:.0f} ms; per step: " +
                  ", ".join(f"{name} {med(values) * 1000:.0f} ms" for name, values in steps.items()))
            print(f"baseline, gen doctor with no source (start-up, imports, settings): {med(baseline) * 1000:.0f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
