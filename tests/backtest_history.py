"""A week of Triton metrics with known incidents, as OpenMetrics text for
`promtool tsdb create-blocks-from openmetrics`, and the same samples as `promtool test rules`
input series. Used by the backtest's end-to-end test and by bench/bench_backtest.py.

Samples every minute, on whole minutes. Every model runs on every pod at 5 requests/s per pod with
2 ms of queue time per request. Incidents (all times from the start of the week):
- error burst: model `bert` fails 1 request/s per pod (16.7 %) from day 1 10:00 to 10:45;
- overload: model `llm` queues 200 ms per request from day 3 14:00 to 14:40;
- traffic stop: model `resnet` gets no requests from day 4 03:00 to 04:00;
- pod lost: pod `triton-1` is down from day 5 20:00 to 20:30 (up 0, no Triton series), and comes
  back with its counters restarted at 0.
An incident from A to B changes the samples at minutes A+1 .. B (the increase into them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterator, TextIO

NAMESPACE = "triton-dev"
WEEK_START = int(dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc).timestamp())
STEP = 60
DAY = 86400
OK_PER_MIN = 300  # 5/s per pod
FAIL_PER_MIN = 60  # 1/s per pod during the burst
QUEUE_US = 2_000
REQUEST_US = 5_000  # compute time on top of the queue time
OVERLOAD_QUEUE_US = 200_000


FAMILIES = ["up", "nv_inference_request_success", "nv_inference_request_failure",
            "nv_inference_queue_duration_us", "nv_inference_request_duration_us"]


def at(day: int, hour: int, minute: int = 0) -> int:
    return WEEK_START + day * DAY + hour * 3600 + minute * 60


@dataclass
class History:
    models: list[str] = field(default_factory=lambda: ["bert", "llm", "resnet"])
    pods: list[str] = field(default_factory=lambda: ["triton-0", "triton-1"])
    start: int = WEEK_START
    end: int = WEEK_START + 7 * DAY
    error_burst: tuple[str, int, int] = ("bert", at(1, 10), at(1, 10, 45))
    overload: tuple[str, int, int] = ("llm", at(3, 14), at(3, 14, 40))
    traffic_stop: tuple[str, int, int] = ("resnet", at(4, 3), at(4, 4))
    pod_lost: tuple[str, int, int] = ("triton-1", at(5, 20), at(5, 20, 30))
    # nv_inference_count too (inferences, = successes here): what the dashboards' variables read.
    inference_count: bool = False

    @classmethod
    def ending(cls, end: int, **options) -> "History":
        """The same week and incidents, ending at `end` (a whole minute) instead of WEEK_START + 7d."""
        start = end - 7 * DAY
        shift = start - WEEK_START
        base = cls()
        moved = {name: (getattr(base, name)[0], getattr(base, name)[1] + shift, getattr(base, name)[2] + shift)
                 for name in ("error_burst", "overload", "traffic_stop", "pod_lost")}
        return cls(start=start, end=end, **moved, **options)

    @property
    def families(self) -> list[str]:
        return FAMILIES + (["nv_inference_count"] if self.inference_count else [])

    def times(self, start: int | None = None, end: int | None = None) -> range:
        return range(start if start is not None else self.start, (end if end is not None else self.end) + 1, STEP)

    @staticmethod
    def _in(incident: tuple[str, int, int], name: str, t: int) -> bool:
        return incident[0] == name and incident[1] < t <= incident[2]

    def down(self, pod: str, t: int) -> bool:
        return self.pod_lost[0] == pod and self.pod_lost[1] <= t < self.pod_lost[2]

    def labels(self, pod: str, model: str | None = None, **extra: str) -> str:
        pairs = {"namespace": NAMESPACE, "job": "triton", "pod": pod, "instance": f"{pod}:8002"}
        if model:
            pairs["model"] = model
        pairs.update(extra)
        return ",".join(f'{k}="{v}"' for k, v in sorted(pairs.items()))

    def series(self, start: int | None = None, end: int | None = None) -> Iterator[tuple[str, str, list]]:
        """(metric, labels, [(t, value or None when absent)]) for every series. Counters are
        computed from the start of the week, whatever window is asked for."""
        wanted = set(self.times(start, end))
        for pod in self.pods:
            yield "up", self.labels(pod), [(t, 0 if self.down(pod, t) else 1) for t in self.times(start, end)]
        for model in self.models:
            for pod in self.pods:
                counters = {"nv_inference_request_success": [], "nv_inference_request_failure": [],
                            "nv_inference_queue_duration_us": [], "nv_inference_request_duration_us": []}
                if self.inference_count:
                    counters["nv_inference_count"] = []
                ok = fail = queue = duration = 0
                for t in self.times():
                    if self.down(pod, t):
                        ok = fail = queue = duration = 0  # the pod restarts: counters from 0
                        if t in wanted:
                            for values in counters.values():
                                values.append((t, None))
                        continue
                    if t > self.start:
                        requests = 0 if self._in(self.traffic_stop, model, t) else OK_PER_MIN
                        ok += requests
                        fail += FAIL_PER_MIN if self._in(self.error_burst, model, t) else 0
                        per = OVERLOAD_QUEUE_US if self._in(self.overload, model, t) else QUEUE_US
                        queue += requests * per
                        duration += requests * (per + REQUEST_US)
                    if t in wanted:
                        counters["nv_inference_request_success"].append((t, ok))
                        counters["nv_inference_request_failure"].append((t, fail))
                        counters["nv_inference_queue_duration_us"].append((t, queue))
                        counters["nv_inference_request_duration_us"].append((t, duration))
                        if self.inference_count:
                            counters["nv_inference_count"].append((t, ok))
                for metric, values in counters.items():
                    extra = {"reason": "BACKEND"} if metric == "nv_inference_request_failure" else {}
                    yield metric, self.labels(pod, model, **extra), values

    def write_openmetrics(self, out: TextIO) -> int:
        """Families stay together (OpenMetrics requires it): one pass per family, so a large
        history streams instead of sitting in memory. Returns the number of samples."""
        count = 0
        for family in self.families:
            out.write(f"# TYPE {family} gauge\n")
            for metric, labels, values in self.series():
                if metric != family:
                    continue
                lines = [f"{metric}{{{labels}}} {v} {t}\n" for t, v in values if v is not None]
                out.writelines(lines)
                count += len(lines)
        out.write("# EOF\n")
        return count

    def write_openmetrics_windows(self, directory, window: int = 7200) -> tuple[list, int]:
        """The history as one OpenMetrics file per aligned window (promtool's 2h blocks): the
        backfiller re-reads its whole input once per block, so one file per block keeps a large
        history linear to load. Returns the files and the number of samples."""
        from pathlib import Path

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files: dict[int, TextIO] = {}
        count = 0
        try:
            for family in self.families:
                for handle in files.values():
                    handle.write(f"# TYPE {family} gauge\n")
                for metric, labels, values in self.series():
                    if metric != family:
                        continue
                    for t, v in values:
                        if v is None:
                            continue
                        key = t // window * window
                        if key not in files:
                            files[key] = open(directory / f"{key}.om", "w")
                            files[key].write(f"# TYPE {family} gauge\n")
                        files[key].write(f"{metric}{{{labels}}} {v} {t}\n")
                        count += 1
            for handle in files.values():
                handle.write("# EOF\n")
        finally:
            for handle in files.values():
                handle.close()
        return [directory / f"{key}.om" for key in sorted(files)], count

    def promtool_series(self, start: int, end: int) -> list[dict]:
        """input_series for `promtool test rules`, time 0 being `start`; `_` where absent."""
        found = []
        for metric, labels, values in self.series(start, end):
            text = " ".join("_" if v is None else str(v) for _, v in values)
            found.append({"series": f"{metric}{{{labels}}}", "values": text})
        return found


RULES = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {"name": "backtest-fixture", "namespace": "monitoring"},
    "spec": {"groups": [
        {"name": "fixture.recording", "interval": "1m", "rules": [
            {"record": "namespace_model:nv_inference_request_success:rate5m",
             "expr": f'sum by (namespace, model) (rate(nv_inference_request_success{{namespace="{NAMESPACE}"}}[5m]))'},
            {"record": "namespace_model:nv_inference_request_failure:rate5m",
             "expr": f'sum by (namespace, model) (rate(nv_inference_request_failure{{namespace="{NAMESPACE}"}}[5m]))'},
            {"record": "namespace_model:nv_inference_queue_duration_us:rate5m",
             "expr": f'sum by (namespace, model) (rate(nv_inference_queue_duration_us{{namespace="{NAMESPACE}"}}[5m]))'},
            {"record": "namespace_model:nv_inference_request_failures_per_request:ratio_rate5m",
             "expr": (f'namespace_model:nv_inference_request_failure:rate5m{{namespace="{NAMESPACE}"}}\n/\n'
                      f'(namespace_model:nv_inference_request_success:rate5m{{namespace="{NAMESPACE}"}}\n'
                      f' + namespace_model:nv_inference_request_failure:rate5m{{namespace="{NAMESPACE}"}})')},
        ]},
        {"name": "fixture.alerts", "interval": "1m", "rules": [
            {"alert": "ErrorRatioHigh", "for": "10m", "keep_firing_for": "15m", "labels": {"severity": "warning"},
             "expr": f'namespace_model:nv_inference_request_failures_per_request:ratio_rate5m{{namespace="{NAMESPACE}"}} > 0.05'},
            {"alert": "QueueTimeHigh", "for": "10m", "labels": {"severity": "warning"},
             "expr": (f'namespace_model:nv_inference_queue_duration_us:rate5m{{namespace="{NAMESPACE}"}}\n/ '
                      f'namespace_model:nv_inference_request_success:rate5m{{namespace="{NAMESPACE}"}} / 1e6 > 0.1')},
            {"alert": "TrafficStopped", "for": "15m", "labels": {"severity": "critical"},
             "expr": f'namespace_model:nv_inference_request_success:rate5m{{namespace="{NAMESPACE}"}} == 0'},
            {"alert": "TargetDown", "for": "5m", "labels": {"severity": "critical"},
             "expr": f'up{{namespace="{NAMESPACE}", job="triton"}} == 0'},
        ]},
    ]},
}


def recording_levels(groups: list[dict]) -> list[list[dict]]:
    """The recording rules of `groups` in dependency order, as rule groups per level: level 0 reads
    only raw series, level n reads recorded series of levels below n. `promtool tsdb
    create-blocks-from rules` evaluates against the server's data, so a rule that reads another
    recorded series can only be backfilled once that series' blocks are loaded."""
    import re

    rules = [(group, rule) for group in groups for rule in group.get("rules", []) if "record" in rule]
    names = {rule["record"] for _, rule in rules}
    reads = {id(rule): {name for name in names if re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", rule["expr"])}
             for _, rule in rules}
    level_of: dict[str, int] = {}
    levels: list[list[dict]] = []
    pending = list(rules)
    while pending:
        ready = [(g, r) for g, r in pending if reads[id(r)] <= set(level_of)]
        if not ready:
            raise ValueError(f"recording rules read each other in a loop: {[r['record'] for _, r in pending]}")
        level: dict[str, dict] = {}
        for group, rule in ready:
            entry = level.setdefault(group["name"], {k: v for k, v in group.items() if k != "rules"} | {"rules": []})
            entry["rules"].append(rule)
        for _, rule in ready:
            level_of[rule["record"]] = len(levels)
        levels.append(list(level.values()))
        pending = [(g, r) for g, r in pending if (g, r) not in ready]
    return levels


def backfill_recordings(promtool: str, groups: list[dict], data_dir, start: int, end: int, serve,
                        eval_interval: str = "1m") -> int:
    """Record `groups`' recording rules over [start, end] into data_dir as a Prometheus running them
    all along would have: `promtool tsdb create-blocks-from rules`, level by level (see
    recording_levels), the blocks of each level loaded before the next is evaluated.
    serve(): a context manager giving the URL of a Prometheus over data_dir. Returns the levels."""
    import shutil
    import subprocess
    from pathlib import Path

    import yaml

    data_dir = Path(data_dir)
    levels = recording_levels(groups)
    for index, level in enumerate(levels):
        rules_file = data_dir.parent / f"backfill-{index}.yaml"
        rules_file.write_text(yaml.safe_dump({"groups": level}, sort_keys=False))
        blocks = data_dir.parent / f"backfill-{index}"
        with serve() as url:
            done = subprocess.run([promtool, "tsdb", "create-blocks-from", "rules", "--quiet", "--url", url,
                                   "--start", str(start), "--end", str(end), "--output-dir", str(blocks),
                                   "--eval-interval", eval_interval, str(rules_file)],
                                  capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"promtool create-blocks-from rules: {done.stderr[-2000:]}")
        for block in blocks.iterdir():
            shutil.move(str(block), str(data_dir / block.name))
        shutil.rmtree(blocks, ignore_errors=True)
    return len(levels)
