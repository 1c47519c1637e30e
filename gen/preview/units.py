"""Grafana's value formatting (packages/grafana-data valueFormats): the text a panel shows for a
number in a unit, with Grafana's automatic decimals and scaling (µs shown as ms or s when large,
percentunit as %, bytes as KiB/MiB, reqps as req/s)."""

from __future__ import annotations

import math
from typing import Callable

Formatter = Callable[[float, "int | None"], str]


def auto_decimals(value: float) -> int:
    """Grafana's getDecimalsForValue: about three significant digits, none for whole numbers."""
    if value == 0 or not math.isfinite(value):
        return 0
    log10 = math.floor(math.log10(abs(value)))
    dec = -log10 + 1
    norm = abs(value) / 10 ** (-dec)
    if norm > 2.25:
        dec += 1
    if float(value).is_integer():
        dec = 0
    return max(0, dec)


def to_fixed(value: float, decimals: int | None = None) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    dec = auto_decimals(value) if decimals is None else decimals
    text = f"{value:.{dec}f}"
    return "0" if text in ("-0", "-0.0", "-0.00") and value > -1e-12 else text


def scaled(factor: float, suffixes: list[str]) -> Formatter:
    def fmt(value: float, decimals: int | None = None) -> str:
        steps = 0
        while abs(value) >= factor and math.isfinite(value):
            steps += 1
            value /= factor
            if steps >= len(suffixes):
                return "NA"
        return to_fixed(value, decimals) + suffixes[steps]
    return fmt


def binary_prefix(unit: str) -> Formatter:
    return scaled(1024, [f" {p}{unit}" for p in ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi")])


def si_prefix(unit: str) -> Formatter:
    return scaled(1000, [f" {p}{unit}" for p in ("", "k", "M", "G", "T", "P", "E", "Z", "Y")])


def count_unit(symbol: str) -> Formatter:
    inner = scaled(1000, ["", "K", "M", "B", "T"])
    return lambda value, decimals=None: f"{inner(value, decimals)} {symbol}"


def suffix(text: str) -> Formatter:
    return lambda value, decimals=None: to_fixed(value, decimals) + text


def to_nanoseconds(value: float, decimals: int | None = None) -> str:
    size = abs(value)
    if size < 1000:
        return to_fixed(value, decimals) + " ns"
    if size < 1e6:
        return to_fixed(value / 1e3, decimals) + " µs"
    if size < 1e9:
        return to_fixed(value / 1e6, decimals) + " ms"
    return to_seconds(value / 1e9, decimals)


def to_microseconds(value: float, decimals: int | None = None) -> str:
    size = abs(value)
    if size < 1000:
        return to_fixed(value, decimals) + " µs"
    if size < 1e6:
        return to_fixed(value / 1e3, decimals) + " ms"
    return to_fixed(value / 1e6, decimals) + " s"


def to_milliseconds(value: float, decimals: int | None = None) -> str:
    size = abs(value)
    for limit, divisor, text in ((1000, 1, " ms"), (60_000, 1000, " s"), (3_600_000, 60_000, " min"),
                                 (86_400_000, 3_600_000, " hour"), (31_536_000_000, 86_400_000, " day")):
        if size < limit:
            return to_fixed(value / divisor, decimals) + text
    return to_fixed(value / 31_536_000_000, decimals) + " year"


def to_seconds(value: float, decimals: int | None = None) -> str:
    size = abs(value)
    if size != 0 and size < 1e-6:
        return to_nanoseconds(value * 1e9, decimals)
    if size != 0 and size < 1e-3:
        return to_microseconds(value * 1e6, decimals)
    if size != 0 and size < 1:
        return to_milliseconds(value * 1e3, decimals)
    for limit, divisor, text in ((60, 1, " s"), (3600, 60, " min"), (86400, 3600, " hour"),
                                 (604800, 86400, " day"), (31536000, 604800, " week")):
        if size < limit:
            return to_fixed(value / divisor, decimals) + text
    return to_fixed(value / 31536000, decimals) + " year"


def _minutes(value, decimals=None):
    return to_seconds(value * 60, decimals)


def _hours(value, decimals=None):
    return to_seconds(value * 3600, decimals)


def _days(value, decimals=None):
    return to_seconds(value * 86400, decimals)


UNITS: dict[str, Formatter] = {
    "none": lambda v, d=None: to_fixed(v, d),
    "": lambda v, d=None: to_fixed(v, d),
    "short": scaled(1000, ["", " K", " Mil", " Bil", " Tri", " Quadr", " Quint", " Sext", " Sept"]),
    "percent": suffix("%"),
    "percentunit": lambda v, d=None: to_fixed(v * 100, d) + "%",
    "bytes": binary_prefix("B"),
    "decbytes": si_prefix("B"),
    "bits": binary_prefix("b"),
    "decbits": si_prefix("b"),
    "kbytes": lambda v, d=None: binary_prefix("B")(v * 1024, d),
    "mbytes": lambda v, d=None: binary_prefix("B")(v * 1024 ** 2, d),
    "gbytes": lambda v, d=None: binary_prefix("B")(v * 1024 ** 3, d),
    "Bps": binary_prefix("B/s"),
    "binBps": binary_prefix("B/s"),
    "decBps": si_prefix("B/s"),
    "bps": si_prefix("b/s"),
    "ns": to_nanoseconds,
    "µs": to_microseconds,
    "us": to_microseconds,
    "ms": to_milliseconds,
    "s": to_seconds,
    "m": _minutes,
    "h": _hours,
    "d": _days,
    "reqps": count_unit("req/s"),
    "rps": count_unit("rd/s"),
    "wps": count_unit("wr/s"),
    "iops": count_unit("io/s"),
    "ops": count_unit("ops/s"),
    "reqpm": count_unit("req/m"),
    "opm": count_unit("ops/m"),
    "cps": count_unit("c/s"),
    "hertz": si_prefix("Hz"),
    "celsius": suffix("°C"),
    "watt": si_prefix("W"),
    "joule": si_prefix("J"),
}


def formatter(unit: str | None) -> Formatter:
    unit = unit or "none"
    if unit in UNITS:
        return UNITS[unit]
    if unit.startswith("suffix:"):
        return suffix(unit[len("suffix:"):])
    if unit.startswith("prefix:"):
        text = unit[len("prefix:"):]
        return lambda v, d=None: text + to_fixed(v, d)
    # Grafana shows an unknown unit id as a custom suffix.
    return suffix(f" {unit}")


def format_value(value: float, unit: str | None = None, decimals: int | None = None) -> str:
    return formatter(unit)(float(value), decimals)


def _number(label: str) -> float | None:
    import re

    match = re.search(r"-?\d+(?:\.\d+)?", label)
    return float(match.group(0)) if match else None


def tick_labels(values: list[float], unit: str | None) -> list[str]:
    """Axis labels, each with the fewest decimals (0 to 4) that show the tick exactly: 0.25 is not
    "0.2", and 512 MiB is not "512.0 MiB"."""
    fmt = formatter(unit)
    labels = []
    for value in values:
        for dec in range(0, 5):
            label = fmt(value, dec)
            if _number(label) == _number(fmt(value, dec + 3)):
                break
        labels.append(label)
    return labels
