"""Imported by the forkserver before it forks workers: load every built-in kernel warm.

Warming here (from numba's on-disk cache, filled by the main process before
the pool starts) makes a new worker's first partition cost microseconds
instead of a compile.  No HDF5, no shared memory in here, and no thread
once the warming is done (the server forks workers next).

A cold cache makes the warming a compile of a minute or more.  If the main
process is gone meanwhile (a signal to the whole job while it started the
pool, a SIGKILL), nobody will ever ask this server for a worker, and it
would read the EOF of its alive-pipe only after compiling: a watch thread
sees the main process go (its pid is no longer this process's parent) and
exits at once.

Multiprocessing's children run the parent's ``__main__`` again (as
``__mp_main__``) before they unpickle anything: a user's script without an
``if __name__ == "__main__"`` guard would start its run again in every
worker.  In the server, that step is skipped for simcore's workers (named
``simcore-worker-N``), as loky does for joblib's; any other process the
server forks for the same program gets it as usual.
"""
import functools
import multiprocessing
import multiprocessing.spawn
import os
import threading

from .executors import MAIN_PID_VARIABLE, WORKER_NAME
from .models import warm_builtin_models


def _unless_a_simcore_worker(fixup, main) -> None:
    """Run multiprocessing's ``fixup`` of ``__main__`` except in a simcore worker (its name is set by then)."""
    if not multiprocessing.current_process().name.startswith(WORKER_NAME):
        fixup(main)


def _workers_skip_main() -> None:
    for name in ("_fixup_main_from_name", "_fixup_main_from_path"):
        setattr(multiprocessing.spawn, name,
                functools.partial(_unless_a_simcore_worker, getattr(multiprocessing.spawn, name)))


def _exit_if_orphaned(main_pid: int, warmed: threading.Event) -> None:
    """Poll every 50 ms until ``warmed``; exit the process at once if ``main_pid`` stopped being its parent."""
    while not warmed.wait(0.05):
        if os.getppid() != main_pid:
            os._exit(0)


def _warm_watched() -> None:
    main_pid = int(os.environ.pop(MAIN_PID_VARIABLE, os.getppid()))
    warmed = threading.Event()
    watch = threading.Thread(target=_exit_if_orphaned, args=(main_pid, warmed), name="simcore-orphan-watch")
    watch.start()
    try:
        warm_builtin_models()
    finally:
        warmed.set()
        watch.join()


_workers_skip_main()
_warm_watched()
