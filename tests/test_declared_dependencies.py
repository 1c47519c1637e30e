"""The code imports only what pyproject.toml declares.

A package that arrives only as another's dependency can leave with that package's next release:
typer 0.28 stopped depending on click, and every non-zero exit of `gen` became a traceback. Every
import in gen/ must name the standard library, gen itself, or a distribution declared in
[project.dependencies]; the tests and benchmarks may also use the `test` extra.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# Modules that are ours, not a distribution's: the package, the project's definitions, the tests.
OURS = {"gen", "dashboards", "alerts", "tests", "bench"}
# Imported only inside a Triton Python-backend model, where Triton itself provides it.
INSIDE_TRITON = {"triton_python_backend_utils"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(*extras: str) -> set[str]:
    requirements = list(PYPROJECT["project"]["dependencies"])
    for extra in extras or ():
        requirements += PYPROJECT["project"]["optional-dependencies"][extra]
    return {_normalized(re.match(r"[A-Za-z0-9._-]+", req).group()) for req in requirements}


def _optional_import_lines(tree: ast.AST) -> set[int]:
    """Lines of imports inside `try: ... except ImportError:`: the code works without them."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers):
            lines |= {n.lineno for stmt in node.body for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return lines


def imported_modules(path: Path) -> dict[str, tuple[int, bool]]:
    """Top-level module names an absolute import in the file names: the first line, and whether
    every import of it is optional (guarded by `except ImportError`)."""
    tree = ast.parse(path.read_text(), str(path))
    optional = _optional_import_lines(tree)
    found: dict[str, tuple[int, bool]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.partition(".")[0]
            line, was_optional = found.get(top, (node.lineno, True))
            found[top] = (min(line, node.lineno), was_optional and node.lineno in optional)
    return found


def undeclared_imports(files: list[Path], declared: set[str], optional: set[str] = frozenset()) -> list[str]:
    """Imports of distributions outside `declared`; an import guarded by `except ImportError`
    may also name one of `optional` (an extra the code does without)."""
    distributions = importlib.metadata.packages_distributions()
    problems = []
    for path in files:
        for module, (line, guarded) in imported_modules(path).items():
            if module in sys.stdlib_module_names or module in OURS or module in INSIDE_TRITON or module == "__future__":
                continue
            providers = {_normalized(d) for d in distributions.get(module, [])}
            if not providers:
                problems.append(f"{path.relative_to(REPO)}:{line}: {module} is installed by no distribution")
            elif not providers & (declared | optional if guarded else declared):
                problems.append(f"{path.relative_to(REPO)}:{line}: {module} comes from {', '.join(sorted(providers))}, "
                                "which pyproject.toml does not declare")
    return problems


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


def test_gen_imports_only_declared_runtime_dependencies():
    files = _python_files("gen")
    assert len(files) > 50  # the whole package, not a corner of it
    every_extra = _declared(*PYPROJECT["project"]["optional-dependencies"])
    assert undeclared_imports(files, _declared(), optional=every_extra) == []


def test_tests_and_benchmarks_import_only_declared_dependencies():
    assert undeclared_imports(_python_files("tests", "bench", "dashboards", "alerts"), _declared("test")) == []


@pytest.mark.parametrize("source, problem", [
    ("import click\n", "1: click is installed by no distribution"),
    ("def f():\n    import requests.adapters\n", None),
    ("def f():\n    from yaml import safe_load\n", "2: yaml comes from pyyaml, which pyproject.toml does not declare"),
    ("def f():\n    import attr._make\n", "2: attr is installed by no distribution"),
    ("try:\n    import yaml\nexcept ImportError:\n    yaml = None\n", None),
    ("try:\n    import yaml\nexcept ImportError:\n    pass\nimport yaml\n", "2: yaml comes from pyyaml, which pyproject.toml does not declare"),
    ("import json, os.path\nfrom gen import cli\nfrom . import sibling\n", None),
])
def test_the_check_finds_an_import_hidden_in_a_function(tmp_path, monkeypatch, source, problem):
    """The check itself can fail: a nested import of a package nobody declared is found."""
    monkeypatch.setattr(importlib.metadata, "packages_distributions", lambda: {"yaml": ["PyYAML"], "requests": ["requests"]})
    module_file = tmp_path / "probe.py"
    module_file.write_text(source)
    # Reported relative to the repository, as a real module of gen/ would be.
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    problems = undeclared_imports([module_file], {"requests"}, optional={"pyyaml"})
    assert problems == ([f"probe.py:{problem}"] if problem else [])
