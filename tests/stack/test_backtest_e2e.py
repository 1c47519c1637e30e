"""`gen alerts backtest` on real history: a week of Triton metrics with known incidents, built as
OpenMetrics text, loaded with `promtool tsdb create-blocks-from openmetrics` into a real Prometheus.
The backtest must find exactly the firings the incidents imply, give the same answer whatever the
chunking, and agree with `promtool test rules` (Prometheus' own rule evaluation) on shorter windows."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.backtest_history import DAY, RULES, WEEK_START, History, at, backfill_recordings
from tests.conftest import copy_project, require_binary, run_gen
from tests.stack import servers

pytestmark = pytest.mark.e2e

WEEK_END = WEEK_START + 7 * DAY
NS = {"namespace": "triton-dev"}
# What the incidents imply (see tests/backtest_history.py for the arithmetic of each rate window):
EXPECTED = {
    # 16.7 % errors from the 2nd minute of the burst (the 5m window then holds two failing minutes)
    # to 3 minutes after it; fires after for: 10m; keep_firing_for 15m holds it after the last true.
    "ErrorRatioHigh": [({**NS, "model": "bert"}, at(1, 10, 12), at(1, 11, 4))],
    # the window's mean queue time passes 100 ms with three 200 ms minutes in it (from 14:03 to 14:42).
    "QueueTimeHigh": [({**NS, "model": "llm"}, at(3, 14, 13), at(3, 14, 43))],
    # rate is 0 once the 5m window holds no increase (03:05 to 04:00); for: 15m.
    "TrafficStopped": [({**NS, "model": "resnet"}, at(4, 3, 20), at(4, 4, 1))],
    # up is 0 from 20:00 to 20:29; for: 5m.
    "TargetDown": [({**NS, "instance": "triton-1:8002", "job": "triton", "pod": "triton-1"},
                    at(5, 20, 5), at(5, 20, 30))],
}


def _utc(t: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _week(workdir: Path) -> str:
    promtool = require_binary("promtool")
    source = workdir / "week.om"
    with open(source, "w") as handle:
        History().write_openmetrics(handle)
    done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(workdir / "data")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return promtool


@pytest.fixture(scope="module")
def history_prometheus(tmp_path_factory):
    """The week's raw series only: a server that has never run the fixture's rules."""
    workdir = tmp_path_factory.mktemp("history")
    _week(workdir)
    with servers.prometheus_server(workdir, [], []) as prom:
        servers.wait_for(prom.url, f"up @ {WEEK_END}", timeout=120)
        yield prom


@pytest.fixture(scope="module")
def recorded_prometheus(tmp_path_factory):
    """The week as a Prometheus that ran the fixture's rules all along holds it: the recorded series
    backfilled by promtool, and the rules loaded (so /api/v1/rules lists them)."""
    workdir = tmp_path_factory.mktemp("recorded")
    promtool = _week(workdir)

    @contextlib.contextmanager
    def serve():
        with servers.prometheus_server(workdir, [], []) as prom:
            servers.wait_for(prom.url, f"up @ {WEEK_END}", timeout=120)
            yield prom.url

    backfill_recordings(promtool, RULES["spec"]["groups"], workdir / "data", WEEK_START, WEEK_END, serve)
    rules_file = workdir / "rules.yaml"
    rules_file.write_text(yaml.safe_dump(RULES["spec"], sort_keys=False))
    with servers.prometheus_server(workdir, [], [rules_file]) as prom:
        servers.wait_for(prom.url, f"namespace_model:nv_inference_request_success:rate5m @ {WEEK_END}", timeout=120)
        yield prom


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The project with our own rules in out/dev (alerts/ belongs to other work; the fixture's
    names are ours), committed in a git repository for --against."""
    root = copy_project(tmp_path_factory.mktemp("backtest") / "project")
    for old in (root / "out/dev").glob("prometheusrule-*.yaml"):
        old.unlink()
    (root / "out/dev/prometheusrule-fixture.yaml").write_text(yaml.safe_dump(RULES, sort_keys=False))
    for argv in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "fixture"]):
        subprocess.run(["git", *argv], cwd=root, check=True, capture_output=True)
    return root


def backtest(url: str, project: Path, *args: str, end: int = WEEK_END, span: str = "7d") -> dict:
    result = run_gen("alerts", "backtest", "--prometheus-url", url, "--env", "dev", "--range", span, "--end", str(end),
                     "--format", "json", "--timeout", "300", *args, cwd=project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)


def firings(document: dict) -> dict:
    (env,) = document["environments"]
    return {a["name"]: [(i["labels"], i["start"], i["end"], i["ongoing"]) for i in a["intervals"]] for a in env["alerts"]}


def test_the_backtest_finds_exactly_the_incidents(history_prometheus, project):
    document = backtest(history_prometheus.url, project)
    found = firings(document)
    assert found == {name: [(labels, _utc(s), _utc(e), False) for labels, s, e in expected]
                     for name, expected in EXPECTED.items()}
    (env,) = document["environments"]
    by_name = {a["name"]: a for a in env["alerts"]}
    assert by_name["ErrorRatioHigh"]["total_seconds"] == 52 * 60
    assert by_name["ErrorRatioHigh"]["keep_firing_for_seconds"] == 900
    # History holds no recorded series at all here: the alerts ran on their recording rules' expressions.
    for name in ("ErrorRatioHigh", "QueueTimeHigh", "TrafficStopped"):
        assert by_name[name]["inlined_records"], name
        assert "namespace_model:" not in by_name[name]["run_expr"]
    assert by_name["TargetDown"]["inlined_records"] == []
    assert env["recorded_series"]["from_history"] == []
    assert set(env["recorded_series"]["inlined"].values()) == {"new: the server does not run it"}
    # One query per alert (7 days at 1m is 10,081 evaluations, under the 11,000-point limit), the
    # three with a `for` and no keep_firing_for on their screening grid, then one window around
    # each of their incidents at every evaluation.
    assert env["queries"] == 4 + 3


def test_the_result_is_the_same_whatever_the_chunking(history_prometheus, project):
    whole = backtest(history_prometheus.url, project)
    for max_points, concurrency in (("997", "4"), ("60", "8")):
        chunked = backtest(history_prometheus.url, project, "--max-points", max_points, "--concurrency", concurrency)
        assert firings(chunked) == firings(whole)
        # ErrorRatioHigh (keep_firing_for: no screening) alone takes every chunk of the week.
        assert chunked["environments"][0]["queries"] > -(-10081 // int(max_points))


def test_the_table_says_what_fired_and_that_recorded_series_were_inlined(history_prometheus, project):
    result = run_gen("alerts", "backtest", "--prometheus-url", history_prometheus.url, "--env", "dev", "--range", "7d",
                     "--end", str(WEEK_END), cwd=project)
    assert result.returncode == 0, result.stderr
    assert "4 would have fired, 4 firings" in result.stdout
    assert "ErrorRatioHigh" in result.stdout and "52 m" in result.stdout
    assert "recorded series inlined" in result.stdout


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_promtool_agrees_on_a_shorter_window(history_prometheus, project, tmp_path, name):
    """Two hours around the incident: Prometheus' own rule manager (promtool test rules) on the same
    samples must see exactly the alerts the backtest says were firing, at every minute."""
    promtool = require_binary("promtool")
    ((_, fired, _),) = EXPECTED[name]
    start = fired - 3600
    end = start + 2 * 3600
    document = backtest(history_prometheus.url, project, end=end, span="2h")
    (env,) = document["environments"]
    tests = []
    for alert in env["alerts"]:
        rule_labels = {"severity": "critical" if alert["name"] in ("TrafficStopped", "TargetDown") else "warning"}
        for minute in range(0, 121):
            t = start + minute * 60
            exp = [{"exp_labels": {**i["labels"], **rule_labels}} for i in alert["intervals"]
                   if i["start"] <= _utc(t) < i["end"] or (i["ongoing"] and i["start"] <= _utc(t))]
            tests.append({"eval_time": f"{minute}m", "alertname": alert["name"], "exp_alerts": exp})
    assert any(t["exp_alerts"] for t in tests if t["alertname"] == name)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(RULES["spec"], sort_keys=False))
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yaml"], "evaluation_interval": "1m",
        # The backtest computes a recorded series at the instant the alert reads it: the recording
        # group first. Without an order promtool runs the groups in any order, and an alert that
        # runs first reads the value recorded one evaluation earlier (as a real Prometheus may,
        # depending on the groups' phases).
        "group_eval_order": ["fixture.recording", "fixture.alerts"],
        "tests": [{"interval": "1m", "input_series": History().promtool_series(start, end),
                   "alert_rule_test": tests}]}, sort_keys=False))
    done = subprocess.run([promtool, "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_against_a_ref_shows_the_changed_alerts_old_and_new(history_prometheus, project):
    path = project / "out/dev/prometheusrule-fixture.yaml"
    original = path.read_text()
    try:
        changed = original.replace("> 0.05", "> 0.2").replace("for: 15m", "for: 20m")
        assert changed != original
        path.write_text(changed)
        document = backtest(history_prometheus.url, project, "--against", "HEAD")
        lines = {c["name"]: c["text"] for c in document["environments"][0]["against"]["changed"]}
        assert lines == {"ErrorRatioHigh": "ErrorRatioHigh: 1 firing, 52 m → 0 firings",
                         "TrafficStopped": "TrafficStopped: 1 firing, 41 m → 1 firing, 36 m"}
        result = run_gen("alerts", "backtest", "--prometheus-url", history_prometheus.url, "--env", "dev",
                         "--range", "7d", "--end", str(WEEK_END), "--against", "HEAD", cwd=project)
        assert "against HEAD: 2 alerts changed" in result.stdout
        assert "ErrorRatioHigh: 1 firing, 52 m → 0 firings" in result.stdout
    finally:
        path.write_text(original)


def test_bad_input_is_one_line_and_exit_2(history_prometheus, project):
    for args, needle in ((["--range", "seven days"], "--range seven days"), (["--against", "no-such-ref"], "no-such-ref"),
                         (["--end", "yesterday"], "--end yesterday")):
        result = run_gen("alerts", "backtest", "--prometheus-url", history_prometheus.url, "--env", "dev", *args,
                         cwd=project)
        assert result.returncode == 2, result.stdout + result.stderr
        assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def _within_evaluations(found: dict, expected: dict, evaluations: int, step: int = 60) -> None:
    import datetime as dt

    def t(text: str) -> float:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()

    assert set(found) == set(expected)
    for name, intervals in expected.items():
        assert len(found[name]) == len(intervals), (name, found[name])
        for (labels, start, end, _), (exp_labels, exp_start, exp_end) in zip(found[name], intervals):
            assert labels == exp_labels, name
            assert abs(t(start) - exp_start) <= evaluations * step, (name, start, end)
            assert abs(t(end) - exp_end) <= evaluations * step, (name, start, end)


def test_recorded_series_the_server_runs_are_read_from_history(recorded_prometheus, project):
    """The server runs the fixture's recording rules and holds their week: the alerts read the
    recorded series as they are, and fire as the inlined ones do. The recorded values were computed
    at the recording group's own instants (promtool's backfill, like a rule group, runs at a phase
    of its own), up to one evaluation before the alert's, and one more for a rule over recorded
    series: the ratio is two levels deep, so a firing may start or end two evaluations apart."""
    document = backtest(recorded_prometheus.url, project)
    (env,) = document["environments"]
    assert env["recorded_series"]["inlined"] == {}
    assert env["recorded_series"]["from_history"] == sorted(r["record"] for r in RULES["spec"]["groups"][0]["rules"])
    by_name = {a["name"]: a for a in env["alerts"]}
    assert by_name["ErrorRatioHigh"]["run_expr"] == by_name["ErrorRatioHigh"]["expr"]
    assert by_name["ErrorRatioHigh"]["history_records"] == [
        "namespace_model:nv_inference_request_failures_per_request:ratio_rate5m"]
    assert by_name["ErrorRatioHigh"]["inlined_records"] == []
    _within_evaluations(firings(document), EXPECTED, 2)
    inlined = backtest(recorded_prometheus.url, project, "--inline", "all")
    assert inlined["environments"][0]["recorded_series"]["from_history"] == []
    assert firings(inlined) == firings(backtest(recorded_prometheus.url, project, "--inline", "all", "--no-screen"))
    _within_evaluations(firings(inlined), EXPECTED, 0)
    result = run_gen("alerts", "backtest", "--prometheus-url", recorded_prometheus.url, "--env", "dev", "--range",
                     "7d", "--end", str(WEEK_END), cwd=project)
    assert ("read from history: namespace_model:nv_inference_queue_duration_us:rate5m, "
            "namespace_model:nv_inference_request_failure:rate5m, " in result.stdout), result.stdout
    assert "_success:rate5m (the server runs the same rules; their history checked at 4 instants)" in result.stdout


def test_a_changed_recording_rule_is_inlined_with_the_rules_over_it(recorded_prometheus, project):
    path = project / "out/dev/prometheusrule-fixture.yaml"
    original = path.read_text()
    try:
        changed = original.replace("rate(nv_inference_request_failure{namespace=\"triton-dev\"}[5m])",
                                   "rate(nv_inference_request_failure{namespace=\"triton-dev\"}[4m])")
        assert changed != original
        path.write_text(changed)
        document = backtest(recorded_prometheus.url, project)
    finally:
        path.write_text(original)
    recorded = document["environments"][0]["recorded_series"]
    assert recorded["inlined"] == {
        "namespace_model:nv_inference_request_failure:rate5m": "changed: the server runs 1 other definition(s) of it",
        "namespace_model:nv_inference_request_failures_per_request:ratio_rate5m":
            "reads namespace_model:nv_inference_request_failure:rate5m, which is inlined"}
    assert recorded["from_history"] == ["namespace_model:nv_inference_queue_duration_us:rate5m",
                                        "namespace_model:nv_inference_request_success:rate5m"]
    by_name = {a["name"]: a for a in document["environments"][0]["alerts"]}
    assert "[4m]" in by_name["ErrorRatioHigh"]["run_expr"]
    assert by_name["ErrorRatioHigh"]["history_records"] == ["namespace_model:nv_inference_request_success:rate5m"]


def test_screening_gives_the_answer_evaluating_everything_gives(history_prometheus, tmp_path):
    """The project's own alerts (and/or/unless, long windows, recorded series inlined) on the week:
    screened, and evaluated at every interval, they fire identically."""
    own = copy_project(tmp_path / "own")
    screened = backtest(history_prometheus.url, own)
    everything = backtest(history_prometheus.url, own, "--no-screen")
    assert firings(screened) == firings(everything)
    assert sum(len(v) for v in firings(screened).values()) >= 3
    (env,) = screened["environments"]
    assert env["queries"] != everything["environments"][0]["queries"]


@pytest.fixture(scope="module")
def absent_project(tmp_path_factory):
    """The fixture's rules and one on absence, which fires wherever the server holds no data."""
    root = copy_project(tmp_path_factory.mktemp("absent") / "project")
    for old in (root / "out/dev").glob("prometheusrule-*.yaml"):
        old.unlink()
    rules = json.loads(json.dumps(RULES))
    rules["spec"]["groups"][-1]["rules"].append(
        {"alert": "TargetsAbsent", "for": "5m", "labels": {"severity": "critical"},
         "expr": 'absent(up{namespace="triton-dev", job="triton"})'})
    (root / "out/dev/prometheusrule-fixture.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    return root


def test_a_range_starting_before_the_history_is_replayed_from_the_history(history_prometheus, absent_project):
    document = backtest(history_prometheus.url, absent_project, span="9d")
    (env,) = document["environments"]
    assert env["requested_start"] == _utc(WEEK_END - 9 * DAY)
    assert env["history_start"] == _utc(WEEK_START) and env["start"] == _utc(WEEK_START)
    found = firings(document)
    # Nothing fires in the two days the server holds nothing of: not even the rule on absence.
    assert found.pop("TargetsAbsent") == []
    assert found == {name: [(labels, _utc(s), _utc(e), False) for labels, s, e in expected]
                     for name, expected in EXPECTED.items()}
    table = run_gen("alerts", "backtest", "--prometheus-url", history_prometheus.url, "--env", "dev", "--range", "9d",
                    "--end", str(WEEK_END), cwd=absent_project)
    assert table.returncode == 0, table.stderr
    assert (f"  history: starts at {_utc(WEEK_START)}, after the range's start {_utc(WEEK_END - 9 * DAY)}: "
            "replayed from there (7 d of the 9 d asked for)") in table.stdout.splitlines()


def test_a_range_the_server_holds_nothing_of_replays_nothing(history_prometheus, absent_project):
    document = backtest(history_prometheus.url, absent_project, end=WEEK_START - DAY, span="1d")
    (env,) = document["environments"]
    assert env["history_start"] is None
    assert env["alerts"] and all(a["firings"] == 0 and a["error"] is None for a in env["alerts"])
    table = run_gen("alerts", "backtest", "--prometheus-url", history_prometheus.url, "--env", "dev", "--range", "1d",
                    "--end", str(WEEK_START - DAY), cwd=absent_project)
    assert table.returncode == 0, table.stderr
    assert 'no sample of the environment\'s series (up{namespace="triton-dev"})' in table.stdout
    assert "nothing replayed" in table.stdout
