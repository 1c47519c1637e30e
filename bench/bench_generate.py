"""Benchmark `gen dashboards` and `gen --help` against baselines measured in the same run.

    python bench/bench_generate.py [--runs 7]

- `gen --help` against `python -c pass` (the interpreter's own start-up);
- `gen dashboards` for the project as it is (2 environments);
- `gen dashboards` for a fleet of 200 environments, against bench/plain_baseline.py, which writes
  byte-identical files built from plain dicts (checked), with no grafanalib, no validation, no
  normalising and no atomic writes;
- the same fleet in-process (no interpreter start-up on either side).
Times are medians of several runs; ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
FLEET = 200


def median_time(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(*cmd: str, cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_project(root: Path, environments: int | None) -> Path:
    root.mkdir(parents=True)
    shutil.copytree(REPO / "dashboards", root / "dashboards", ignore=shutil.ignore_patterns("__pycache__"))
    if (REPO / "alerts").is_dir():
        shutil.copytree(REPO / "alerts", root / "alerts", ignore=shutil.ignore_patterns("__pycache__"))
    document = yaml.safe_load((REPO / "environments.yaml").read_text())
    if environments:
        document["environments"] = {
            f"cluster-{i:03d}": {
                "namespace": f"triton-{i:03d}",
                "prometheus_release": f"monitoring-{i:03d}",
                "grafana": {"folder_uid": f"triton-cluster-{i:03d}", "folder_title": f"Triton (cluster-{i:03d})"},
            }
            for i in range(environments)
        }
    (root / "environments.yaml").write_text(yaml.safe_dump(document))
    return root


def fresh(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    py = sys.executable
    rows = []

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small = make_project(tmp / "small", None)
        fleet = make_project(tmp / "fleet", FLEET)

        start_up = median_time(lambda: run(py, "-c", "pass", cwd=small), args.runs)
        help_time = median_time(lambda: run(py, "-m", "gen", "--help", cwd=small), args.runs)
        rows.append(("gen --help", help_time, "python -c pass", start_up))

        def small_run():
            fresh(small / "out")
            run(py, "-m", "gen", "dashboards", cwd=small)

        rows.append(("gen dashboards (2 envs)", median_time(small_run, args.runs), "python -c pass", start_up))

        # The baseline's template: the tool's own output for the first environment of the fleet.
        run(py, "-m", "gen", "dashboards", "--env", "cluster-000", cwd=fleet)
        template = fleet / "out/grafana/cluster-000/triton-cluster-000.json"
        shutil.copy(template, tmp / "template.json")

        def fleet_run():
            fresh(fleet / "out")
            run(py, "-m", "gen", "dashboards", cwd=fleet)

        def baseline_run():
            fresh(tmp / "plain")
            run(py, str(REPO / "bench/plain_baseline.py"), str(tmp / "template.json"), "cluster-000",
                "triton-000", str(fleet / "environments.yaml"), str(tmp / "plain"), cwd=tmp)

        tool = median_time(fleet_run, args.runs)
        base = median_time(baseline_run, args.runs)
        _assert_identical(fleet / "out", tmp / "plain")
        rows.append((f"gen dashboards ({FLEET} envs)", tool, "plain dicts, same files", base))

        unchanged = median_time(lambda: run(py, "-m", "gen", "dashboards", cwd=fleet), args.runs)
        rows.append((f"gen dashboards ({FLEET} envs, nothing to write)", unchanged, "plain dicts, same files", base))

        # In-process: the same work without interpreter start-up and imports on either side.
        sys.path.insert(0, str(fleet))
        from gen.render.generate import generate
        from gen.settings import load_settings

        sys.path.insert(0, str(REPO / "bench"))
        import plain_baseline

        generate(load_settings(fleet / "environments.yaml"), ["dashboards"], None, tmp / "warm", check=False)

        def tool_in_process():
            fresh(tmp / "inproc")
            generate(load_settings(fleet / "environments.yaml"), ["dashboards"], None, tmp / "inproc", check=False)

        def base_in_process():
            fresh(tmp / "plain2")
            plain_baseline.main(str(tmp / "template.json"), "cluster-000", "triton-000",
                                str(fleet / "environments.yaml"), str(tmp / "plain2"))

        rows.append((
            f"in-process, {FLEET} envs", median_time(tool_in_process, args.runs),
            "plain dicts, in-process", median_time(base_in_process, args.runs),
        ))

    print(f"{'measure':<44} {'time':>8}   {'baseline':<26} {'time':>8}  {'ratio':>6}")
    for name, value, base_name, base_value in rows:
        print(f"{name:<44} {value * 1000:7.0f}ms   {base_name:<26} {base_value * 1000:7.0f}ms  {value / base_value:5.2f}x")
    print(f"(median of {args.runs} runs, {os.cpu_count()} cores, Python {sys.version.split()[0]})")


def _assert_identical(ours: Path, plain: Path) -> None:
    files = sorted(p.relative_to(plain) for p in plain.rglob("*") if p.is_file())
    assert files, "baseline wrote nothing"
    for rel in files:
        if (ours / rel).read_bytes() != (plain / rel).read_bytes():
            raise SystemExit(f"baseline output differs from the tool's: {rel}")


if __name__ == "__main__":
    main()
