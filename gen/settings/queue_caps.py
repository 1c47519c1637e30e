"""Each model's queue cap (max_queue_size), as Triton's model configuration says, kept in a YAML
file beside the settings:

    # written by gen doctor --write-queue-caps
    prod:
      resnet50: 64

A request that finds the queue full gets HTTP 503 and is counted in no Triton metric, so the
queue-full alert and panel need the cap, and nobody should have to copy it by hand:
`gen doctor --write-queue-caps` reads it from `GET /v2/models/<m>/config` and writes this file;
`gen build` and `gen alerts` read it (the settings' `queue_caps_file`, or `--queue-caps FILE`).
A cap written under `models:` in the settings wins over the file's.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from gen.errors import UserError

HEADER = ("# Each model's max_queue_size (dynamic_batching.default_queue_policy), per environment, as\n"
          "# Triton's model configuration says. Written by `gen doctor --write-queue-caps`; read by gen build.\n")
MAX_CAP = 1_000_000_000


def read(path: Path) -> dict[str, dict[str, int]]:
    """The file's caps, {environment: {model: cap}}; an absent file holds none."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path.name}: cannot read the queue caps: {exc.__class__.__name__}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path.name}: not valid YAML{where}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise UserError(f"{path.name}: expected a mapping of environment names to {{model: max_queue_size}}")
    caps: dict[str, dict[str, int]] = {}
    for env, models in document.items():
        if not isinstance(models, dict):
            raise UserError(f"{path.name}: {env}: expected a mapping of model names to max_queue_size")
        for model, cap in models.items():
            if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_CAP:
                raise UserError(f"{path.name}: {env}.{model}: max_queue_size must be a whole number from 1 "
                                f"to {MAX_CAP}, got {cap!r}")
        caps[str(env)] = {str(m): c for m, c in sorted(models.items())}
    return caps


def write(path: Path, env: str, caps: Mapping[str, int]) -> None:
    """Replace one environment's caps in the file, keeping the others', all at once (a reader
    never sees half a file)."""
    import yaml

    document = read(path)
    document[env] = dict(sorted(caps.items()))
    text = HEADER + yaml.safe_dump({k: document[k] for k in sorted(document) if document[k]},
                                   sort_keys=False, default_flow_style=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def apply(environment, caps: Mapping[str, int], source: str):
    """The environment with the file's caps merged into its models (settings first)."""
    from gen.settings import ModelSettings

    models = dict(environment.models)
    for model, cap in caps.items():
        current = models.get(model, ModelSettings())
        if current.max_queue_size is None:
            models[model] = dataclasses.replace(current, max_queue_size=cap)
    return dataclasses.replace(environment, models=MappingProxyType(dict(sorted(models.items()))),
                               queue_caps_source=source if caps else None)
