"""The backtest's replay of Prometheus' alert state machine, the inlining of recorded series, and
that chunking never changes the answer."""

from __future__ import annotations

import random

import pytest

from gen.backtest.evaluate import Firing, replay, replay_all
from gen.backtest.inline import Inliner, InlineError, Recording
from gen.backtest.rules import AlertRule, RuleSet
from gen.backtest.run import QueryFailed, backtest, chunks, grid

LABELS = (("model", "a"),)


def prometheus_step_by_step(present: set[int], count: int, start: float, step: float, hold: float,
                            keep: float) -> list[Firing]:
    """A literal transcription of AlertingRule.Eval (Prometheus 2.42, rules/alerting.go) for one
    fingerprint, one evaluation at a time: the reference the run-based replay must equal."""
    alert = None  # dict(state, active_at, fired_at, keep_since)
    firings = []
    for i in range(count):
        ts = start + i * step
        if i in present:
            if alert is not None and alert["state"] != "inactive":
                pass
            else:
                alert = {"state": "pending", "active_at": ts, "fired_at": None, "keep_since": None}
            alert["keep_since"] = None
        elif alert is not None:
            keep_firing = False
            if alert["state"] == "firing" and keep > 0:
                if alert["keep_since"] is None:
                    alert["keep_since"] = ts
                if ts - alert["keep_since"] < keep:
                    keep_firing = True
            if alert["state"] == "pending":
                alert = None
                continue
            if alert["state"] != "inactive" and not keep_firing:
                if alert["state"] == "firing":
                    firings.append(Firing(LABELS, alert["fired_at"], ts))
                alert["state"] = "inactive"
            if not keep_firing:
                continue
        else:
            continue
        if alert["state"] == "pending" and ts - alert["active_at"] >= hold:
            alert["state"] = "firing"
            alert["fired_at"] = ts
    if alert is not None and alert["state"] == "firing":
        firings.append(Firing(LABELS, alert["fired_at"], start + (count - 1) * step, ongoing=True))
    return firings


@pytest.mark.parametrize("hold,keep", [(0, 0), (60, 0), (300, 0), (600, 0), (0, 120), (300, 300), (90, 150)])
def test_replay_equals_prometheus_step_by_step(hold, keep):
    rng = random.Random(hold * 1000 + keep)
    for _ in range(300):
        count = rng.randint(1, 80)
        density = rng.random()
        present = {i for i in range(count) if rng.random() < density}
        expected = prometheus_step_by_step(present, count, 1000.0, 60.0, hold, keep)
        assert replay(LABELS, sorted(present), 1000.0, 60.0, count, hold, keep) == expected, (present, count)


def test_for_fires_after_the_hold_and_resolves_when_the_condition_goes():
    # true from minute 2 to 14 (inclusive), for 5m at 1m: fires at 7, resolves at 15.
    firings = replay(LABELS, list(range(2, 15)), 0, 60, 30, 300, 0)
    assert firings == [Firing(LABELS, 7 * 60, 15 * 60)]


def test_a_gap_of_one_evaluation_resets_pending():
    # 4 true, 1 missing, 4 true: never 5 minutes in a row.
    assert replay(LABELS, [0, 1, 2, 3, 5, 6, 7, 8], 0, 60, 20, 300, 0) == []


def test_keep_firing_for_bridges_gaps_and_delays_resolution():
    present = [0, 1, 2, 5, 6]  # for 0: fires at 0; missing at 3, 4; back at 5; missing from 7
    assert replay(LABELS, present, 0, 60, 20, 0, 0) == [Firing(LABELS, 0, 180), Firing(LABELS, 300, 420)]
    # keep_firing_for 3m: the gap of 2 evaluations is bridged; resolves 3 evaluations after 7.
    assert replay(LABELS, present, 0, 60, 20, 0, 180) == [Firing(LABELS, 0, 600)]


def test_still_firing_at_the_end_is_ongoing():
    (firing,) = replay(LABELS, list(range(5, 10)), 0, 60, 10, 120, 0)
    assert firing == Firing(LABELS, 420, 540, ongoing=True)


def test_replay_all_keeps_series_apart():
    other = (("model", "b"),)
    firings = replay_all({LABELS: [0, 1, 2], other: [1, 2, 3]}, 0, 60, 10, 60, 0)
    assert [(f.labels, f.start, f.end) for f in firings] == [(LABELS, 60, 180), (other, 120, 240)]


def test_grid_and_chunks_cover_every_evaluation_once():
    first, count = grid(1001, 1000 + 3600, 60)
    assert first == 1020 and count == 60
    for size in (1, 7, 59, 60, 11000):
        covered = [i for a, b in chunks(count, size) for i in range(a, b + 1)]
        assert covered == list(range(count))
        assert all(b - a + 1 <= size for a, b in chunks(count, size))


# -- inlining ---------------------------------------------------------------------------------------

RECORDS = [
    Recording("ns_model:req:rate5m", 'sum by (namespace, model) (rate(req{namespace="n"}[5m]))'),
    Recording("ns_model:err:rate5m", 'sum by (namespace, model) (rate(err{namespace="n"}[5m]))'),
    Recording("ns_model:err:ratio", 'ns_model:err:rate5m{namespace="n"} / ns_model:req:rate5m{namespace="n"}',
              (("source", "ratio"),)),
]


def test_inlining_replaces_recorded_series_recursively_and_says_which():
    import promql_parser

    inlined = Inliner(RECORDS).inline('ns_model:err:ratio{namespace="n", model=~"a|b"} > 0.05')
    assert inlined.records == ["ns_model:err:rate5m", "ns_model:req:rate5m", "ns_model:err:ratio"]
    assert "ns_model:" not in inlined.expr
    assert 'rate(err{namespace="n"}[5m])' in inlined.expr and '"source", "ratio"' in inlined.expr
    promql_parser.parse(inlined.expr)


def test_inlining_leaves_strings_label_lists_and_other_names_alone():
    expr = 'label_replace(up, "x", "ns_model:req:rate5m", "", "") and on(instance) ns_model:req:rate5mx'
    assert Inliner(RECORDS).inline(expr).expr == expr


def test_a_range_over_a_recorded_series_becomes_a_subquery_at_its_interval():
    inlined = Inliner(RECORDS).inline("max_over_time(ns_model:req:rate5m[1h]) > 1")
    assert inlined.expr == 'max_over_time((sum by (namespace, model) (rate(req{namespace="n"}[5m])))[1h:60s]) > 1'


def test_offset_on_a_recorded_series_is_refused():
    with pytest.raises(InlineError):
        Inliner(RECORDS).inline("ns_model:req:rate5m offset 1h > 1")


# -- chunking ---------------------------------------------------------------------------------------

def fake_prometheus(limit: int | None = None):
    """A range query answered from a fixed pattern of when each series' condition holds."""
    calls = []

    def truth(expr: str, model: str, t: float) -> bool:
        seed = hash((expr, model)) % 97
        return ((int(t) // 60 + seed) % 23) < (7 + seed % 9) or (int(t) // 3600) % 5 == seed % 5

    def query(expr, start, end, step):
        points = int((end - start) // step) + 1
        calls.append((start, end, step))
        if limit and points > limit:
            raise QueryFailed("query processing would load too many samples into memory in query execution")
        matrix = []
        for model in ("a", "b", "c"):
            values = [[start + k * step, "1"] for k in range(points) if truth(expr, model, start + k * step)]
            if values:
                matrix.append({"metric": {"__name__": "x", "model": model}, "values": values})
        return matrix

    return query, calls


def _ruleset():
    alerts = [AlertRule("Fast", "g", "dev/prometheusrule-x.yaml", "x > 1", 0, 0, 60),
              AlertRule("Slow", "g", "dev/prometheusrule-x.yaml", "y > 1", 600, 0, 60),
              AlertRule("Sticky", "g", "dev/prometheusrule-x.yaml", "z > 1", 300, 900, 30),
              AlertRule("Recorded", "h", "dev/prometheusrule-x.yaml", "ns_model:err:ratio > 0.1", 120, 0, 120)]
    return RuleSet("dev", alerts, RECORDS)


def _summary(result):
    return [(a.name, a.error, [(f.labels, f.start, f.end, f.ongoing) for f in a.firings]) for a in result.alerts]


def test_the_result_is_the_same_whatever_the_chunking():
    start, end = 1_700_000_000, 1_700_000_000 + 2 * 86400
    query, calls = fake_prometheus()
    whole = backtest(_ruleset(), query, start, end, max_points=11000, concurrency=1, screen=False)
    assert len(calls) == 4 and any(a.firings for a in whole.alerts)
    assert whole.alerts[3].inlined and "ns_model" not in whole.alerts[3].run_expr
    for max_points, concurrency in ((1000, 4), (97, 8), (13, 3), (1, 2)):
        query, calls = fake_prometheus()
        chunked = backtest(_ruleset(), query, start, end, max_points=max_points, concurrency=concurrency)
        assert _summary(chunked) == _summary(whole), (max_points, concurrency)
        assert all((e - s) / st + 1 <= max_points for s, e, st in calls)


def flickering_prometheus(seed: int):
    """Conditions that hold in runs of every length, from one evaluation to hours, per series."""
    rng = random.Random(seed)
    truth: dict[str, set[int]] = {}
    for model in ("a", "b", "c", "d"):
        held, t = set(), 0
        while t < 3 * 86400 // 30:
            t += rng.choice([1, 2, 3, 7, 20, 60, 300])
            length = rng.choice([1, 1, 2, 3, 5, 9, 10, 11, 19, 20, 21, 40, 200])
            held.update(range(t, t + length))
            t += length
        truth[model] = held

    def query(expr, start, end, step):
        points = int(round((end - start) / step)) + 1
        matrix = []
        for model, held in truth.items():
            values = [[start + k * step, "1"] for k in range(points)
                      if int(round((start + k * step - 1_700_000_010) / 30)) in held]
            if values:
                matrix.append({"metric": {"model": model}, "values": values})
        return matrix

    return query


@pytest.mark.parametrize("seed", range(6))
def test_screening_gives_what_evaluating_everything_gives(seed):
    """The first pass only looks `for` apart; the replay must still equal Prometheus' evaluation at
    every step, for runs of every length around every `for`, whatever the chunking."""
    start, end = 1_700_000_010, 1_700_000_010 + 3 * 86400
    alerts = [AlertRule(f"For{hold}at{step}", "g", "dev/prometheusrule-x.yaml", f"x{hold} > 1", hold, 0, step)
              for hold in (0, 30, 59, 60, 90, 150, 300, 330, 600, 3600) for step in (30, 60)]
    rules = RuleSet("dev", alerts, [])
    everything = backtest(rules, flickering_prometheus(seed), start, end, screen=False)
    assert sum(a.count for a in everything.alerts) > 50
    for max_points in (11000, 97):
        screened = backtest(rules, flickering_prometheus(seed), start, end, max_points=max_points, concurrency=3)
        assert _summary(screened) == _summary(everything), max_points
    # Screening is what makes the long `for` cheap: far fewer evaluations asked for.
    assert screened.queries > everything.queries


def test_windows_cover_each_hit_from_the_screening_point_before_to_the_one_after():
    from gen.backtest.run import windows

    assert windows({10, 20, 50}, 10, 100) == [(0, 30), (40, 60)]
    assert windows({0, 99}, 10, 100) == [(0, 10), (89, 99)]
    assert windows(set(), 10, 100) == []


def test_a_chunk_the_server_refuses_as_too_big_is_split():
    start, end = 1_700_000_000, 1_700_000_000 + 86400
    query, _ = fake_prometheus()
    whole = backtest(_ruleset(), query, start, end)
    query, calls = fake_prometheus(limit=500)
    split = backtest(_ruleset(), query, start, end)
    assert _summary(split) == _summary(whole)
    assert split.queries == len(calls) > 4


# -- rules and the command line ---------------------------------------------------------------------

def test_a_bad_duration_names_the_file_group_alert_and_field(tmp_path):
    import yaml

    from gen.backtest.rules import load
    from gen.errors import UserError

    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/prometheusrule-x.yaml").write_text(yaml.safe_dump({"spec": {"groups": [
        {"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": "5 minutes"}]}]}}))
    with pytest.raises(UserError) as caught:
        load(tmp_path, "dev", 60)
    assert caught.value.message == "out/dev/prometheusrule-x.yaml: group g: alert A: field for: '5 minutes' is not a Prometheus duration"


def test_group_interval_for_and_keep_firing_for_are_read(tmp_path):
    import yaml

    from gen.backtest.rules import load

    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/prometheusrule-x.yaml").write_text(yaml.safe_dump({"spec": {"groups": [
        {"name": "g", "interval": "30s", "rules": [{"record": "r", "expr": "sum(up)"},
                                                   {"alert": "A", "expr": "r == 0", "for": "5m", "keep_firing_for": "1h"}]},
        {"name": "h", "rules": [{"alert": "B", "expr": "up == 0"}]}]}}))
    rules = load(tmp_path, "dev", 60)
    assert [(a.name, a.interval_s, a.for_s, a.keep_firing_for_s) for a in rules.alerts] == [
        ("A", 30, 300, 3600), ("B", 60, 0, 0)]
    assert [(r.name, r.interval_s) for r in rules.recordings] == [("r", 30)]


def test_gen_alerts_still_renders_and_backtest_is_a_subcommand(project):
    from tests.conftest import run_gen

    rendered = run_gen("alerts", "--check", cwd=project)
    assert rendered.returncode == 0 and "up to date" in rendered.stdout, rendered.stderr
    helped = run_gen("alerts", "backtest", "--help", cwd=project)
    assert helped.returncode == 0 and "--against" in helped.stdout


def test_backtest_bad_input_is_one_line_exit_2(project):
    from tests.conftest import run_gen
    from tests.stack.servers import free_port

    url = f"http://user:hunter2@127.0.0.1:{free_port()}"
    for args, needle in (([], "Prometheus is unreachable"), (["--range", "7 days"], "--range 7 days")):
        result = run_gen("alerts", "backtest", "--prometheus-url", url, "--env", "dev", *args, cwd=project)
        assert result.returncode == 2, result.stdout + result.stderr
        assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "hunter2" not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_out_at_a_git_ref_is_read_from_git_not_rendered(tmp_path):
    import subprocess

    from gen.errors import UserError
    from gen.gitref import materialize

    out = tmp_path / "repo/out"
    (out / "dev").mkdir(parents=True)
    (out / "dev/prometheusrule-a.yaml").write_text("old\n")
    (out / "dev/other.yaml").write_text("x\n")
    for argv in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a"]):
        subprocess.run(["git", *argv], cwd=out.parent, check=True, capture_output=True)
    (out / "dev/prometheusrule-a.yaml").write_text("new\n")
    copied = materialize(out, "HEAD", tmp_path / "copy", ("*/prometheusrule-*.yaml",))
    assert copied == ["dev/prometheusrule-a.yaml"]
    assert (tmp_path / "copy/dev/prometheusrule-a.yaml").read_text() == "old\n"
    for ref in ("no-such-ref", "--output=/tmp/x"):
        with pytest.raises(UserError) as caught:
            materialize(out, ref, tmp_path / "copy2", ("*",))
        assert ref in caught.value.message


# Which recorded series are read from history (gen.backtest.history).

def served(recordings, **changes) -> list[dict]:
    """/api/v1/rules groups of a server that runs `recordings`, some with another expression."""
    return [{"name": "g", "rules": [{"type": "recording", "name": r.name, "query": changes.get(r.name, r.expr),
                                     "labels": dict(r.labels)} for r in recordings]
             + [{"type": "alerting", "name": "A", "query": "up == 0"}]}]


def test_series_the_server_records_with_the_same_rules_are_read_from_history():
    from gen.backtest import history

    # Layout does not count: the server shows the expression as Prometheus prints it.
    groups = served(RECORDS, **{"ns_model:req:rate5m": 'sum by(namespace,model)(rate(req{namespace="n"}[5m]))'})
    decision = history.decide(RECORDS, groups, None, 0, 3600)
    assert decision.history == {r.name for r in RECORDS} and decision.reasons == {}
    inlined = Inliner(RECORDS, keep=decision.history).inline('ns_model:err:ratio{namespace="n"} > 0.05')
    assert inlined.expr == 'ns_model:err:ratio{namespace="n"} > 0.05'
    assert inlined.records == [] and inlined.kept == ["ns_model:err:ratio"]


def test_a_changed_rule_and_every_rule_over_it_are_inlined():
    from gen.backtest import history

    groups = served(RECORDS, **{"ns_model:err:rate5m": 'sum by (namespace, model) (rate(err{namespace="n"}[1m]))'})
    decision = history.decide(RECORDS, groups, None, 0, 3600)
    assert decision.history == {"ns_model:req:rate5m"}
    assert decision.reasons["ns_model:err:rate5m"].startswith("changed")
    assert decision.reasons["ns_model:err:ratio"] == "reads ns_model:err:rate5m, which is inlined"
    inlined = Inliner(RECORDS, keep=decision.history).inline('ns_model:err:ratio{namespace="n"} > 0.05')
    assert inlined.records == ["ns_model:err:rate5m", "ns_model:err:ratio"]
    assert inlined.kept == ["ns_model:req:rate5m"]
    assert 'rate(err{namespace="n"}[5m])' in inlined.expr and "ns_model:req:rate5m" in inlined.expr


def test_a_new_rule_or_a_server_without_rules_means_inlining():
    from gen.backtest import history

    decision = history.decide(RECORDS, served(RECORDS[:2]), None, 0, 3600)
    assert decision.history == {"ns_model:req:rate5m", "ns_model:err:rate5m"}
    assert decision.reasons == {"ns_model:err:ratio": "new: the server does not run it"}
    # Another static label is another rule.
    relabelled = [RECORDS[0], RECORDS[1], Recording(RECORDS[2].name, RECORDS[2].expr, (("source", "other"),))]
    assert "ns_model:err:ratio" in history.decide(RECORDS, served(relabelled), None, 0, 3600).reasons
    nothing = history.decide(RECORDS, None, None, 0, 3600)
    assert nothing.history == set() and set(nothing.reasons) == {r.name for r in RECORDS}


def test_history_that_does_not_hold_the_series_means_inlining():
    """A rule loaded halfway through the range: its history is empty before, so the spot check at
    the start finds no recorded series where the rule's expression gives some."""
    from gen.backtest import history

    asked = []

    def instant(expr: str, t: float) -> list[dict]:
        asked.append((expr, t))
        series = [{"metric": {"namespace": "n", "model": "a"}, "value": [t, "1"]}]
        if "ns_model:err:rate5m[" in expr and t < 1800:
            return []  # recorded only from the middle of the range on
        labels = {"source": "ratio"} if "ns_model:err:ratio[" in expr else {}
        return [{"metric": {**s["metric"], **labels}, "value": s["value"]} for s in series]

    decision = history.decide(RECORDS, served(RECORDS), instant, 0, 3600)
    assert decision.history == {"ns_model:req:rate5m"}
    assert decision.reasons["ns_model:err:rate5m"].startswith("history does not hold it at 1970-01-01 00:05:00Z")
    assert decision.reasons["ns_model:err:ratio"] == "reads ns_model:err:rate5m, which is inlined"
    # Each rule is checked with its own expression, never an inlined chain; the recorded series
    # through last_over_time, since a bare selector misses what was recorded over 5 minutes ago.
    assert all(expr.count("rate(") <= 1 for expr, _ in asked)
    assert ("last_over_time(ns_model:req:rate5m[360s])", 300) in asked
    assert decision.spot_queries == len(asked)


def test_a_failing_spot_check_means_inlining_not_an_error():
    from gen.backtest import history

    def instant(expr: str, t: float) -> list[dict]:
        raise QueryFailed("503 Service Unavailable")

    decision = history.decide(RECORDS, served(RECORDS), instant, 0, 3600)
    assert decision.history == set()
    assert decision.reasons["ns_model:req:rate5m"].startswith("history could not be checked: 503")


# The screening condition (gen.backtest.screen).

@pytest.mark.parametrize("expr,cheaper", [
    ('a > 1 and on (m) b > 2', "a > 1"),
    ("(a > 1 and b) or (c > 2 and on (m) d)", "(a > 1) or (c > 2)"),
    ("a > 1 and b unless c", "a > 1"),
    ("a unless b and c", "a unless b and c"),              # (a unless b) and c: unless first, kept
    ("(a and b) or on (m) c", "(a and b) or on (m) c"),    # or on(...) drops by signature: kept
    ("(a and b) * 2 > 1", "(a and b) * 2 > 1"),            # arithmetic over a set operation: kept
    ("x and y * 2", "x"),                                   # * binds tighter than and
    ('label_replace(a, "and", "or", "", "") > 1 and sum by (and) (b)', 'label_replace(a, "and", "or", "", "") > 1'),
    ("a > 1 # and b\n", "a > 1 # and b\n"),
    ("up == 0", "up == 0"),
])
def test_screening_drops_the_right_side_of_top_level_ands_only(expr, cheaper):
    from gen.backtest.screen import relaxed

    assert relaxed(expr) == cheaper


def test_a_screening_condition_that_does_not_parse_is_not_used():
    from gen.backtest.screen import screening_expr

    assert screening_expr('a > 1 and on (m) b') == "a > 1"
    assert screening_expr("sum(a and b") == "sum(a and b"


def test_one_name_at_two_severities_is_two_alerts_with_their_severity():
    """The availability SLO's page and ticket share a name: the table and the comparison say
    which is which (before, the comparison kept one of them, and the table two equal names)."""
    from gen.backtest import report
    from gen.backtest.run import AlertResult, BacktestResult

    def rule(expr: str, severity: str) -> AlertRule:
        return AlertRule("Burn", "g", "dev/prometheusrule-x.yaml", expr, 120, 0, 60, (("severity", severity),))

    page, ticket = rule("fast > 14.4", "critical"), rule("slow > 3", "warning")
    before = BacktestResult("dev", 0, 3600, [AlertResult(page, page.expr, fingerprint="p"),
                                            AlertResult(ticket, ticket.expr, fingerprint="t")])
    new_ticket = rule("slow > 1", "warning")
    after = BacktestResult("dev", 0, 3600, [AlertResult(page, page.expr, fingerprint="p"),
                                           AlertResult(new_ticket, new_ticket.expr, fingerprint="t2")])
    text = report.table(after)
    assert "Burn (critical)" in text and "Burn (warning)" in text
    assert [c.name for c in report.changes(before, after)] == ["Burn (warning)"]
