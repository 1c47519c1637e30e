"""The kinds of output the tool renders into out/, each with the files it owns.

A command renders one or more targets; `gen build` renders all of them. Render functions are
named as "module:function" strings so that importing this registry stays cheap (`gen --help`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Target:
    name: str
    # render(settings, envs) -> list[Artifact]
    render: str
    # owns(relpath, env_names or None) -> bool: files this target may prune
    owns: str

    def _resolve(self, ref: str) -> Callable:
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)

    def render_fn(self) -> Callable:
        return self._resolve(self.render)

    def owns_fn(self) -> Callable:
        return self._resolve(self.owns)


TARGETS: dict[str, Target] = {
    "dashboards": Target("dashboards", "gen.dashboards_build:render_all", "gen.dashboards_build:owns"),
    "rules": Target("rules", "gen.rules_build:render_all", "gen.rules_build:owns"),
    "monitors": Target("monitors", "gen.monitors_build:render_all", "gen.monitors_build:owns"),
    "argocd": Target("argocd", "gen.argocd_build:render_all", "gen.argocd_build:owns"),
}
