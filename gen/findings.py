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
    # The object of another finding that explains this one (no Triton target explains every
    # empty panel): reports show the cause with a count instead of a hundred echoes of it.
    cause: str = ""

    def as_dict(self) -> dict:
        return asdict(self)
