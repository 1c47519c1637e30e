"""Benchmark `gen preview` on the Triton dashboard against a local stack: a real Triton (pytriton)
and a real Prometheus scraping it every second with the dev rules loaded.

    python bench/bench_preview.py [--runs 5]

Reports, in one run:
  - the CLI end to end (`gen preview --env dev`, every dev dashboard: queries, drawing, PNG, HTML);
  - drawing alone (the data fetched once) against the baseline, interleaved run by run: the same
    series drawn as a plain matplotlib grid of line charts (one subplot per panel, default styling)
    and saved as a PNG of the same size: what any matplotlib picture of the dashboard costs.
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

from gen.preview import data as data_mod  # noqa: E402
from gen.preview.draw import draw_dashboard, panel_box  # noqa: E402
from gen.preview.layout import layout  # noqa: E402
from gen.preview.run import Session, dashboard_range  # noqa: E402
from gen.settings import load_settings  # noqa: E402
from gen.validate import inventory  # noqa: E402
from gen.validate.client import PrometheusClient  # noqa: E402
from tests.stack import servers  # noqa: E402

LABELS = {"namespace": "triton-dev", "pod": "triton-0", "service": "triton"}


def plain(model, items, results, size, path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    FigureCanvasAgg(figure)
    cols = 3
    rows = -(-len(items) // cols)
    for i, result in enumerate(results):
        ax = figure.add_subplot(rows, cols, i + 1)
        for s in result.series:
            ax.plot(s.times, s.values)
        ax.set_title(items[i][0].panel.get("title", ""))
    figure.savefig(path, format="png")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-preview-"))
    try:
        with servers.triton_server(tmp / "triton") as triton, servers.Traffic(triton.http_url):
            rules = servers.rule_files_from_out(REPO / "out/dev", tmp / "rules")
            with servers.prometheus_server(tmp / "prom", [(triton.metrics_target, LABELS)], rules) as prom:
                servers.wait_for(prom.url, "namespace_model:nv_inference_request_failures_per_request:ratio_rate5m")
                time.sleep(30)
                cli = []
                for i in range(args.runs):
                    started = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "gen", "preview", "--prometheus-url", prom.url, "--env", "dev",
                                    "--range", "1m", "--out", str(tmp / f"site{i}")], cwd=REPO, check=True,
                                   stdout=subprocess.DEVNULL)
                    cli.append(time.perf_counter() - started)
                manifest = json.loads((tmp / "site0/preview.json").read_text())
                (entry,) = [d["after"] for d in manifest["dashboards"] if d["after"]["uid"] == "triton-dev"]
                panels = len(entry["panels"])
                print(f"gen preview (CLI, dev, {len(manifest['dashboards'])} dashboard(s), {panels} panels on "
                      f"triton-dev): {statistics.median(cli):.2f} s end to end (median of {args.runs}); "
                      f"in-process for triton-dev: {entry['seconds']:.2f} s with {entry['queries']} queries")

                settings = load_settings(REPO / "environments.yaml")
                inv = inventory.load(REPO / "out")
                (dashboard,) = [d for d in inv.dashboards if d.uid == "triton-dev"]
                session = Session(settings.environments["dev"], PrometheusClient(prom.url), inv)
                end = time.time()
                start = end - dashboard_range(dashboard.model)
                placed = layout(dashboard.model)
                items = [(p, panel_box(p)[2]) for p in placed.panels()]
                results = data_mod.fetch_all(lambda p: session.context(dashboard.model, start, end, {}), items, 8)
                ours, base = [], []
                for i in range(args.runs):
                    started = time.perf_counter()
                    draw_dashboard(dashboard.model, placed, results, start, end, tmp / "ours.png")
                    ours.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    plain(dashboard.model, items, results, placed.size_px(), tmp / "plain.png")
                    base.append(time.perf_counter() - started)
                o, b = statistics.median(ours), statistics.median(base)
                print(f"drawing triton-dev ({len(items)} panels, {placed.size_px()[0]}x{placed.size_px()[1]}): "
                      f"gen preview {o:.2f} s, plain matplotlib grid {b:.2f} s, ratio {o / b:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
