"""out/<env>/kustomization.yaml: the list of every manifest of an environment, so that
`kubectl apply -k out/<env>` and an Argo CD kustomize source apply exactly what gen produced.

The list is what out/<env>/ will hold once the current run is written: the files this run
renders, plus the files of targets this run does not render (`gen dashboards` keeps the rules
listed). A file nobody owns (hand-written) is never listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from gen.render import k8s
from gen.outdir import Artifact
from gen.settings import Environment

FILENAME = "kustomization.yaml"


def kustomization(resources: list[str]) -> str:
    return k8s.manifest(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": sorted(resources),
        }
    )


def render(
    out_dir: Path,
    envs: list[Environment],
    artifacts: list[Artifact],
    rendered_owns: Callable[[str], bool],
    any_owns: Callable[[str], bool],
) -> list[Artifact]:
    produced = {a.path for a in artifacts}
    # The manifests of each environment, out/<env>/*.yaml, grouped in one pass over the artifacts
    # (not one pass per environment: that grows with environments x artifacts).
    by_env: dict[str, set[str]] = {}
    for path in produced:
        env_name, _, name = path.partition("/")
        if name and "/" not in name and name.endswith(".yaml"):
            by_env.setdefault(env_name, set()).add(name)
    result = []
    # Environments mostly list the same files: each distinct list is written out once per run.
    written: dict[tuple[str, ...], bytes] = {}
    for env in envs:
        names = set(by_env.get(env.name, ()))
        env_dir = out_dir / env.name
        if env_dir.is_dir():
            for path in env_dir.glob("*.yaml"):
                rel = f"{env.name}/{path.name}"
                # Kept: owned by a target that did not run now (so it is not pruned either).
                if rel not in produced and any_owns(rel) and not rendered_owns(rel):
                    names.add(path.name)
        names.discard(FILENAME)
        if names:
            resources = tuple(sorted(names))
            if resources not in written:
                written[resources] = kustomization(list(resources)).encode("utf-8")
            result.append(Artifact(f"{env.name}/{FILENAME}", written[resources]))
    return result


def owns(relpath: str, env_names: set[str] | None) -> bool:
    parts = relpath.split("/")
    return len(parts) == 2 and parts[1] == FILENAME and (env_names is None or parts[0] in env_names)
