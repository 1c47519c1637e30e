"""What `gen import` writes where grafanalib renders a field it should not, or cannot say one:
`patched(Stat(...), {"fieldConfig": {"defaults": {"custom": DELETE}}})`. Definitions import it
from dashboards/_panels.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class _Delete:
    """In `patched` changes: the field goes."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()


@dataclass(frozen=True)
class Patched:
    """A grafanalib object with changes to its JSON that grafanalib cannot express: a value
    replaces, a dict is merged, DELETE removes (what `gen import` writes where needed)."""

    item: Any
    changes: dict

    def to_json_data(self) -> Any:
        data = self.item.to_json_data()
        return _apply(data, self.changes)


def _apply(data: Any, changes: dict) -> Any:
    if hasattr(data, "to_json_data"):
        data = data.to_json_data()
    out = dict(data)
    for key, value in changes.items():
        if value is DELETE:
            out.pop(key, None)
        elif isinstance(value, dict) and key in out and (isinstance(out[key], dict) or hasattr(out[key], "to_json_data")):
            out[key] = _apply(out[key], value)
        else:
            # Grafanalib wrote something else here (a name where the JSON has an object): the
            # changes' value replaces it whole, without the removals that had nothing to remove.
            out[key] = _without_deletes(value)
    return out


def _without_deletes(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_deletes(v) for k, v in value.items() if v is not DELETE}
    return value


def patched(item: Any, changes: dict) -> Patched:
    return Patched(item, changes)
