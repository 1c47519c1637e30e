"""The availability SLO of every model, as Sloth and Pyrra generate it from a spec: error-ratio
recording rules per window and multi-window, multi-burn-rate alerts (Google SRE workbook, ch. 5).

The windows and budget fractions are data, written once; the factors follow from the SLO window
(for 30 days: 14.4 = 2 % of the budget in 1 h, 6 = 5 % in 6 h, 3 = 10 % in 1 d, 1 = 10 % in 3 d).

What is better for Triton than a generic spec:
- errors are `nv_inference_request_failure` without `reason="CANCELED"` (a client giving up is not
  the server failing); requests are successes plus those errors;
- every ratio divides by `(requests > 0)`: a model without traffic has no ratio, so no burn;
- the windows are computed from the recorded 5 m rates (`sum_over_time`), not from the raw
  counters of every pod and reason: a 6 h window reads 2 recorded series per model instead of
  (pods x reasons) raw ones; the day-long windows read hourly rates recorded every 5 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts._rules import Alert, Group, Recording, by, model_regex, number, runbook, seconds, selector, where
from gen.settings import Environment

# Recorded per-model rates over 5m (triton.recording) that everything here reads.
ERROR_RATE = "namespace_model:nv_inference_request_errors:rate5m"
REQUEST_RATE = "namespace_model:nv_inference_requests:rate5m"
# Hourly means, recorded every LONG_INTERVAL, for the day-long windows.
ERROR_RATE_1H = "namespace_model:nv_inference_request_errors:rate1h"
REQUEST_RATE_1H = "namespace_model:nv_inference_requests:rate1h"
# 1 - objective: the error ratio the objective allows.
BUDGET = "namespace_model:nv_inference_request_errors:slo_budget_ratio"

# Where each window's ratio is recorded, and how often: a window is re-evaluated about as often as
# its detection needs, so that the long ones do not re-read hours of samples every 30 seconds
# (bench/bench_rule_cost.py). The page's short windows run at the global interval; 2h and 6h
# (a short window of the tickets, the long one of the 6x page) every 5 minutes; the tickets' long
# windows and the budget over the whole SLO window hourly.
FAST_WINDOWS = ["5m", "30m", "1h"]  # from the 5m rates, every evaluation
LONG_INTERVAL = "5m"
LONG_WINDOWS = ["2h", "6h"]  # from the 5m rates, every LONG_INTERVAL
DAY_WINDOWS = ["1d"]  # from the hourly rates, every LONG_INTERVAL
BUDGET_INTERVAL = "1h"
BUDGET_WINDOWS = ["3d"]  # and the SLO window, from the hourly rates, every BUDGET_INTERVAL


def interval_of(window: str) -> str | None:
    """The interval of the group that records a window's ratio (None: the global one)."""
    if window in LONG_WINDOWS or window in DAY_WINDOWS:
        return LONG_INTERVAL
    if window in FAST_WINDOWS:
        return None
    return BUDGET_INTERVAL


@dataclass(frozen=True)
class BurnRate:
    long: str
    short: str
    budget_fraction: float  # of the whole window's budget spent within `long`

    def factor(self, slo_window: str) -> float:
        return round(self.budget_fraction * seconds(slo_window) / seconds(self.long), 4)


# (setting, [window pairs]): the page fires on either pair, the ticket likewise.
PAGE = ("slo_page", [BurnRate("1h", "5m", 0.02), BurnRate("6h", "30m", 0.05)])
TICKET = ("slo_ticket", [BurnRate("1d", "2h", 0.10), BurnRate("3d", "6h", 0.10)])


def ratio(window: str) -> str:
    return f"namespace_model:nv_inference_request_errors:ratio_rate{window}"


def budget_remaining(env: Environment) -> str:
    return f"namespace_model:nv_inference_request_errors:slo_budget_remaining{env.slo.window}"


def recording(env: Environment) -> list[Group]:
    ns = selector(env)
    keys = by(env, "model")

    def over(window: str, errors: str, requests: str) -> str:
        return (f"sum by ({keys}) (sum_over_time({errors}{ns}[{window}]))\n/\n"
                f"(sum by ({keys}) (sum_over_time({requests}{ns}[{window}])) > 0)")

    # The objective of each model seen (per-model overrides in `models:`), as a series the
    # alerts divide by: one rule set for any number of objectives.
    overrides = {m: s.availability for m, s in env.models.items() if s.availability is not None}
    default = _with(ns, f'model!~"{model_regex(list(overrides))}"') if overrides else ns
    branches = [f"(1 - {number(env.slo.availability)}) * group by ({keys}) ({REQUEST_RATE}{default})"]
    for model, objective in sorted(overrides.items()):
        branches.append(
            f"(1 - {number(objective)}) * group by ({keys}) ({REQUEST_RATE}{selector(env, model=model)})"
        )
    budget = "\nor\n".join(branches)

    fast = [Recording(ratio("5m"), f"{ERROR_RATE}{ns}\n/\n({REQUEST_RATE}{ns} > 0)")]
    fast += [Recording(ratio(w), over(w, ERROR_RATE, REQUEST_RATE)) for w in FAST_WINDOWS[1:]]
    fast.append(Recording(BUDGET, budget))
    slow = [
        *[Recording(ratio(w), over(w, ERROR_RATE, REQUEST_RATE)) for w in LONG_WINDOWS],
        Recording(ERROR_RATE_1H, f"avg_over_time({ERROR_RATE}{ns}[1h])"),
        Recording(REQUEST_RATE_1H, f"avg_over_time({REQUEST_RATE}{ns}[1h])"),
        *[Recording(ratio(w), over(w, ERROR_RATE_1H, REQUEST_RATE_1H)) for w in DAY_WINDOWS],
    ]
    budget_left = [
        *[Recording(ratio(w), over(w, ERROR_RATE_1H, REQUEST_RATE_1H)) for w in [*BUDGET_WINDOWS, env.slo.window]],
        Recording(budget_remaining(env), f"1 - {ratio(env.slo.window)}{ns} / on ({keys}) {BUDGET}{ns}"),
    ]
    return [
        Group("triton.slo", fast),
        Group("triton.slo.long", slow, interval=LONG_INTERVAL),
        Group("triton.slo.budget", budget_left, interval=BUDGET_INTERVAL),
    ]


def _with(ns_selector: str, matcher: str) -> str:
    return ns_selector[:-1] + ", " + matcher + "}"


def guards(env: Environment, setting: str, pair: BurnRate) -> list[str]:
    """What a burn rate needs besides its ratios before it may fire (settings `min_failures`,
    `min_history`). A ratio over a handful of requests, or over the first minutes of a model's
    life, is noise: 2 failures in the first 20 minutes at 0.2 req/s "burn" a 6 h window 8 times
        over. So: at least min_failures server failures in the short window (from the counters,
    which the ticket's 2 h and 6 h windows read too: a few series per model), and data over at least
    min_history of the long window, measured as the samples of the recorded request rate in the
    long window against those in the short one (whatever the evaluation interval, a full long
    window holds long/short times as many)."""
    ns = selector(env)
    setting_ = env.thresholds[setting]
    result = []
    if setting_.min_failures:
        # Counted from the counters: a mean of recorded rates over a window that holds only a
        # few minutes of data counts those minutes as the whole window.
        errors = _with(ns, 'reason!="CANCELED"')
        result.append(f"sum by ({by(env, 'model')}) (increase(nv_inference_request_failure{errors}[{pair.short}])) "
                      f">= {number(setting_.min_failures)}")
    if setting_.min_history:
        needed = setting_.min_history * seconds(pair.long) / seconds(pair.short)
        result.append(f"count_over_time({REQUEST_RATE}{ns}[{pair.long}])\n  / on ({by(env, 'model')})\n"
                      f"  count_over_time({REQUEST_RATE}{ns}[{pair.short}]) >= {number(round(needed, 4))}")
    return result


def alerts(env: Environment) -> list[Alert]:
    ns = selector(env)
    keys = by(env, "model")
    objective = f"{env.slo.availability * 100:.4f}".rstrip("0").rstrip(".") + "%"
    result = []
    for setting, pairs in (PAGE, TICKET):
        def burn(window: str) -> str:
            # A ratio recorded every few minutes is read with last_over_time over two of its
            # intervals: an instant selector looks back 5m only, and would lose a series sampled
            # every 5m (or hourly) between two of its evaluations.
            interval = interval_of(window)
            series = (f"last_over_time({ratio(window)}{ns}[{2 * int(seconds(interval)) // 60}m])" if interval
                      else f"{ratio(window)}{ns}")
            return f"{series} / on ({keys}) {BUDGET}{ns}"

        def branch(p: BurnRate) -> str:
            conditions = [f"{burn(p.long)} > {number(p.factor(env.slo.window))}",
                          f"{burn(p.short)} > {number(p.factor(env.slo.window))}", *guards(env, setting, p)]
            return "(\n  " + f"\n  and on ({keys})\n  ".join(conditions) + "\n)"

        parts = [branch(p) for p in pairs]
        windows = " or ".join(
            f"{number(p.factor(env.slo.window))}x over {p.long} and {p.short}" for p in pairs
        )
        speed = "fast" if setting == "slo_page" else "steadily"
        result.append(Alert(
            "TritonModelErrorBudgetBurn",
            "\nor\n".join(parts),
            env.thresholds[setting],
            f"Model {{{{ $labels.model }}}} in {where(env)} burns its error budget {speed} "
            "({{ $value | humanize }}x)",
            f"Model {{{{ $labels.model }}}} in {where(env)} fails requests {{{{ $value | humanize }}}} times "
            f"as fast as its availability objective allows (default {objective} of requests over "
            f"{env.slo.window}; client cancellations excluded). Burn-rate condition: {windows}. "
            "See the failure reasons on the Triton dashboard.",
            runbook(env, "TritonModelErrorBudgetBurn"),
            labels={"slo": "availability", "burn_rate": "fast" if setting == "slo_page" else "slow"},
        ))
    return result
