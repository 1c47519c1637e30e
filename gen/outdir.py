"""out/ as a set of files the tool owns: plan the difference, commit it in one step, check.

Every command renders everything it produces in memory first; only then is anything written, so
a failing definition leaves out/ as it was.

The commit builds the whole new tree beside out/, in `.out.gen-new-XXXXXXXX/`: the files of this
run are written there and fsynced; every other entry of out/ (unchanged files, files of targets
that did not run, hand-written files, hidden ones such as .backup/) is hard-linked, which costs a
directory entry, not a copy. Then the two directories are exchanged by one system call
(renameat2 with RENAME_EXCHANGE), so `git status`, `git add out`, `kubectl apply -k` and anyone
reading out/ see the old tree or the new one, never a mix, whatever kills the process and when.
Where the kernel or filesystem cannot exchange, out/ is renamed aside and the new tree renamed in
its place; a crash between those two renames is undone by the next run. Where out/ cannot be
swapped at all (a mount point, a parent directory we may not write), each file is staged beside
its target and renamed over it: every file is old or new, but not the tree as a whole.

A killed run can leave its staging tree or temporary files behind (SIGKILL runs no cleanup): the
next run removes them before anything else, `--check` lists them as stale, and .gitignore keeps
them out of git. Only what was written is synced (each file and each new directory), not the
whole machine.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from gen.errors import UserError

NEW_TREE = "gen-new"  # .<out>.gen-new-XXXXXXXX: the tree being built (or, after the swap, the old one)
OLD_TREE = "gen-old"  # .<out>.gen-old-XXXXXXXX: out/ renamed aside where an exchange is impossible
# `.<name>.XXXXXXXX.tmp`, the temporary file of a single staged file (tempfile.mkstemp's 8 characters).
TEMP_FILE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
FSYNC_THREADS = 8  # concurrent fsyncs share journal commits; one after another, each waits for its own
FSYNC_BATCH = 16  # paths per task of those threads


@dataclass(frozen=True)
class Artifact:
    path: str  # relative to out/, with forward slashes
    content: bytes


@dataclass
class Plan:
    write: list[str] = field(default_factory=list)  # new or changed
    delete: list[str] = field(default_factory=list)  # owned, no longer produced; leftovers too
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # subset of write: not on disk yet
    # Subset of delete: what a killed run left (temporary files in out/, a staging tree beside it,
    # shown as ../.out.gen-new-XXXXXXXX). Removed by the next run, listed as stale by --check.
    leftovers: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.write and not self.delete


def write_atomic(path: Path, data: bytes) -> None:
    """One file, durable and replaced in one step."""
    tmp = _stage(path, data)
    try:
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_out_dir(out_dir: Path, create_parent: bool) -> None:
    """out/ must be a directory (or not exist yet): one line, exit 2, otherwise. Before a write,
    the directory that holds out/ is created, for the staging tree that goes beside out/."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: not a directory; the output directory (--out) must be a directory")
    for parent in out_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{parent}: not a directory, so {out_dir} cannot be created")
            break
    if create_parent:
        try:
            out_dir.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(_describe(exc, out_dir)) from None


def _existing(out_dir: Path) -> Iterable[str]:
    if not out_dir.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(out_dir):
        # Hidden entries (.backup/, editor files) are never the tool's.
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith("."):
                found.append(Path(dirpath, name).relative_to(out_dir).as_posix())
    return found


def leftovers(out_dir: Path) -> list[str]:
    """What killed runs left: temporary files anywhere in out/ (hidden folders included: push
    stages its backups the same way) and staging trees beside out/, relative to out/."""
    found = []
    if out_dir.parent.is_dir():
        prefix = f".{out_dir.name}."
        for entry in os.scandir(out_dir.parent):
            if entry.name.startswith(prefix) and re.fullmatch(
                rf"{re.escape(prefix)}({NEW_TREE}|{OLD_TREE})-[a-z0-9_]{{8}}", entry.name
            ):
                found.append(f"../{entry.name}")
    if out_dir.is_dir():
        for dirpath, _dirnames, filenames in os.walk(out_dir):
            for name in filenames:
                if TEMP_FILE.match(name):
                    found.append(Path(dirpath, name).relative_to(out_dir).as_posix())
    return sorted(found)


def plan(out_dir: Path, artifacts: list[Artifact], owns: Callable[[str], bool]) -> Plan:
    wanted: dict[str, bytes] = {}
    for artifact in artifacts:
        if artifact.path in wanted and wanted[artifact.path] != artifact.content:
            raise UserError(f"out/{artifact.path}: produced twice with different content")
        wanted[artifact.path] = artifact.content

    result = Plan()
    for rel, content in sorted(wanted.items()):
        target = out_dir / rel
        try:
            current = target.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            result.write.append(rel)
            result.missing.append(rel)
            continue
        except IsADirectoryError:
            raise UserError(f"{target}: is a directory, where gen writes a file; move it away") from None
        except OSError as exc:
            raise UserError(f"{target}: cannot read: {exc.strerror}") from None
        (result.unchanged if current == content else result.write).append(rel)
    result.leftovers = leftovers(out_dir)
    owned = sorted(rel for rel in _existing(out_dir) if rel not in wanted and owns(rel))
    result.delete = owned + result.leftovers
    return result


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[None]:
    """One gen at a time per out/: another run's staging tree is not a leftover to remove.
    An advisory lock on the directory holding out/ (taken by gen only; waits for the other)."""
    import fcntl

    try:
        fd = os.open(out_dir.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield  # no parent yet (--check of a fresh path) or not ours to open: nothing to guard
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            import sys

            sys.stderr.write(f"waiting for another gen that is writing {out_dir}\n")
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # a filesystem without locks: go on unguarded
        yield
    finally:
        os.close(fd)  # closing releases the lock


def apply(out_dir: Path, result: Plan, artifacts: list[Artifact]) -> None:
    """Commit the plan: remove leftovers, then replace out/ by the new tree in one step.
    An OSError (read-only, disk full, a file where a directory belongs) becomes one line naming
    the path, exit 2, with out/ as it was and nothing temporary left behind."""
    try:
        for rel in result.leftovers:
            _remove(out_dir / rel)
        contents = {a.path: a.content for a in artifacts}
        writes = {rel: contents[rel] for rel in result.write}
        left = set(result.leftovers)
        deletes = [rel for rel in result.delete if rel not in left]
        if not writes and not deletes:
            return
        if out_dir.is_dir() and not os.access(out_dir, os.W_OK):
            raise PermissionError(errno.EACCES, "permission denied (the directory is read-only)", str(out_dir))
        if out_dir.is_dir() and os.path.ismount(out_dir):
            _commit_file_by_file(out_dir, writes, deletes)
            return
        _commit_tree(out_dir, writes, deletes)
    except OSError as exc:
        raise UserError(_describe(exc, out_dir)) from None


def _commit_tree(out_dir: Path, writes: dict[str, bytes], deletes: list[str]) -> None:
    stage = None
    try:
        try:
            with _signals_deferred():
                # Made and remembered in one step: a signal in between would leave it behind.
                stage = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.{NEW_TREE}-"))
        except PermissionError:
            if not out_dir.is_dir():
                raise
            _commit_file_by_file(out_dir, writes, deletes)  # may write in out/, not beside it
            return
        if out_dir.is_dir():
            os.chmod(stage, stat.S_IMODE(os.stat(out_dir).st_mode))
            new_dirs = _link_tree(out_dir, stage, skip=set(writes) | set(deletes))
        else:
            os.chmod(stage, 0o755)
            new_dirs = []
        # Files are synced while the next ones are written: the disk's wait and the writing overlap.
        with _Syncer() as syncer:
            new_dirs += _write_files(stage, writes, syncer.add)
            _prune_empty_dirs(stage, deletes)
            # Every directory of the new tree is new, hard links included: each needs its fsync.
            for directory in [stage / d for d in new_dirs if (stage / d).is_dir()] + [stage]:
                syncer.add(directory)
        with _signals_deferred():
            # From here on a signal waits: the swap and the removal of the old tree run to the end.
            if out_dir.is_dir():
                _swap(out_dir, stage)
            else:
                os.rename(stage, out_dir)
            _fsync_dir(out_dir.parent)
            shutil.rmtree(stage, ignore_errors=True)  # now the old tree
    except BaseException:
        # Before the swap the stage is the unfinished new tree; out/ is untouched.
        if stage is not None:
            with _signals_deferred():
                shutil.rmtree(stage, ignore_errors=True)
        raise


def _link_tree(src: Path, dest: Path, skip: set[str]) -> list[str]:
    """Every entry of src in dest, hard-linked (symlinks as symlinks), except the paths in skip
    (relative, posix) and leftovers of killed runs. Returns the directories made, relative."""
    made: list[str] = []
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = Path(dirpath).relative_to(src)
        target_dir = dest / rel_dir
        descend = []
        for name in dirnames:
            path = Path(dirpath, name)
            if path.is_symlink():
                os.symlink(os.readlink(path), target_dir / name)
                continue
            os.mkdir(target_dir / name)
            os.chmod(target_dir / name, stat.S_IMODE(path.stat().st_mode))
            made.append((rel_dir / name).as_posix())
            descend.append(name)
        dirnames[:] = descend
        for name in filenames:
            if TEMP_FILE.match(name) or (rel_dir / name).as_posix() in skip:
                continue
            try:
                os.link(Path(dirpath, name), target_dir / name, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EMLINK, errno.EXDEV, errno.EOPNOTSUPP):
                    raise
                shutil.copy2(Path(dirpath, name), target_dir / name, follow_symlinks=False)
    return made


def _write_files(root: Path, writes: dict[str, bytes], written: Callable[[str], None] = lambda path: None) -> list[str]:
    """Write each file under root (0644), calling written(path) after each; returns the
    directories created, relative to root."""
    created: list[str] = []
    known: set[str] = set()  # directories (relative) that exist
    base = str(root)
    for rel, data in writes.items():
        parent = rel.rpartition("/")[0]
        if parent and parent not in known:
            parts = parent.split("/")
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory in known:
                    continue
                try:
                    os.mkdir(f"{base}/{directory}")
                    created.append(directory)
                except FileExistsError:
                    pass
                known.add(directory)
        path = f"{base}/{rel}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.fchmod(fd, 0o644)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, path) from None  # os.write names no file
        finally:
            os.close(fd)
        written(path)
    return created


def _prune_empty_dirs(root: Path, deleted: list[str]) -> None:
    for rel in deleted:
        parent = (root / rel).parent
        while parent != root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def _swap(out_dir: Path, stage: Path) -> None:
    """out/ becomes the new tree and stage the old one: one exchange where the kernel and the
    filesystem allow it; otherwise two renames, which recover() undoes after a crash."""
    if _exchange(out_dir, stage):
        return
    aside = Path(tempfile.mktemp(dir=out_dir.parent, prefix=f".{out_dir.name}.{OLD_TREE}-"))
    os.rename(out_dir, aside)
    try:
        os.rename(stage, out_dir)
    except BaseException:
        os.rename(aside, out_dir)
        raise
    os.rename(aside, stage)


def _exchange(a: Path, b: Path) -> bool:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # this filesystem cannot exchange
    raise OSError(err, os.strerror(err), str(a))


def recover(out_dir: Path) -> None:
    """Undo a crash between the two renames of a swap without exchange: out/ is missing and the
    old tree is aside. Put it back (the new tree is a leftover: the run did not finish)."""
    if out_dir.exists() or not out_dir.parent.is_dir():
        return
    aside = sorted(out_dir.parent.glob(f".{out_dir.name}.{OLD_TREE}-*"))
    if aside:
        try:
            os.rename(aside[0], out_dir)
        except OSError as exc:
            raise UserError(_describe(exc, out_dir)) from None


def _commit_file_by_file(out_dir: Path, writes: dict[str, bytes], deletes: list[str]) -> None:
    """Where out/ cannot be swapped: stage every file beside its target and sync them, then
    rename each over its target. A failure before the renames leaves out/ untouched."""
    staged: list[tuple[str, Path]] = []
    try:
        for rel, data in writes.items():
            staged.append((_stage(out_dir / rel, data, fsync=False), out_dir / rel))
        _fsync_all([Path(tmp) for tmp, _ in staged])
        with _signals_deferred():
            while staged:
                tmp, target = staged[0]
                os.replace(tmp, target)
                staged.pop(0)
            for rel in deletes:
                (out_dir / rel).unlink(missing_ok=True)
            _prune_empty_dirs(out_dir, deletes)
            _fsync_all(sorted({(out_dir / rel).parent for rel in [*writes, *deletes] if (out_dir / rel).parent.is_dir()}))
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)


def _stage(path: Path, data: bytes, fsync: bool = True) -> str:
    """The data in a temporary file beside `path`, ready to be renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory; nothing to gain
        _fsync_path(path)


def _fsync_all(paths: list[Path]) -> None:
    """Each file (and directory) durable before the swap that makes it visible."""
    with _Syncer() as syncer:
        for path in paths:
            syncer.add(path)


class _Syncer:
    """fsync every path added, in FSYNC_THREADS threads (fsync releases the GIL, and concurrent
    fsyncs on one filesystem share journal commits), batches of FSYNC_BATCH paths per task: a
    task per path cost more than many of the fsyncs. Leaving the `with` waits for them all and
    raises the first error; after an error inside it, it waits and the error stands."""

    def __init__(self) -> None:
        self._batch: list[Path | str] = []
        self._pool = None
        self._tasks: list = []

    def __enter__(self) -> "_Syncer":
        return self

    def add(self, path: Path | str) -> None:
        self._batch.append(path)
        if len(self._batch) >= FSYNC_BATCH:
            self._submit()

    def _submit(self, parts: int = 1) -> None:
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(FSYNC_THREADS)
        for part in range(parts):
            self._tasks.append(self._pool.submit(_fsync_each, self._batch[part::parts]))
        self._batch = []

    def __exit__(self, kind, error, traceback) -> None:
        try:
            if kind is None:
                if self._pool is None and len(self._batch) < 4:
                    _fsync_each(self._batch)  # a few files: no thread
                    return
                if self._batch:
                    self._submit(parts=min(FSYNC_THREADS, len(self._batch)))  # the last ones at once
                for task in self._tasks:
                    task.result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=kind is not None)


def _fsync_each(paths: list[Path | str]) -> None:
    for path in paths:
        _fsync_path(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGTERM, SIGHUP and Ctrl-C wait until the block is done (then act as usual): a signal in
    the middle of a swap or a cleanup would leave more behind than either. Main thread only.

    Blocking them in the main thread is not enough where other threads run (a program that embeds
    gen, a test worker): the kernel may deliver the signal to one of those, and Python then runs
    its handler in the main thread all the same. So for the block's length the handlers only note
    the signal, and it is raised again once the block is done and the handlers are back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    noted: list[int] = []
    handlers = {signum: signal.signal(signum, lambda signum, _frame: noted.append(signum)) for signum in held}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a signal held by the mask arrives now...
        for signum, handler in handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        for signum in dict.fromkeys(noted):  # ...or was noted: either way it acts once, as usual
            signal.raise_signal(signum)


def _describe(exc: OSError, out_dir: Path) -> str:
    """One line for an OSError while writing out/: the path as the user knows it (the staging
    tree's name stands for out/) and what went wrong."""
    where = str(exc.filename or out_dir)
    stage_prefix = str(out_dir.parent / f".{out_dir.name}.")
    if where.startswith(stage_prefix):
        rest = where[len(stage_prefix):].partition("/")[2]
        where = str(out_dir / rest) if rest else str(out_dir)
    temporary = TEMP_FILE.match(os.path.basename(where))
    if temporary:  # `.name.XXXXXXXX.tmp`: the file it stands for
        where = os.path.join(os.path.dirname(where), os.path.basename(where)[1:-13])
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason += "; nothing was changed in out/"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason += "; gen needs to write out/ and the directory that holds it"
    elif exc.errno == errno.ENOTDIR:
        reason += "; a file stands where gen needs a directory"
    return f"{where}: cannot write: {reason}"


def env_file_owner(prefix: str) -> Callable[[str, set[str] | None], bool]:
    """owns(relpath, env_names) for files `<env>/<prefix>*.yaml`, the shape of most targets."""

    def owns(relpath: str, env_names: set[str] | None) -> bool:
        env, _, name = relpath.partition("/")
        return (
            "/" not in name
            and name.startswith(prefix)
            and name.endswith(".yaml")
            and (env_names is None or env in env_names)
        )

    return owns
