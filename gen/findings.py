"""The one result type every check returns (static lint, live validation, manifest checks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITY_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}


@dataclass(frozen=True)
class Finding:
    severity: str  # error | warning | info
    object: str  # what it is about, e.g. "dashboard triton-dev / panel 'Error ratio'"
    message: str  # what is wrong, one line
    query: str = ""  # the PromQL involved, if any
    hint: str = ""  # what to do about it
    check: str = ""  # the id of the check that found it

    def as_dict(self) -> dict:
        return asdict(self)
