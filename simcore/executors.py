"""Executors: serial, thread and process, behind one small interface.

The engine only ever calls ``submit``, ``shutdown`` and ``terminate`` and
reads ``workers`` (CPython's ``concurrent.futures`` shape), so it never
branches on the backend.  Work functions find the run's shared arrays with
:func:`simcore.shm.arrays_of`: the owner registers its own arena (serial,
thread), and process workers attach it in the pool initializer.

Process workers (PITFALLS sections 1-4, 6):

* started by ``forkserver`` (never ``fork``: numba/OpenMP threads and h5py
  locks do not survive it); the server is started with single-threaded
  numeric libraries and preloads the built-in kernels warm;
* ignore SIGINT, SIGHUP and SIGUSR1 (only the main process decides), keep
  SIGTERM default;
* send log records through a ``QueueHandler`` to the main process;
* a worker that dies breaks the pool (``BrokenProcessPool``), never a hang;
* a worker whose main process was killed (SIGKILL, OOM) exits by itself: it
  holds the read end of a "lifeline" pipe whose only write end lives in the
  main process, and a watch thread exits when the pipe reaches EOF.  (Its
  parent is the forkserver, which outlives the main process for as long as
  any worker holds the forkserver's own alive-pipe, so watching the parent
  pid would deadlock: each waits for the other.)
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import logging.handlers
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Callable

import cloudpickle

from ._jit import SINGLE_THREAD_ENV
from .barrier import SpinBarrier
from .interrupts import IGNORED_BY_HELPERS, helpers_ignore_signals
from .models import adopt_objects, registered_objects
from .shm import ArenaSpec, AttachedArena

log = logging.getLogger(__name__)

#: Modules the forkserver imports (and whose kernels it warms) once, so a new
#: worker loads machine code instead of compiling.
PRELOAD = ["simcore._preload"]
#: Environment variable holding the pid of the main process that starts the forkserver.
MAIN_PID_VARIABLE = "SIMCORE_FORKSERVER_MAIN"
#: Name prefix of simcore's worker processes; the forkserver runs no ``__main__`` for them (:mod:`simcore._preload`).
WORKER_NAME = "simcore-worker"

_attached: AttachedArena | None = None
_FORKSERVER_LOCK = threading.Lock()
#: The barrier of the lockstep run this process works for (see :func:`current_barrier`).
_barrier = None


def current_barrier():
    """The barrier shared by the workers of the running lockstep executor (``wait()``, ``abort()``)."""
    if _barrier is None:
        raise RuntimeError("no lockstep barrier: the executor was made without barrier_parties")
    return _barrier


class Executor(ABC):
    """Runs work functions; results come back as ``concurrent.futures.Future``.

    ``shares_memory``: its workers see the run's shared arrays (every
    executor but MPI, whose tasks return their results as messages).
    """

    kind: str = ""
    shares_memory: bool = True
    stops_workers: bool = False  # terminate() stops work in progress (processes); threads run theirs to the end

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1 (got {workers})")
        self._workers = workers

    @property
    def workers(self) -> int:
        """Number of workers that run partitions concurrently."""
        return self._workers

    @abstractmethod
    def submit(self, fn: Callable, *args) -> cf.Future:
        """Schedule ``fn(*args)``; return its future."""

    @abstractmethod
    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work and release workers; safe to call twice."""

    def terminate(self) -> None:
        """Stop at once: cancel queued work and kill running workers where possible."""
        self.shutdown(wait=True)

    def lost_worker(self) -> bool:
        """True if a worker has died on its own (only a worker process can)."""
        return False

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, exc_type, *rest) -> None:
        if exc_type is None:
            self.shutdown(wait=True)
        else:
            self.terminate()


@contextmanager
def _installed_barrier(barrier):
    """Make ``barrier`` this process's :func:`current_barrier` for the block."""
    global _barrier
    previous, _barrier = _barrier, barrier
    try:
        yield
    finally:
        _barrier = previous


class SerialExecutor(Executor):
    """Runs each function in the calling thread, at submission."""

    kind = "serial"

    def __init__(self, workers: int = 1) -> None:
        super().__init__(1)

    def submit(self, fn: Callable, *args) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True) -> None:
        return None


class ThreadExecutor(Executor):
    """A thread pool; scales because kernels are compiled ``nogil``."""

    kind = "thread"

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self._pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="simcore-worker")

    def submit(self, fn: Callable, *args) -> cf.Future:
        return self._pool.submit(fn, *args)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)

    def terminate(self) -> None:
        # Threads cannot be killed; running kernels finish their partition.
        self._pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _environment(values: dict[str, str]):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _WorkerProcess(multiprocessing.context.ForkServerProcess):
    """A forkserver process named ``simcore-worker-N``, so that it does not run the user's ``__main__``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.name = f"{WORKER_NAME}-{self._identity[-1]}"


class _WorkerContext(multiprocessing.context.ForkServerContext):
    """The forkserver context whose processes are :class:`_WorkerProcess`."""

    Process = _WorkerProcess


def forkserver_context() -> multiprocessing.context.BaseContext:
    """The forkserver context, its server started single-threaded with warm kernels.

    The server is started with SIGINT, SIGHUP and SIGUSR1 ignored
    (:data:`~simcore.interrupts.IGNORED_BY_HELPERS`): a Ctrl-C to the process group
    while it is still preloading kernels would otherwise kill it and break the
    pool before the main process could stop cleanly (its workers, forked from
    it, ignore them too).  Runs started concurrently from threads
    (:mod:`simcore.aio`) take turns, so that none of them restores the
    environment while another still relies on it.  A server whose main
    process dies while it preloads exits at once (:mod:`simcore._preload`).

    Its processes never run the user's ``__main__`` (a script without an
    ``if __name__ == "__main__"`` guard, a notebook): as in joblib's loky, a
    worker needs nothing from it, and a model object defined there reaches
    the workers by value (:func:`simcore.models.register_object`).
    """
    context = _WorkerContext()
    started_by = {MAIN_PID_VARIABLE: str(os.getpid())}
    with _FORKSERVER_LOCK, _environment({**SINGLE_THREAD_ENV, **started_by}), helpers_ignore_signals():
        context.set_forkserver_preload(PRELOAD)
        multiprocessing.forkserver.ensure_running()
    return context


def _exit_when_main_dies(lifeline) -> None:
    """Block on the lifeline pipe; its EOF means the main process is gone, so exit at once."""
    try:
        lifeline.recv_bytes()
    except (EOFError, OSError):
        pass
    os._exit(1)


def _init_process_worker(spec: ArenaSpec, log_queue, log_level: int, lifeline, barrier, objects: bytes) -> None:
    """Pool initializer: ignore SIGINT/SIGHUP/SIGUSR1, watch the main process, log through the queue, attach the
    arena, register the run's model objects (``objects``, pickled by value)."""
    global _attached, _barrier
    _barrier = barrier
    adopt_objects(cloudpickle.loads(objects))
    for sig in IGNORED_BY_HELPERS:
        signal.signal(sig, signal.SIG_IGN)
    threading.Thread(target=_exit_when_main_dies, args=(lifeline,), name="simcore-lifeline",
                     daemon=True).start()
    root = logging.getLogger()
    handler = logging.handlers.QueueHandler(log_queue)
    handler.addFilter(_tag_with_worker)
    root.handlers = [handler]
    root.setLevel(log_level)
    _attached = AttachedArena(spec)
    log.debug("worker %d attached arena %s", os.getpid(), spec.arena_id)


def _tag_with_worker(record: logging.LogRecord) -> bool:
    """Prefix a worker's log message with ``[worker <pid>]`` before it travels to the main process."""
    record.msg = f"[worker {os.getpid()}] {record.getMessage()}"
    record.args = None
    return True


class _ForwardToLoggers(logging.Handler):
    """Hands a record from a worker to the main process's logger of the same name."""

    def handle(self, record: logging.LogRecord) -> bool:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() overrides
        pass


def _pickled_by_value(objects: dict) -> bytes:
    """``objects`` (model objects by name) as cloudpickle bytes: what a script or notebook defined goes by value.

    ModelNotPicklable names the model and what to do when one cannot be pickled.
    """
    try:
        return cloudpickle.dumps(objects)
    except Exception:  # noqa: BLE001 - whatever pickling raises, the fix is the same; find whose it is
        pass
    for name, model in objects.items():
        try:
            cloudpickle.dumps(model)
        except Exception as exc:  # noqa: BLE001
            raise ModelNotPicklable(f"model {name!r} cannot be sent to process workers ({type(exc).__name__}: "
                                    f"{exc}); define it in a module and run 'module:NAME', or use executor thread")
    return cloudpickle.dumps(objects)


class ModelNotPicklable(ValueError):
    """A model object the process executor cannot send to its workers."""


class ProcessExecutor(Executor):
    """A ``ProcessPoolExecutor`` on forkserver whose workers attach a shared arena."""

    kind = "process"
    stops_workers = True

    def __init__(self, workers: int, arena: ArenaSpec, barrier_parties: int | None = None) -> None:
        super().__init__(workers)
        objects = _pickled_by_value(registered_objects())
        context = forkserver_context()
        self._log_queue = context.Queue()
        self._listener = logging.handlers.QueueListener(self._log_queue, _ForwardToLoggers())
        self._listener.start()
        self._lifeline = context.Pipe(duplex=False)  # (read end for workers, write end kept here)
        self._new_pool = lambda: cf.ProcessPoolExecutor(  # each pool with a barrier of its own
            max_workers=workers,
            mp_context=context,
            initializer=_init_process_worker,
            initargs=(arena, self._log_queue, logging.getLogger().getEffectiveLevel(), self._lifeline[0],
                      context.Barrier(barrier_parties) if barrier_parties else None, objects),
        )
        self._pool = self._new_pool()
        self._closed = False

    def submit(self, fn: Callable, *args) -> cf.Future:
        return self._pool.submit(fn, *args)

    def lost_worker(self) -> bool:
        """True if a worker process has died, whether or not the pool has noticed yet.

        CPython's pool can miss a worker that dies while another is being
        started (its futures then never complete); the drivers ask this too.
        """
        return any(process.exitcode is not None for process in list((self._pool._processes or {}).values()))

    def rebuild(self, kill: bool = False) -> dict[int, int | None]:
        """Replace a broken pool by a fresh one; return the old workers' exit codes by pid.

        A pool breaks when a worker dies (SIGKILL, OOM, segfault): the pool
        then SIGTERMs the others, so the worker that died first is the one
        whose exit code is not -SIGTERM.  With ``kill`` (a hung worker), every
        old worker is SIGKILLed first.  Futures of the old pool all fail.
        """
        processes = dict(self._pool._processes or {})
        if kill:
            for process in processes.values():
                if process.is_alive():
                    process.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for process in processes.values():
            process.join()
        self._pool = self._new_pool()
        return {pid: process.exitcode for pid, process in processes.items()}

    def shutdown(self, wait: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)
        finally:
            self._stop_listener()
            if wait:  # the workers have exited; without wait, closing would kill them mid-partition
                for end in self._lifeline:
                    end.close()

    def terminate(self) -> None:
        """Cancel queued work, SIGTERM the workers, then reap them."""
        if self._closed:
            return
        processes = list((self._pool._processes or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        self.shutdown(wait=True)

    def _stop_listener(self) -> None:
        self._listener.stop()
        self._log_queue.close()
        self._log_queue.join_thread()


def make_executor(kind: str, workers: int, arena: ArenaSpec) -> Executor:
    """Build the executor named ``kind`` ('process', 'thread', 'serial' or 'mpi')."""
    if kind == "mpi":
        from .mpi import MPIExecutor  # imports this module

        return MPIExecutor(workers)
    if kind == "serial":
        return SerialExecutor()
    if kind == "thread":
        return ThreadExecutor(workers)
    if kind == "process":
        return ProcessExecutor(workers, arena)
    raise ValueError(f"executor must be one of: process, thread, serial, mpi (got {kind!r})")


class _NoAbort:
    """Stands for a ``multiprocessing.Barrier`` in the main process, which must never abort it.

    Its ``abort()`` notifies the sleeping workers and waits for each to wake:
    if a worker is dead (SIGTERM to the process group, OOM), that wait never
    ends.  The process executor terminates its workers instead; a worker whose
    own task fails aborts the barrier for the others itself.
    """

    def abort(self) -> None:
        return None

    def reset(self) -> None:
        """Nothing to reset: a rebuilt pool brings a new ``multiprocessing.Barrier``."""
        return None


@contextmanager
def lockstep_executor(kind: str, workers: int, arena: ArenaSpec, spin_slots=None):
    """``(executor, barrier)``: ``workers`` workers sharing one barrier of ``workers`` parties.

    Every submitted lockstep task must run at the same time as the others,
    so exactly ``workers`` tasks are submitted per round (the serial
    executor has one worker and a barrier of one).  ``barrier.abort()``
    releases the others when one task fails.  With ``spin_slots`` (process
    workers only: the shared counters of a :class:`~simcore.barrier.SpinBarrier`)
    the tasks use that barrier instead of ``multiprocessing.Barrier``.
    """
    if kind == "process":
        with ProcessExecutor(workers, arena, barrier_parties=None if spin_slots is not None else workers) as executor:
            yield executor, SpinBarrier(spin_slots) if spin_slots is not None else _NoAbort()
        return
    barrier = threading.Barrier(1 if kind == "serial" else workers)
    with _installed_barrier(barrier), make_executor(kind, workers, arena) as executor:
        yield executor, barrier
