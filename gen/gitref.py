"""out/ as committed at a git ref, for before/after comparisons (`--against REF`).

The ref's own rendered files are read with git, never re-rendered: what a reviewer compares with is
what was committed and shipped then."""

from __future__ import annotations

import fnmatch
import subprocess
from pathlib import Path

from gen.errors import UserError


def _git(out_dir: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(out_dir), *args], capture_output=True, timeout=60)
    except FileNotFoundError:
        raise UserError("--against needs git, which is not installed") from None
    if done.returncode != 0:
        message = " ".join(done.stderr.decode(errors="replace").split()) or f"git {args[0]} failed"
        raise UserError(f"{out_dir}: {message}")
    return done.stdout


def materialize(out_dir: Path, ref: str, dest: Path, patterns: tuple[str, ...]) -> list[str]:
    """Copy the files of out/ matching patterns (relative to out/) as they are at ref into dest;
    returns their relative paths. A ref without out/ yields nothing."""
    if ref.startswith("-"):
        raise UserError(f"--against {ref}: not a git ref")
    if not out_dir.is_dir():
        raise UserError(f"{out_dir}: no out/ directory")
    try:
        _git(out_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except UserError:
        raise UserError(f"--against {ref}: not a commit in the repository of {out_dir}") from None
    listing = _git(out_dir, "ls-tree", "-r", "--name-only", ref, "--", ".").decode()
    copied = []
    for rel in listing.splitlines():
        if not any(fnmatch.fnmatch(rel, p) for p in patterns):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git(out_dir, "show", f"{ref}:./{rel}"))
        copied.append(rel)
    return copied
