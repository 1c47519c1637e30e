"""Python source for plain JSON values, laid out as a person would: on one line when it fits,
else one item per line with a trailing comma, four spaces a level."""

from __future__ import annotations

import json
from typing import Any

WIDTH = 110  # the project's lines run to about 115 columns


class Code(str):
    """Source text to place as it is (a call, a name), not as a string literal."""


def string(text: str) -> str:
    """A str literal as a person writes it: double quotes, single ones around PromQL that holds
    double quotes, a raw string for backslashes (regexes), escapes only where nothing else does."""
    plain = "\n" not in text and "\r" not in text and "\t" not in text
    if plain and "\\" in text and not text.endswith("\\"):
        if '"' not in text:
            return 'r"' + text + '"'
        if "'" not in text:
            return "r'" + text + "'"
    if plain and '"' in text and "'" not in text and "\\" not in text:
        return "'" + text + "'"
    return json.dumps(text, ensure_ascii=False)


def scalar(value: Any) -> str:
    if isinstance(value, Code):
        return str(value)
    if isinstance(value, str):
        return string(value)
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return repr(value)


def literal(value: Any, indent: int = 0) -> str:
    """`value` as Python source on a line indented by `indent`: nested lines are indented from
    there. Code (a call built at indent 0) is shifted to its place."""
    if isinstance(value, Code):
        return str(value).replace("\n", "\n" + " " * indent)
    flat = _flat(value)
    if flat is not None and indent + len(flat) <= WIDTH:
        return flat
    pad = " " * (indent + 4)
    end = " " * indent
    if isinstance(value, dict):
        items = [f"{pad}{string(str(k))}: {literal(v, indent + 4)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{end}}}"
    if isinstance(value, (list, tuple)):
        items = [f"{pad}{literal(v, indent + 4)}," for v in value]
        return "[\n" + "\n".join(items) + f"\n{end}]"
    return scalar(value)


def _flat(value: Any) -> str | None:
    if isinstance(value, dict):
        parts = [f"{string(str(k))}: {_flat(v)}" for k, v in value.items()]
        return "{" + ", ".join(parts) + "}" if all(_flat(v) is not None for v in value.values()) else None
    if isinstance(value, (list, tuple)):
        if not all(_flat(v) is not None for v in value):
            return None
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    text = scalar(value)
    return None if "\n" in text else text


def block(name: str, kwargs: list[tuple[str, Any]]) -> Code:
    """A call built at indent 0; `literal` shifts it to where it is placed."""
    return Code(call(name, kwargs, 0))


def call(name: str, kwargs: list[tuple[str, Any]], indent: int = 0) -> str:
    """name(k=v, ...) on one line when it fits, else one keyword a line."""
    flat_parts = []
    for key, value in kwargs:
        flat = _flat(value)
        if flat is None:
            break
        flat_parts.append(f"{key}={flat}")
    else:
        one = f"{name}({', '.join(flat_parts)})"
        if indent + len(one) <= WIDTH:
            return one
    pad = " " * (indent + 4)
    lines = [f"{pad}{key}={literal(value, indent + 4)}," for key, value in kwargs]
    return f"{name}(\n" + "\n".join(lines) + f"\n{' ' * indent})"
