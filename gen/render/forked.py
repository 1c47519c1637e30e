"""Spread a render over the machine's cores: environments are independent, and for a fleet their
dashboards are most of a run (200 environments: about 1 s of 1.5 on one core).

The items are cut into contiguous chunks, one per core. The parent forks a worker for every
chunk but the first, after the definitions are imported (the workers inherit them: nothing is
imported twice), and renders the first chunk itself. A worker sends its chunk's results back,
pickled, through a pipe, and exits. Workers never touch out/: writing stays with the parent and
its all-or-nothing commit.

A worker that fails in any way (a definition that raises, a bug, a signal) is not believed: the
parent renders that chunk again itself. So a failure surfaces exactly as on one core, with the
same message, exit code and --debug traceback, and the first one in the items' order wins.

TRITON_OBS_WORKERS sets the number of processes (1: no workers, everything in this process).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
from typing import Callable, Sequence, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

WORKERS_ENV = "TRITON_OBS_WORKERS"
MAX_WORKERS = 8
# A worker costs a fork and a pickled copy of its results: a few milliseconds, worth it when it
# renders at least this many items (an environment's dashboards take about 5 ms).
MIN_ITEMS_PER_WORKER = 16


def worker_count(items: int) -> int:
    """How many processes render `items` items: one per usable core, each with enough work."""
    wanted = os.environ.get(WORKERS_ENV, "").strip()
    if wanted:
        try:
            cores = max(1, int(wanted))
        except ValueError:
            from gen.errors import UserError

            raise UserError(f"{WORKERS_ENV}: '{wanted}' is not a number of processes") from None
    else:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cores = os.cpu_count() or 1
        cores = min(cores, MAX_WORKERS)
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return 1  # a fork copies one thread: a lock another one holds would stay locked forever
    return max(1, min(cores, items // MIN_ITEMS_PER_WORKER))


def map_chunks(render: Callable[[Sequence[Item]], list[Result]], items: Sequence[Item]) -> list[Result]:
    """render(chunk) for contiguous chunks of items, in forked workers where that pays; the
    concatenated results, in the items' order, as render(items) would give them."""
    processes = worker_count(len(items))
    if processes == 1:
        return render(items)
    size = -(-len(items) // processes)
    chunks = [items[start:start + size] for start in range(0, len(items), size)]
    workers: list[tuple[int, int]] = []  # (pid, read end of its pipe), for chunks[1:]
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        gc.freeze()  # the inherited heap is not scanned again in each worker (nor copied on write)
        for chunk in chunks[1:]:
            workers.append(_fork(render, chunk, [fd for _, fd in workers]))
        results = render(chunks[0])
        for index, (pid, read_fd) in enumerate(workers, start=1):
            payload = _read_all(read_fd)
            os.close(read_fd)
            workers[index - 1] = (pid, -1)
            _, status = os.waitpid(pid, 0)
            workers[index - 1] = (0, -1)
            received = _received(payload, status)
            results.extend(render(chunks[index]) if received is None else received)
        return results
    finally:
        for pid, read_fd in workers:
            if pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                if read_fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(read_fd)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
        gc.unfreeze()


def _fork(render: Callable, chunk: Sequence, others: list[int]) -> tuple[int, int]:
    """A worker rendering chunk; `others` are the read ends of the workers forked before."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        return pid, read_fd
    # The worker. It dies quietly on any signal (the parent reports, and cleans up), and leaves by
    # os._exit: no atexit handler, lock or buffer of the parent's runs twice.
    code = 1
    try:
        for fd in (read_fd, *others):  # a pipe's only reader is the parent: if it dies, writes fail
            os.close(fd)
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
        import pickle

        payload = pickle.dumps(render(chunk), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view):]
        code = 0
    except BaseException:  # noqa: BLE001 - the parent renders this chunk again and reports
        pass
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _read_all(fd: int) -> bytes:
    parts = []
    while True:
        part = os.read(fd, 1 << 20)
        if not part:
            return b"".join(parts)
        parts.append(part)


def _received(payload: bytes, status: int) -> list | None:
    """A worker's results, or None when it did not finish cleanly."""
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return None
    import pickle

    try:
        results = pickle.loads(payload)
    except Exception:  # noqa: BLE001 - cut short: render the chunk here instead
        return None
    return results if isinstance(results, list) else None
