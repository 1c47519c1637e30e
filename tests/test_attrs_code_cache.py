"""The bytecode cache for attrs' generated methods (gen.attrs_code_cache): the code it gives is
the code compile() gives, and a cache that is missing, corrupt or unwritable changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_gen, snapshot

# Imports grafanalib in a fresh interpreter, with the cache active or not, and prints what
# identifies the generated methods' bytecode of every attrs class.
PROBE = r"""
import json, sys
from gen import attrs_code_cache
use = sys.argv[1] == "cache"
if use:
    with attrs_code_cache.active() as cache:
        import grafanalib.core
    compiled = cache.compiled
else:
    import grafanalib.core
    compiled = None
import attr
seen = {}
for name, cls in sorted(vars(grafanalib.core).items()):
    if isinstance(cls, type) and attr.has(cls):
        for method in ("__init__", "__repr__", "__eq__"):
            code = getattr(cls, method).__code__
            seen[f"{name}.{method}"] = [code.co_code.hex(), code.co_flags, repr(code.co_consts),
                                        code.co_names, code.co_varnames, code.co_filename, code.co_firstlineno]
print(json.dumps({"compiled": compiled, "code": seen}))
"""


def _probe(mode: str, cache_home: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                          env={"XDG_CACHE_HOME": str(cache_home), "PATH": "/usr/bin:/bin",
                               "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    return json.loads(done.stdout)


def test_cached_code_is_exactly_what_compile_gives(tmp_path):
    plain = _probe("plain", tmp_path)
    cold = _probe("cache", tmp_path)
    warm = _probe("cache", tmp_path)
    assert len(plain["code"]) > 200  # grafanalib's ~90 classes, three methods each
    assert cold["compiled"] > 80 and warm["compiled"] == 0  # the second run compiled nothing
    assert cold["code"] == plain["code"]
    assert warm["code"] == plain["code"]  # flags included: attr._make's `from __future__ import annotations`


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "unwritable"])
def test_a_damaged_or_unwritable_cache_changes_nothing(project, tmp_path, damage):
    home = tmp_path / "cache"
    first = run_gen("dashboards", "--out", str(tmp_path / "first"), cwd=project, env={"XDG_CACHE_HOME": str(home)})
    assert first.returncode == 0, first.stderr
    (cache_file,) = (home / "triton-obs").iterdir()
    good = cache_file.read_bytes()
    if damage == "corrupt":
        cache_file.write_bytes(b"\x00not marshal" * 100)
    elif damage == "truncated":
        cache_file.write_bytes(good[: len(good) // 2])
    else:
        home = tmp_path / "a-file"
        home.write_text("XDG_CACHE_HOME names a file: nothing can be written under it\n")
    again = run_gen("dashboards", "--out", str(tmp_path / "again"), cwd=project, env={"XDG_CACHE_HOME": str(home)})
    assert again.returncode == 0, again.stderr
    assert again.stderr == first.stderr
    assert snapshot(tmp_path / "again") == snapshot(tmp_path / "first")
    if damage != "unwritable":
        assert cache_file.read_bytes() == good  # compiled over, and written whole again
