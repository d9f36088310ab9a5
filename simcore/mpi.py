"""The MPI executor: batch partitions and sweep points on MPI ranks (``mpi4py.futures``); lockstep runs on ranks.

Ranks share no memory with the main process: a partition's tally row comes
back as a message, the main process writes it into its row, and the rows
are reduced in partition order as for every executor, so results are
byte-identical to the process executor.  Each worker rank runs one
partition at a time on one core: start one rank per core.  A lockstep
model that declares a halo (ising, nbody) runs on ranks each holding its
rows of the state (:mod:`simcore.distributed`, the end of this module);
one whose workers must share the state (lj) does not run on MPI.

Two ways to start, one executor:

* ``simcore run MODEL --executor mpi --workers N`` (one machine, or one
  node of an allocation): simcore starts a *coordinator* process, an MPI
  singleton whose ``MPIPoolExecutor`` spawns the N worker ranks.  simcore's
  own process never joins MPI: when the job is torn down (a rank died, and
  MPICH's process manager then kills every process of the job) simcore
  outlives it, says so and exits 1, its checkpoints kept.
* ``mpiexec -n N python -m mpi4py.futures -m simcore run MODEL --executor
  mpi`` (or ``srun``; what a Slurm script does, across nodes): rank 0 runs
  simcore and the N - 1 others serve its ``MPIPoolExecutor``
  (``--workers`` is then the world size less one).  Here the launcher owns
  the job: a rank that dies ends every rank, simcore included, and the
  checkpoints on disk are what is kept.

A lockstep run starts the same two ways, except that under ``mpiexec`` it
is ``mpiexec -n R python -m simcore run ...`` (no ``mpi4py.futures``):
every rank computes, rank 0 also runs simcore (results, checkpoints,
progress) and the others serve it (:func:`serve_as_rank`); with
``--workers R`` the coordinator is rank 0 of R ranks it spawns.
"""
from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import itertools
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ._jit import SINGLE_THREAD_ENV
from .executors import Executor
from .launch import WORLD_SIZE_VARIABLES

log = logging.getLogger(__name__)



def available() -> bool:
    """True if mpi4py is installed (``pip install -e '.[mpi]'`` brings it with an MPI library)."""
    return importlib.util.find_spec("mpi4py") is not None


def launched_world_size() -> int:
    """Size of the MPI job that started this process (mpiexec, srun), or 0 if none did."""
    for name in WORLD_SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def serving_ranks() -> bool:
    """True if this process was started by ``python -m mpi4py.futures``, whose other ranks serve its pool."""
    return "mpi4py.futures" in sys.modules


def _coordinate(connection, workers: int, path: list[str]) -> None:
    """Coordinator process: run the tasks received on ``connection`` on ``workers`` spawned MPI ranks.

    Receives ``(task id, fn, args)`` (``None`` to stop) and sends back
    ``(task id, ok, result or exception)``.  Ends when the main process
    closes the connection (or dies).  It runs in a session of its own: when
    MPI tears the job down, its process manager kills the whole process
    group, which must not include simcore's main process.
    """
    os.setsid()  # also out of reach of a Ctrl-C to the terminal: only the main process decides when to stop
    os.environ.update(SINGLE_THREAD_ENV)  # the spawned ranks inherit it
    from mpi4py import MPI
    from mpi4py.futures import MPIPoolExecutor

    lock = threading.Lock()

    def reply(task_id, future: cf.Future) -> None:
        error = future.exception()
        with lock:
            connection.send((task_id, error is None, future.result() if error is None else error))

    with MPIPoolExecutor(max_workers=workers, path=path) as pool:
        while True:
            try:
                message = connection.recv()
            except (EOFError, OSError):
                break
            if message is None:
                break
            task_id, fn, args = message
            pool.submit(fn, *args).add_done_callback(lambda future, task_id=task_id: reply(task_id, future))
    MPI.Finalize()  # now, not at exit: the process manager must see the singleton finalize, or it kills the group


def _remove_orphaned_mpich_files(since: float) -> None:
    """Unlink MPICH's /dev/shm files made since ``since`` (epoch s) that no live process maps.

    MPICH removes them at MPI_Finalize; a job whose ranks were killed leaves
    them behind.
    """
    mapped = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            mapped.update(line.split(None, 5)[-1].strip() for line in maps.read_text().splitlines()
                          if "/dev/shm/mpich_shm_" in line)
        except OSError:  # the process ended, or is not ours
            continue
    for path in Path("/dev/shm").glob("mpich_shm_*"):
        try:
            if path.stat().st_mtime >= since and str(path) not in mapped and path.stat().st_uid == os.getuid():
                path.unlink()
        except OSError:
            continue


def _job_ended(coordinator) -> cf.BrokenExecutor:
    """The broken pool a coordinator process that has ended (or ends within 5 s) leaves, saying how it ended."""
    coordinator.join(timeout=5)
    code = coordinator.exitcode
    how = f"killed by {signal.Signals(-code).name}" if code and code < 0 else f"exit status {code}"
    return cf.BrokenExecutor(f"a rank died or MPI aborted: the MPI job ended, its coordinator {how}")


class MPIExecutor(Executor):
    """Runs tasks on MPI ranks; results (tally rows) come back as messages, not through shared memory."""

    kind = "mpi"
    shares_memory = False

    def __init__(self, workers: int) -> None:
        world = launched_world_size()
        if world > 1:
            from mpi4py.futures import MPIPoolExecutor

            super().__init__(world - 1)
            self._pool = MPIPoolExecutor()
            self._coordinator = None
            return
        super().__init__(workers)
        self._pool = None
        context = multiprocessing.get_context("spawn")  # a child of the forkserver (or a fork) leaves one of
        # MPICH's /dev/shm files behind when its job ends
        self._connection, theirs = context.Pipe()
        self._coordinator = context.Process(target=_coordinate, args=(theirs, workers, list(sys.path)),
                                            name="simcore-mpi-coordinator", daemon=True)
        self._started = time.time()
        self._coordinator.start()
        theirs.close()
        self._futures: dict[int, cf.Future] = {}
        self._ids = itertools.count()
        self._send_lock = threading.Lock()
        self._broken = False
        self._reader = threading.Thread(target=self._read_results, name="simcore-mpi-results", daemon=True)
        self._reader.start()

    def submit(self, fn: Callable, *args) -> cf.Future:
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        future: cf.Future = cf.Future()
        future.set_running_or_notify_cancel()
        task_id = next(self._ids)
        self._futures[task_id] = future
        if self._broken:
            self._fail_pending()
            return future
        try:
            with self._send_lock:
                self._connection.send((task_id, fn, args))
        except OSError:
            self._fail_pending()
        return future

    def lost_worker(self) -> bool:
        """True once the MPI job has ended under the run (a rank died, MPI aborted)."""
        return self._coordinator is not None and self._broken

    def _read_results(self) -> None:
        while True:
            try:
                task_id, ok, value = self._connection.recv()
            except (EOFError, OSError):
                break
            future = self._futures.pop(task_id)
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        self._fail_pending()

    def _fail_pending(self) -> None:
        """The coordinator is gone: every task not answered fails as lost with a broken pool."""
        self._broken = True
        reason = _job_ended(self._coordinator)
        for task_id in list(self._futures):
            future = self._futures.pop(task_id, None)
            if future is not None and not future.done():
                future.set_exception(reason)

    def shutdown(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)
            return
        if self._coordinator.exitcode is None and not self._broken:
            try:
                with self._send_lock:
                    self._connection.send(None)
            except OSError:
                pass
        self._coordinator.join(timeout=None if wait else 5)
        if self._coordinator.is_alive():
            self._coordinator.kill()
            self._coordinator.join()
        self._connection.close()
        self._reader.join()
        if self._coordinator.exitcode:
            _remove_orphaned_mpich_files(self._started)

    def terminate(self) -> None:
        """Stop at once: the coordinator's ranks finish nothing more."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            return
        if self._coordinator.is_alive():
            self._coordinator.terminate()
        self.shutdown(wait=True)


# --------------------------------------------------------------------------- lockstep runs on ranks


def spmd_world():
    """MPI's world communicator if simcore was started as every rank of an MPI job (``mpiexec -n R python -m
    simcore ...``, not through ``mpi4py.futures``), else None."""
    if launched_world_size() <= 1 or serving_ranks() or not available():
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD


def serve_as_rank(comm) -> int:
    """A rank other than 0 of an MPI job running simcore: serve rank 0's lockstep run; its exit code.

    Signals are rank 0's to act on (mpiexec passes a SIGTERM to every
    rank): rank 0 checkpoints, gathering this rank's state, and then tells
    the ranks to exit.  Log records go to stderr tagged ``[rank k]``.
    """
    from .distributed import serve

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format=f"[rank {comm.rank}] simcore: %(message)s")
    return serve(comm)


def _lead_ranks(connection, ranks: int, path: list[str]) -> None:
    """Coordinator process of ``--executor mpi --workers R`` for a lockstep run: rank 0 of R ranks.

    It spawns R - 1 ranks, leads them (:class:`simcore.distributed.Leader`)
    and carries out the calls received on ``connection`` (``(method,
    args)``; None to end), answering ``(ok, result or exception)``.  It runs
    in a session of its own, as the batch coordinator does.
    """
    os.setsid()
    os.environ.update(SINGLE_THREAD_ENV)
    sys.path[:0] = [entry for entry in path if entry not in sys.path]
    from mpi4py import MPI

    from .distributed import Leader, release

    spawned = (MPI.COMM_SELF.Spawn(sys.executable, args=["-c", _SPAWNED_RANK], maxprocs=ranks - 1)
               if ranks > 1 else None)
    comm = spawned.Merge(high=False) if spawned is not None else MPI.COMM_SELF
    leader = Leader(comm)
    try:
        while True:
            try:
                message = connection.recv()
            except (EOFError, OSError):
                break
            if message is None:
                break
            method, args = message
            try:
                answer = (True, getattr(leader, method)(*args))
            except Exception as exc:  # noqa: BLE001 - the main process raises it
                answer = (False, exc)
            try:
                connection.send(answer)
            except OSError:  # the main process is gone (killed): end the ranks
                break
    finally:
        release(comm, 0)
        if spawned is not None:
            comm.Free()
            spawned.Disconnect()
    MPI.Finalize()


#: What a rank spawned by :func:`_lead_ranks` runs.
_SPAWNED_RANK = "import sys; from simcore.mpi import serve_spawned; sys.exit(serve_spawned())"


def serve_spawned() -> int:
    """A rank spawned by the coordinator: serve its lockstep run until it ends."""
    os.environ.update(SINGLE_THREAD_ENV)
    from mpi4py import MPI

    parent = MPI.Comm.Get_parent()
    comm = parent.Merge(high=True)
    code = serve_as_rank(comm)
    comm.Free()
    parent.Disconnect()
    return code


class LeaderProxy:
    """The :class:`simcore.distributed.Leader` of ``--executor mpi --workers R``, in a coordinator process.

    Each call goes over a pipe; if the coordinator is gone (a rank died and
    MPI ended the job) the call raises ``concurrent.futures.BrokenExecutor``.
    """

    kind = "mpi"

    def __init__(self, ranks: int) -> None:
        self.workers = ranks
        context = multiprocessing.get_context("spawn")
        self._connection, theirs = context.Pipe()
        self._coordinator = context.Process(target=_lead_ranks, args=(theirs, ranks, list(sys.path)),
                                            name="simcore-mpi-ranks", daemon=True)
        self._started = time.time()
        self._coordinator.start()
        theirs.close()

    def _call(self, method: str, *args):
        try:
            self._connection.send((method, args))
            ok, value = self._connection.recv()
        except (EOFError, OSError):
            raise _job_ended(self._coordinator) from None
        if not ok:
            raise value
        return value

    def start(self, *args) -> None:
        self._call("start", *args)

    def round(self, *args):
        return self._call("round", *args)

    def state(self):
        return self._call("state")

    def footprints(self):
        return self._call("footprints")

    def close(self) -> None:
        """End the coordinator and its ranks (at once, if they do not end within 10 s)."""
        try:
            self._connection.send(None)
        except OSError:
            pass
        self._coordinator.join(timeout=10)
        if self._coordinator.is_alive():
            self._coordinator.kill()
            self._coordinator.join()
        self._connection.close()
        if self._coordinator.exitcode:
            _remove_orphaned_mpich_files(self._started)


@contextmanager
def lockstep_leader(workers: int):
    """The leader of a lockstep run on MPI ranks: in this process (rank 0 of ``mpiexec``) or a coordinator's."""
    world = spmd_world()
    if world is not None:
        from .distributed import Leader

        yield Leader(world)
        return
    proxy = LeaderProxy(workers)
    try:
        yield proxy
    finally:
        proxy.close()
