"""A bytecode cache for the methods attrs generates, kept as Python keeps __pycache__ for modules.

grafanalib declares about 90 attrs classes. attrs writes each class's __init__, __repr__ and __eq__
as source text and compiles it when the class is created, on every run: 55 of the 95 ms that
importing grafanalib costs, the largest fixed cost of `gen dashboards` after start-up. Python
caches the bytecode of modules, not of code made at run time; this does it for attrs.

While the definitions import, the name `compile` in attrs' code generator (attr._make) is bound
to `_cached_compile`, which looks the source up in the cache and compiles only what is not there,
with the flags compile() would have inherited from attr._make (its __future__ imports). A cached
code object is exactly what compile() returns for the same source, file name and flags. Anything
unusual (other arguments, a cache file that is missing, corrupt, unwritable, or from another
Python or attrs) means compiling as before: the cache can make a run faster, never different.

The cache is one file per Python bytecode format under $XDG_CACHE_HOME/triton-obs
(~/.cache/triton-obs), rewritten (atomically) only when a run compiled something new.
"""

from __future__ import annotations

import __future__
import contextlib
import hashlib
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Iterator

# Entries kept when the file is rewritten: this run's, plus earlier ones while the total stays
# under this (a project's own attrs classes change; grafanalib's 90 do not).
MAX_ENTRIES = 2000


def cache_file() -> Path | None:
    """One file per bytecode format. No attrs version in the name: an entry is keyed by the
    source it was compiled from, so code another attrs generates is simply not found."""
    tag = sys.implementation.cache_tag
    if not tag:
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "triton-obs", f"attrs-code.{tag}.marshal")


@contextlib.contextmanager
def active() -> Iterator["_CodeCache | None"]:
    """attrs classes created inside the block (by importing definitions) take their generated
    methods' bytecode from the cache (yielded, or None where it does not apply)."""
    try:
        import attr._make as generator
    except ImportError:
        yield None
        return
    if "compile" in vars(generator):  # already active (nested), or attrs has its own: leave it
        yield None
        return
    cache = _CodeCache(cache_file(), _inherited_flags(vars(generator)))
    generator.compile = cache.compile
    try:
        yield cache
    finally:
        del generator.compile
        cache.save()


def _inherited_flags(namespace: dict) -> int:
    """The compiler flags of a module's `from __future__ import ...` statements, which compile()
    called from that module inherits."""
    flags = 0
    for value in namespace.values():
        if isinstance(value, __future__._Feature):
            flags |= value.compiler_flag
    return flags


class _CodeCache:
    def __init__(self, path: Path | None, flags: int) -> None:
        self.path = path
        self.flags = flags
        self.entries: dict[bytes, object] | None = None  # read at the first compile: often none comes
        self.used: dict[bytes, object] = {}
        self.compiled = 0

    def _load(self) -> dict:
        if self.path is None:
            return {}
        try:
            entries = marshal.loads(self.path.read_bytes())
        except Exception:  # noqa: BLE001 - missing, unreadable or corrupt: compile instead
            return {}
        return entries if isinstance(entries, dict) else {}

    def compile(self, source, filename, mode, *args, **kwargs):
        if args or kwargs or not isinstance(source, str) or not isinstance(filename, str):
            return compile(source, filename, mode, *args, **kwargs)
        if self.entries is None:
            self.entries = self._load()
        key = hashlib.blake2b(f"{self.flags}\0{mode}\0{filename}\0{source}".encode(), digest_size=16).digest()
        code = self.entries.get(key)
        if not isinstance(code, CodeType) or code.co_filename != filename:
            code = compile(source, filename, mode, self.flags, dont_inherit=True)
            self.compiled += 1
        self.used[key] = code
        return code

    def save(self) -> None:
        if self.path is None or not self.compiled:
            return
        entries = dict(self.used)
        if len(self.entries) + len(entries) <= MAX_ENTRIES:  # read: something was compiled
            entries = {**self.entries, **entries}
        from gen.outdir import write_atomic

        with contextlib.suppress(OSError, ValueError):
            write_atomic(self.path, marshal.dumps(entries))
