"""Is a settings document valid? The JSON Schema keywords gen/settings/schema.py uses, checked
exactly and fast, without jsonschema.

jsonschema stays the authority and the one that explains: settings are checked here first, and
only a document that is not plainly valid goes to jsonschema, which finds the error and words it
(or, where this module cannot be sure, says it is fine). Importing jsonschema costs more than a
whole `gen dashboards` for two environments spends on its own work, and its validator takes a
third of a millisecond per environment of a fleet.

check() answers True or False only where its answer is jsonschema's (Draft 2020-12, with `number`
meaning a finite number as in gen.settings); for a keyword or a value it does not know (a float
where an integer is wanted, a subclass of str) it raises Unsure.
"""

from __future__ import annotations

import math
import re
from typing import Any

_MAX_FLOAT_INT = 2**1023  # beyond, math.isfinite() of an int raises, as jsonschema's number check would


class Unsure(Exception):
    """This module cannot tell: ask jsonschema."""


_PLAIN = frozenset({dict, list, str, bool, int, float, type(None)})


def _is_type(name: str, value: Any) -> bool:
    kind = type(value)
    if kind not in _PLAIN:
        if isinstance(value, (dict, list, str, int, float)):
            raise Unsure(f"a {kind.__name__}")
        return False  # a date, bytes, a set: none of JSON's types
    if name == "object":
        return kind is dict
    if name == "string":
        return kind is str
    if name == "number":
        if kind is float:
            return math.isfinite(value)
        if kind is int:
            if abs(value) >= _MAX_FLOAT_INT:
                raise Unsure("a huge integer")
            return True
        return False
    if name == "integer":
        if kind is float:
            raise Unsure("a float where an integer is wanted")  # jsonschema takes 3.0
        return kind is int
    if name == "boolean":
        return kind is bool
    if name == "array":
        return kind is list
    if name == "null":
        return value is None
    raise Unsure(f"type {name!r}")


_NUMBER_BOUNDS = {
    "minimum": lambda value, bound: value >= bound,
    "maximum": lambda value, bound: value <= bound,
    "exclusiveMinimum": lambda value, bound: value > bound,
    "exclusiveMaximum": lambda value, bound: value < bound,
}
_HANDLED = frozenset({
    "type", "properties", "required", "additionalProperties", "propertyNames", "minProperties", "items",
    "maxItems", "minItems", "pattern", "minLength", "maxLength", "enum", "not", *_NUMBER_BOUNDS,
})


class Checker:
    """check(schema, value) for one document. Subtrees shared by several environments (what
    deep_merge takes from `defaults` unchanged) are checked once: results are kept per object."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, int], bool] = {}
        self._keep: list[Any] = []  # the objects whose ids are keys above stay alive
        self._patterns: dict[str, re.Pattern] = {}

    def check(self, schema: Any, value: Any) -> bool:
        if schema is True or schema is False:
            return schema
        if type(value) in (dict, list):
            key = (id(schema), id(value))
            known = self._known.get(key)
            if known is None:
                known = self._known[key] = self._check(schema, value)
                self._keep.append((schema, value))
            return known
        return self._check(schema, value)

    def _check(self, schema: dict, value: Any) -> bool:
        if not _HANDLED.issuperset(schema):
            raise Unsure(f"keywords {sorted(set(schema) - _HANDLED)}")
        wanted = schema.get("type")
        if wanted is not None:
            names = wanted if isinstance(wanted, list) else [wanted]
            if not any(_is_type(name, value) for name in names):
                return False
        kind = type(value)
        if kind not in _PLAIN:
            # Not JSON (a date, bytes), and `type` allowed it (there was none): the other keywords
            # apply to JSON types only, as in jsonschema; `enum` and `not` are left to it.
            if isinstance(value, (dict, list, str, int, float)) or "enum" in schema or "not" in schema:
                raise Unsure(f"a {kind.__name__}")
            return True
        if "enum" in schema and not self._enum(schema["enum"], value):
            return False
        if "not" in schema and self.check(schema["not"], value):
            return False
        if kind is dict:
            return self._object(schema, value)
        if kind is list:
            return self._array(schema, value)
        if kind is str:
            return self._string(schema, value)
        if kind in (int, float) and _is_type("number", value):
            return all(_NUMBER_BOUNDS[key](value, bound) for key, bound in schema.items() if key in _NUMBER_BOUNDS)
        return True

    @staticmethod
    def _enum(options: list, value: Any) -> bool:
        if not all(type(option) is str for option in options):
            raise Unsure("an enum of other than strings")
        return type(value) is str and value in options

    def _object(self, schema: dict, value: dict) -> bool:
        if any(name not in value for name in schema.get("required", ())):
            return False
        if len(value) < schema.get("minProperties", 0):
            return False
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            if name in value and not self.check(sub, value[name]):
                return False
        names = schema.get("propertyNames")
        if names is not None and not all(self.check(names, name) for name in value):
            return False
        extra = schema.get("additionalProperties", True)
        if extra is not True:
            for name, item in value.items():
                if name not in properties and not self.check(extra, item):
                    return False
        return True

    def _array(self, schema: dict, value: list) -> bool:
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            return False
        items = schema.get("items")
        return items is None or all(self.check(items, item) for item in value)

    def _string(self, schema: dict, value: str) -> bool:
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            return False
        pattern = schema.get("pattern")
        if pattern is not None:
            compiled = self._patterns.get(pattern)
            if compiled is None:
                compiled = self._patterns[pattern] = re.compile(pattern)
            return compiled.search(value) is not None
        return True
