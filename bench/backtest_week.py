"""The project's alert rules at two git refs, replayed over the week of history the backtest tests
use (tests/backtest_history.py: an error burst, an overload, a traffic stop and a lost pod), side
by side: what a change to the rules would have done last week.

    python bench/backtest_week.py --against d521f76 [--env dev] [--format table|json]

It builds the week into a real Prometheus (`promtool tsdb create-blocks-from openmetrics`), runs
`gen alerts backtest --against REF` against it from a copy of this checkout (as committed at HEAD
plus the working tree's out/), and prints the table and the run's wall time. Needs Debian's
prometheus and promtool.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.backtest_history import WEEK_START, History  # noqa: E402
from tests.stack import servers  # noqa: E402

WEEK_END = WEEK_START + 7 * 86400


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=True, help="the git ref of the old rules")
    parser.add_argument("--env", default="dev", help="the environment whose rules are replayed (the week is triton-dev's)")
    parser.add_argument("--format", default="table", choices=["table", "json"])
    args = parser.parse_args()
    promtool = shutil.which("promtool")
    if not promtool:
        print("promtool not found: apt-get install -y prometheus", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="backtest-week-") as tmp:
        work = Path(tmp)
        with open(work / "week.om", "w") as handle:
            History().write_openmetrics(handle)
        subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(work / "week.om"),
                        str(work / "data")], check=True, capture_output=True, timeout=900)
        with servers.prometheus_server(work, [], []) as prom:
            servers.wait_for(prom.url, f"up @ {WEEK_END}", timeout=120)
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "gen", "alerts", "backtest", "--prometheus-url", prom.url, "--env", args.env,
                 "--range", "7d", "--end", str(WEEK_END), "--against", args.against, "--format", args.format,
                 "--timeout", "300"], cwd=REPO, capture_output=True, text=True, timeout=1800)
            elapsed = time.monotonic() - started
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr[-3000:])
    print(f"\n(gen alerts backtest --against {args.against}: {elapsed:.1f} s wall, exit {result.returncode})",
          file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
