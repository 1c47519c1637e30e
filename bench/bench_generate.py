"""Benchmark `gen dashboards` and `gen --help`, each against a baseline run in the same session.

    python bench/bench_generate.py [--runs 5] [--big-runs 3] [--main-rev ee01021] [--no-growth]

Every measure pairs the tool with a baseline and runs them interleaved, run by run (the order
alternating each round), so drift on a shared machine lands on both sides of a ratio; the ratio
reported is the median of the per-round ratios. Each run is a fresh process, interpreter start-up
included, and writes into an output directory of its own that no earlier run used (all are
removed when the bench ends), after an untimed os.sync(): no run pays for what another deleted
or left unwritten (see Side). Python writes its bytecode caches as it does for a user
(PYTHONDONTWRITEBYTECODE is dropped), and each side runs once untimed first: every measured run,
of either side, reads its modules' caches instead of compiling them (main's exported gen/ and the
projects' definitions included), and today's gen its cache of attrs' generated code.

- `gen --help` against `python -c "import typer"`                  target: within 3x
- `gen dashboards` for the project as it is (2 environments)       target: under 0.5 s
- `gen dashboards`, 200 environments, against the tool as it was on main (--main-rev, exported
  with `git archive` and run with its own PYTHONPATH)                target: 2.5x faster
  Both sides run main's project (its dashboards/, alerts/ and environments.yaml, exported from
  --main-rev) expanded to 200 environments: today's dashboards read settings main's gen does not
  know (cluster_label), and today's environments.yaml has required keys main's gen refuses. Main's
  gen reads main's settings; today's gen reads the same file with the keys today requires added
  from today's `defaults` (missing keys only, recursively: alert settings the dashboards do not
  read). Their output is not byte-identical: today's dashboard JSON deliberately carries the
  fields Grafana adds when it saves a dashboard (showPercentChange, pluginVersion, ...), so the
  bench checks that both wrote the same set of files.
- `gen dashboards`, 200 environments, against bench/plain_baseline.py: the same files (checked
  byte for byte) from plain dicts written with orjson, no validation, no atomic commit
                                                                     target: within 1.5x
- growth: 50, 200 and 1000 environments, time per environment       target: linear
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
FLEET = 200
GROWTH = (50, 200, 1000)
OUT = "{out}"  # in a Side's argv: the run's own, new output directory


@dataclass
class Side:
    """One side of a comparison: a command, where it runs, and where it writes.

    Each run writes into a directory no run used before (OUT in argv stands for it), and none is
    removed until the bench ends: deleting the last run's 1,000 files just before the next run
    starts puts that deletion into the next run's fsyncs (on a filesystem mounted with `discard`,
    the freed blocks are trimmed when the journal commits). That cost belongs to the benchmark's
    loop, not to the run, and it landed only on the side that syncs what it wrote."""

    label: str
    argv: list[str]
    cwd: Path
    pythonpath: Path | None = None
    outputs: Path | None = None  # where each run's fresh output directory is made
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system seconds of the process
    runs: int = 0
    last_out: Path | None = None

    def run_once(self) -> float:
        argv = self.argv
        if self.outputs is not None:
            self.last_out = self.outputs / f"run-{self.runs}"
            argv = [str(self.last_out) if arg == OUT else arg for arg in argv]
        env = {**os.environ}
        env.pop("TRITON_OBS_SETTINGS", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if self.pythonpath is not None:
            env["PYTHONPATH"] = str(self.pythonpath)
        # What earlier runs left unwritten (the plain script syncs nothing) is written out now,
        # untimed: otherwise the next run to sync pays for it (main's os.sync() and our fsyncs).
        os.sync()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        self.runs += 1
        done = subprocess.run(argv, cwd=self.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{self.label} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
        self.samples.append(elapsed)
        return elapsed


@dataclass
class Comparison:
    name: str
    tool: Side
    base: Side
    target: str = ""
    ratios: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)

    def warm_up(self) -> None:
        """One untimed run of each side: bytecode caches written, files in the page cache."""
        for side in (self.tool, self.base):
            side.run_once()
            side.samples.pop()
            side.cpu.pop()

    def round(self, index: int) -> None:
        pair = (self.tool, self.base) if index % 2 == 0 else (self.base, self.tool)
        times = {id(side): side.run_once() for side in pair}
        self.ratios.append(times[id(self.tool)] / times[id(self.base)])
        self.cpu_ratios.append(self.tool.cpu[-1] / max(self.base.cpu[-1], 1e-6))

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.cpu_ratios)


def fleet_environments(environments: int) -> dict:
    return {
        f"cluster-{i:03d}": {
            "namespace": f"triton-{i:03d}",
            "prometheus_release": f"monitoring-{i:03d}",
            "grafana": {"folder_uid": f"triton-cluster-{i:03d}", "folder_title": f"Triton (cluster-{i:03d})"},
        }
        for i in range(environments)
    }


def make_project(root: Path, environments: int | None) -> Path:
    """Today's project, with `environments` generated clusters instead of its own (None: as is)."""
    root.mkdir(parents=True)
    shutil.copytree(REPO / "dashboards", root / "dashboards", ignore=shutil.ignore_patterns("__pycache__"))
    if (REPO / "alerts").is_dir():
        shutil.copytree(REPO / "alerts", root / "alerts", ignore=shutil.ignore_patterns("__pycache__"))
    document = yaml.safe_load((REPO / "environments.yaml").read_text())
    if environments:
        document["environments"] = fleet_environments(environments)
    (root / "environments.yaml").write_text(yaml.safe_dump(document))
    return root


def add_missing(document: dict, defaults: dict) -> dict:
    """`document` with every key of `defaults` it lacks, at every level; its own values win."""
    merged = dict(document)
    for key, value in defaults.items():
        if key not in merged:
            merged[key] = value
        elif isinstance(value, dict) and isinstance(merged[key], dict):
            merged[key] = add_missing(merged[key], value)
    return merged


def git_export(rev: str, paths: list[str], dest: Path) -> Path:
    """`paths` as they are at `rev`, without touching the repository's worktrees."""
    dest.mkdir(parents=True)
    archive = dest / "export.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(archive), rev, *paths], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()
    return dest


def make_main_projects(rev: str, tmp: Path, environments: int) -> tuple[Path, Path]:
    """Main's project at `rev` with `environments` clusters, twice: as main's gen reads it, and
    with the settings today's gen requires added from today's defaults (the same dashboards)."""
    theirs = git_export(rev, ["dashboards", "alerts", "environments.yaml"], tmp / "main-project")
    document = yaml.safe_load((theirs / "environments.yaml").read_text())
    document["environments"] = fleet_environments(environments)
    (theirs / "environments.yaml").write_text(yaml.safe_dump(document))
    ours = tmp / "main-project-today"
    shutil.copytree(theirs, ours)
    today = yaml.safe_load((REPO / "environments.yaml").read_text())
    document["defaults"] = add_missing(document.get("defaults") or {}, today.get("defaults") or {})
    (ours / "environments.yaml").write_text(yaml.safe_dump(document))
    return theirs, ours


def file_set(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def assert_same_files(ours: Path, theirs: Path) -> None:
    files = file_set(theirs)
    assert files, f"{theirs}: nothing written"
    if files != file_set(ours):
        raise SystemExit(f"{theirs} and {ours} hold different files")


def assert_identical(ours: Path, theirs: Path) -> None:
    assert_same_files(ours, theirs)
    for rel in file_set(theirs):
        if (ours / rel).read_bytes() != (theirs / rel).read_bytes():
            raise SystemExit(f"{theirs / rel} differs from the tool's output")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big-runs", type=int, default=3, help="runs for 1000 environments")
    parser.add_argument("--main-rev", default="ee01021", help="the commit that stands for today's main")
    parser.add_argument("--no-growth", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]  # what else ran: the ratios hold, the absolute times vary with it
    py = sys.executable
    gen = [py, "-m", "gen", "dashboards"]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        main_src = git_export(args.main_rev, ["gen"], tmp / "main-src")
        main_project, main_project_today = make_main_projects(args.main_rev, tmp, FLEET)
        small = make_project(tmp / "small", None)
        fleets = {n: make_project(tmp / f"fleet-{n}", n) for n in (GROWTH if not args.no_growth else (FLEET,))}
        fleet = fleets[FLEET]

        def plain(n: int, out: Path) -> Side:
            return Side(
                f"plain script, {n} envs",
                [py, str(REPO / "bench/plain_baseline.py"), str(tmp / "template.json"), "cluster-000",
                 "triton-000", str(fleets[n] / "environments.yaml"), OUT],
                tmp, outputs=out,
            )

        # The baseline's template: the tool's own output for the first environment of the fleet.
        Side("template", [*gen, "--env", "cluster-000", "--out", str(tmp / "t")], fleet, REPO).run_once()
        shutil.copy(tmp / "t/grafana/cluster-000/triton-cluster-000.json", tmp / "template.json")

        comparisons = [
            Comparison("gen --help", Side("gen --help", [py, "-m", "gen", "--help"], small, REPO),
                       Side("import typer", [py, "-c", "import typer"], small, REPO), "<= 3x"),
            Comparison("gen dashboards, 2 envs (project as is)",
                       Side("gen dashboards", [*gen, "--out", OUT], small, REPO, outputs=tmp / "runs-small"),
                       Side("python -c pass", [py, "-c", "pass"], small, REPO), "< 0.5 s"),
            Comparison(f"gen dashboards, {FLEET} envs, vs main {args.main_rev}",
                       Side("gen dashboards", [*gen, "--out", OUT], main_project_today, REPO, outputs=tmp / "runs-today"),
                       Side(f"main {args.main_rev}", [*gen, "--out", OUT], main_project, main_src, outputs=tmp / "runs-main"),
                       "<= 1/2.5 = 0.40x"),
            Comparison(f"gen dashboards, {FLEET} envs, vs plain orjson script",
                       Side("gen dashboards", [*gen, "--out", OUT], fleet, REPO, outputs=tmp / "runs-fleet"),
                       plain(FLEET, tmp / "plain"), "<= 1.5x"),
        ]
        growth = []
        if not args.no_growth:
            for n in GROWTH:
                growth.append(Comparison(
                    f"growth: {n} envs", Side("gen dashboards", [*gen, "--out", OUT], fleets[n], REPO, outputs=tmp / f"runs-{n}"),
                    plain(n, tmp / f"plain-{n}"), "linear",
                ))

        for comparison in comparisons + growth:
            comparison.warm_up()
        for index in range(args.runs):
            for comparison in comparisons:
                comparison.round(index)
            for comparison in growth:
                if comparison.name != "growth: 1000 envs" or index < args.big_runs:
                    comparison.round(index)
            print(f"round {index + 1}/{args.runs} done", file=sys.stderr)

        # Main's gen writes the files today's gen writes (not the same bytes: see the top); the
        # plain script writes the same files, byte for byte.
        assert_same_files(comparisons[2].tool.last_out, comparisons[2].base.last_out)
        plain_files = comparisons[3].base.last_out
        for rel in ("grafana", *[p.name for p in plain_files.iterdir() if p.name.startswith("cluster-")]):
            assert_identical(comparisons[3].tool.last_out / rel, plain_files / rel)

    print(f"\n{'measure':<46} {'tool':>9} {'baseline':>22} {'ratio':>7} {'cpu ratio':>9}  target")
    for c in comparisons + growth:
        tool, base = statistics.median(c.tool.samples), statistics.median(c.base.samples)
        print(f"{c.name:<46} {tool * 1000:7.0f}ms {c.base.label[:12]:>12} {base * 1000:7.0f}ms "
              f"{c.ratio:6.2f}x {c.cpu_ratio:8.2f}x  {c.target}")
    fleet_main = comparisons[2]
    print(f"\ngen dashboards, {FLEET} envs: {1 / fleet_main.ratio:.2f}x faster than main {args.main_rev} "
          f"(CPU time: {1 / fleet_main.cpu_ratio:.2f}x)")
    small_run = comparisons[1].tool
    print(f"gen dashboards, 2 envs: {statistics.median(small_run.samples):.2f} s wall, "
          f"{statistics.median(small_run.cpu):.2f} s CPU (median)")
    if growth:
        # CPU time: what the work costs, whatever else the machine runs (wall clock is in the table).
        cpu = {n: statistics.median(c.tool.cpu) for n, c in zip(GROWTH, growth)}
        base_cpu = {n: statistics.median(c.base.cpu) for n, c in zip(GROWTH, growth)}
        print("growth, CPU ms per environment (tool | plain):", ", ".join(
            f"{n}: {cpu[n] * 1000 / n:.1f} | {base_cpu[n] * 1000 / n:.1f}" for n in GROWTH))
        a, b, c = (cpu[n] for n in GROWTH)
        print(f"marginal CPU per environment: 50->200 {(b - a) * 1000 / 150:.1f} ms, "
              f"200->1000 {(c - b) * 1000 / 800:.1f} ms (equal when growth is linear)")
    print(f"(median of {args.runs} interleaved rounds, {args.big_runs} for 1000 envs; ratio = median of per-round "
          f"ratios, wall clock and CPU time; {os.cpu_count()} cores, load {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
          f"Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
