"""The kinds of output the tool renders into out/, each with the files it owns.

A command renders one or more targets; `gen build` renders all of them. Importing this registry
is cheap: the render modules import only the standard library and gen's own light modules at
module level (grafanalib, yaml and jsonschema are imported when a render runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from gen.outdir import Artifact
from gen.render import alertmanager, argocd, dashboards, monitors, rules
from gen.settings import Environment, Settings


@dataclass(frozen=True)
class Target:
    name: str
    render: Callable[[Settings, list[Environment]], list[Artifact]]
    # owns(relpath, env_names or None) -> bool: the files this target may prune
    owns: Callable[[str, "set[str] | None"], bool]


TARGETS: dict[str, Target] = {
    "dashboards": Target("dashboards", dashboards.render_all, dashboards.owns),
    "rules": Target("rules", rules.render_all, rules.owns),
    "monitors": Target("monitors", monitors.render_all, monitors.owns),
    "alertmanager": Target("alertmanager", alertmanager.render_all, alertmanager.owns),
    "argocd": Target("argocd", argocd.render_all, argocd.owns),
}
