"""gen review against the slowest of its parts run alone, on the default project with a local
Prometheus holding a week of history (tests/stack/test_review_e2e.py's week and branch: a query
changed, a panel added, an alert's threshold lowered, a label broken).

    python bench/bench_review.py [--runs 5]

Each run times, interleaved: `gen review --against HEAD --prometheus-url URL`, and its parts alone:
`gen diff --against HEAD`, `gen alerts backtest --against HEAD`, `gen validate --prometheus-url URL`,
`gen preview --against HEAD`. The figure is review / slowest part (median of the runs); the target
is under 3.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    from tests.stack.test_review_e2e import make_branch, week_prometheus

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        work = Path(tmp)
        project = make_branch(work / "project")
        with week_prometheus(work / "prometheus") as (prom, end):
            url, end = prom.url, str(end)
            commands = {
                "review": ["review", "--against", "HEAD", "--prometheus-url", url, "--env", "dev", "--end", end,
                           "--out-dir", str(work / "review")],
                "diff": ["diff", "--against", "HEAD", "--env", "dev"],
                "backtest": ["alerts", "backtest", "--against", "HEAD", "--prometheus-url", url, "--env", "dev",
                             "--end", end, "--inline", "all"],
                "validate": ["validate", "--prometheus-url", url, "--env", "dev"],
                "preview": ["preview", "--against", "HEAD", "--prometheus-url", url, "--env", "dev", "--end", end,
                            "--out", str(work / "preview")],
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.runs):
                for name, argv in commands.items():  # interleaved: each run times every command once
                    started = time.monotonic()
                    subprocess.run([sys.executable, "-m", "gen", *argv], cwd=project, capture_output=True)
                    times[name].append(time.monotonic() - started)
    medians = {name: statistics.median(values) for name, values in times.items()}
    slowest = max((v, k) for k, v in medians.items() if k != "review")
    for name, value in medians.items():
        print(f"{name:9s} {value:7.2f} s  (runs: {', '.join(f'{v:.2f}' for v in times[name])})")
    ratio = medians["review"] / slowest[0]
    print(f"review / slowest part ({slowest[1]}): {ratio:.2f}x (target < 3)")
    return 0 if ratio < 3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
