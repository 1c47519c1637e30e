"""A local playground: a real Triton (pytriton) with traffic, a Prometheus scraping it with the
dev environment's rules, cAdvisor- and kube-state-metrics-shaped series for its pod, and the
Grafana emulator with that Prometheus as its datasource. Enough to try `gen push`, `gen diff`,
`gen doctor`, `gen preview` and `gen validate` in five minutes, without a cluster.

    uv run --locked --extra test python -m tests.playground [--grafana-version 13] [--dir DIR]

It prints each server's URL and the commands to try, then runs until Ctrl-C or SIGTERM (not tied
to stdin: it runs in the background or under nohup as well), and stops every server it started.
The Grafana token is written to DIR/grafana-token (mode 0600) and passed with --token-file:
never printed. Everything listens on 127.0.0.1, on free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

# Triton's pod as a ServiceMonitor labels it (the dev environment's namespace and pod).
LABELS = {"namespace": "triton-dev", "pod": "triton-0", "service": "triton"}
NEEDED = {"prometheus": "apt-get install -y prometheus"}


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum, _frame):
        stop.set()

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)


def _commands(triton, prom, grafana_url: str, metrics_url: str, token_file: Path) -> list[str]:
    g = f"--grafana-url {grafana_url} --token-file {token_file}"
    return [
        f"gen push {g} --env dev",
        f"gen diff {g} --env dev",
        f"gen doctor --env dev --triton-url {triton.http_url} --metrics-url {metrics_url} "
        f"--prometheus-url {prom.url} {g}",
        f"gen validate --env dev --prometheus-url {prom.url}",
        f"gen preview --env dev --prometheus-url {prom.url} --range 15m",
    ]


def run(workdir: Path, grafana_version: str, stop: threading.Event, ready=None) -> int:
    """Start everything, call ready(lines) once it all answers, serve until `stop` is set."""
    from tests.conftest import REPO
    from tests.grafana_api_emulator import GrafanaEmulator
    from tests.stack import fleet, servers

    started = time.monotonic()
    token = f"glsa_playground_{secrets.token_hex(16)}"
    token_file = workdir / "grafana-token"
    token_file.touch(mode=0o600)
    token_file.write_text(token)
    shape = fleet.KubernetesShape(LABELS["namespace"], [LABELS["pod"]])
    with contextlib.ExitStack() as stack:
        triton = stack.enter_context(servers.triton_server(workdir / "triton"))
        stack.enter_context(servers.Traffic(triton.http_url, interval=0.5))
        kubelet = stack.enter_context(fleet.metrics_endpoint(shape.text))
        kube_job = {"job_name": "kubelet", "scrape_interval": "1s", "honor_labels": True,
                    "static_configs": [{"targets": [kubelet.target]}]}
        rules = servers.rule_files_from_out(REPO / "out" / "dev", workdir / "rules")
        prom = stack.enter_context(servers.prometheus_server(
            workdir / "prometheus", [(triton.metrics_target, LABELS)], rules, extra_jobs=[kube_job]))
        servers.wait_for(prom.url, 'up{job="triton", namespace="triton-dev"} == 1', timeout=120)
        grafana = stack.enter_context(GrafanaEmulator(tokens={token: "Editor"}, version=grafana_version))
        grafana.datasources.add("Prometheus", prom.url, uid="prometheus-dev", is_default=True)
        metrics_url = f"http://{triton.metrics_target}/metrics"
        lines = [
            f"triton-obs playground ready in {time.monotonic() - started:.0f}s; Ctrl-C (or SIGTERM) stops it all",
            f"  Triton      {triton.http_url} (models simple_model, identity_model; a request every 0.5 s, "
            f"one in ten failing); metrics {metrics_url}",
            f"  Prometheus  {prom.url} (scrapes Triton and the pod's kube series every 1 s; out/dev's rules)",
            f"  Grafana     {grafana.url} (the API emulator, as Grafana {grafana_version}; datasource "
            f"prometheus-dev; its token is in {token_file})",
            f"  logs        {workdir}",
            "try, from the project:",
            *(f"  {c}" for c in _commands(triton, prom, grafana.url, metrics_url, token_file)),
        ]
        (workdir / "commands.txt").write_text("\n".join(lines[-5:]) + "\n")
        if ready is not None:
            ready(lines)
        while not stop.wait(0.5):
            pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.playground", description=__doc__.split("\n\n")[0])
    parser.add_argument("--grafana-version", default="13", choices=["11", "12", "13"],
                        help="which Grafana's API the emulator speaks (default 13)")
    parser.add_argument("--dir", type=Path, help="where logs, data and the token go (default: a new temporary folder)")
    args = parser.parse_args(argv)
    for binary, install in NEEDED.items():
        if not shutil.which(binary):
            print(f"error: {binary} is not installed ({install})", file=sys.stderr)
            return 2
    stop = threading.Event()
    _stop_on_signals(stop)
    workdir = (args.dir or Path(tempfile.mkdtemp(prefix="triton-obs-playground-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    def ready(lines: list[str]) -> None:
        print("\n".join(lines), flush=True)

    try:
        return run(workdir, args.grafana_version, stop, ready)
    except RuntimeError as exc:  # a server that would not start: its log's tail says why
        first = str(exc).splitlines()[0]
        print(f"error: {first} (logs in {workdir})", file=sys.stderr)
        return 2
    finally:
        print("playground stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
