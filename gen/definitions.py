"""Import the Python definitions (dashboards/, alerts/) and call them, turning any failure into
a one-line UserError that names the file and the object instead of a traceback."""

from __future__ import annotations

import contextlib
import importlib
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from gen import attrs_code_cache
from gen.errors import STOP_SIGNALS, UserError


@dataclass(frozen=True)
class Definition:
    name: str  # module name, e.g. "triton"
    path: Path  # the file
    relpath: str  # the file, relative to the project root, for messages
    module: ModuleType


def _where(exc: BaseException, root: Path) -> str:
    """':line' of the innermost frame that lies in the project's definitions, if any."""
    line = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        try:
            Path(frame.filename).resolve().relative_to(root)
        except ValueError:
            continue
        line = f" (line {frame.lineno})"
    return line


def _forget_other_project(package: str, root: Path) -> None:
    """Definitions import their helpers as `dashboards._panels` etc.: when another project root was
    loaded before in this process (tests do that), drop its modules so this root's are imported."""
    loaded = sys.modules.get(package)
    origin = getattr(loaded, "__file__", None) if loaded else None
    if loaded is not None and (origin is None or Path(origin).resolve().parent.parent != root):
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]


def load(root: Path, package: str, function: str) -> list[Definition]:
    """Every `<root>/<package>/<name>.py` not starting with '_', imported, sorted by name."""
    root = root.resolve()
    directory = root / package
    if not directory.is_dir():
        raise UserError(f"{package}/: directory not found under {root}")
    if str(root) not in sys.path[:1]:
        sys.path.insert(0, str(root))
    _forget_other_project(package, root)
    importlib.invalidate_caches()

    definitions = []
    # attrs classes (grafanalib's) made while the definitions import take their bytecode from a cache.
    with attrs_code_cache.active():
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            relpath = f"{package}/{path.name}"
            module_name = f"{package}.{path.stem}"
            sys.modules.pop(module_name, None)
            try:
                with _quiet():
                    module = importlib.import_module(module_name)
            except SyntaxError as exc:
                raise UserError(f"{relpath}:{exc.lineno}: syntax error: {exc.msg}") from None
            except STOP_SIGNALS:
                raise
            except BaseException as exc:  # noqa: BLE001 - any failure in user code is reported, sys.exit() too
                raise UserError(f"{relpath}: failed to import{_where(exc, root)}: {_describe(exc)}") from None
            if not callable(getattr(module, function, None)):
                raise UserError(f"{relpath}: no function '{function}(env)' defined")
            definitions.append(Definition(path.stem, path, relpath, module))
    return definitions


def call(definition: Definition, function: str, *args: Any, context: str = "") -> Any:
    fn: Callable = getattr(definition.module, function)
    try:
        with _quiet():
            return fn(*args)
    except STOP_SIGNALS:
        raise
    except BaseException as exc:  # noqa: BLE001 - sys.exit() in a definition is a failure, not success
        root = definition.path.parent.parent
        suffix = f" for {context}" if context else ""
        raise UserError(f"{definition.relpath}: {function}(){suffix} failed{_where(exc, root)}: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"the definition called sys.exit({exc.code!r}); a definition must return, not exit"
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _quiet():
    """What a definition prints goes to stderr: stdout is the command's own output (a table, JSON)
    that scripts read."""
    with contextlib.redirect_stdout(sys.stderr):
        yield
