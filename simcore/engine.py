"""The batch (map-reduce) driver.

``run_batch`` loop, as pseudocode::

    tallies = arena.create("tallies", (P, K))          # shared, zeroed
    warm kernels in the main process                    # workers then only load
    start executor (W = min(workers, P))
    while partitions remain or are in flight:
        keep at most W + 2 partitions submitted         # bounded queue
        wait for one to finish (0.2 s at most)
        on failure: stop the executor, raise             # remote traceback kept
        advance progress; if SIGINT/SIGTERM: stop, raise Interrupted
    copy tallies out of shared memory; unlink the arena (every exit path)

Partition ``p`` writes only row ``p``; its random numbers depend on (seed,
p or history index), never on the worker, so the rows -- and the reduction
over them in partition order -- are bitwise identical for any worker count
and executor.  The engine knows no physics: it calls the model only through
its declared entry points.
"""
from __future__ import annotations

import concurrent.futures as cf
import functools
import logging
import signal
import threading
import time
import traceback
from contextlib import contextmanager
from typing import Any, Callable, NamedTuple

import numpy as np

from .config import RunConfig
from .executors import make_executor
from .models import get_model
from .models.base import BatchModel
from .shm import SharedArena, arrays_of

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.2
_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(KeyboardInterrupt):
    """The run was stopped by SIGINT or SIGTERM; ``exit_code`` is 130 or 143."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = _EXIT_CODES.get(signum, 128 + signum)


class PartitionFailed(RuntimeError):
    """A partition raised in a worker; carries the worker's formatted traceback."""

    def __init__(self, model: str, partition: int, seed: int, error: str, remote_traceback: str) -> None:
        super().__init__(f"{model} partition {partition} (seed {seed}) failed in a worker: {error}")
        self.model = model
        self.partition = partition
        self.seed = seed
        self.error = error
        self.remote_traceback = remote_traceback

    def __reduce__(self):
        return (type(self), (self.model, self.partition, self.seed, self.error, self.remote_traceback))


class WorkerCrashed(RuntimeError):
    """A worker process died (killed, out of memory, segfault) while running partitions."""


class StopFlag:
    """Set by the signal handlers; the driver checks it between partitions."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None

    def request(self, signum: int) -> None:
        """Ask the run to stop after the partitions in flight."""
        self.signum = signum
        self._event.set()

    def is_set(self) -> bool:
        """True once a stop was requested."""
        return self._event.is_set()


@contextmanager
def graceful_signals(stop: StopFlag):
    """Route SIGINT/SIGTERM to ``stop`` (the first time) for the duration of the block.

    A second signal raises at once (KeyboardInterrupt unwinds every ``finally``,
    so shared memory is still unlinked).  Only the main thread can install
    handlers; elsewhere this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if stop.is_set():
            raise Interrupted(signum)
        stop.request(signum)

    previous = {sig: signal.signal(sig, handler) for sig in _EXIT_CODES}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@functools.lru_cache(maxsize=None)
def _model(reference: str) -> BatchModel:
    return get_model(reference)


def run_partition_task(model_ref: str, params: dict, seed: int, partition: int, partitions: int,
                       arena_id: str) -> int:
    """Worker-side body of one partition: fill its tally row in shared memory."""
    try:
        row = arrays_of(arena_id)["tallies"][partition]
        row[...] = 0.0
        _model(model_ref).run_partition(params, seed, partition, partitions, row)
    except Exception as exc:  # noqa: BLE001 - re-raised with context for the main process
        raise PartitionFailed(model_ref, partition, seed, f"{type(exc).__name__}: {exc}",
                              traceback.format_exc()) from None
    return partition


class BatchOutcome(NamedTuple):
    """Raw output of a batch run: the (P, K) tally rows and the wall time."""

    tallies: np.ndarray
    wall_seconds: float
    workers: int


def run_batch(model: BatchModel, cfg: RunConfig, *, stop: StopFlag | None = None,
              progress: Callable[[int], Any] | None = None) -> BatchOutcome:
    """Run every partition of ``cfg`` and return the tally rows (see module docstring).

    Raises
    ------
    PartitionFailed  a partition raised in a worker (remote traceback attached)
    WorkerCrashed    a worker process died
    Interrupted      SIGINT/SIGTERM arrived; partitions in flight were abandoned
    """
    stop = stop or StopFlag()
    params = dict(cfg.params)
    partitions = cfg.partitions
    workers = 1 if cfg.executor == "serial" else min(cfg.workers, partitions)
    started = time.perf_counter()
    model.warm()
    with SharedArena() as arena:
        tallies = arena.create("tallies", (partitions, model.tally_width(params)), np.float64)
        with make_executor(cfg.executor, workers, arena.specs) as executor:
            log.info("%s: %d partitions on %d %s worker(s)", model.name, partitions, executor.workers, executor.kind)
            _drive(executor, cfg, params, arena.arena_id, model, stop, progress)
        result = tallies.copy()
        del tallies
    return BatchOutcome(result, time.perf_counter() - started, workers)


def _drive(executor, cfg: RunConfig, params: dict, arena_id: str, model: BatchModel,
           stop: StopFlag, progress) -> None:
    partitions = cfg.partitions
    limit = executor.workers + 2
    next_partition = 0
    in_flight: dict[cf.Future, int] = {}
    work = model.work(params)
    while next_partition < partitions or in_flight:
        while next_partition < partitions and len(in_flight) < limit and not stop.is_set():
            future = executor.submit(run_partition_task, cfg.model, params, cfg.seed, next_partition,
                                     partitions, arena_id)
            in_flight[future] = next_partition
            next_partition += 1
        if stop.is_set():
            raise Interrupted(stop.signum)
        done, _ = cf.wait(in_flight, timeout=_POLL_SECONDS, return_when=cf.FIRST_COMPLETED)
        for future in done:
            partition = in_flight.pop(future)
            _check(future, partition)
            if progress is not None:
                progress(work * (partition + 1) // partitions - work * partition // partitions)


def _check(future: cf.Future, partition: int) -> None:
    try:
        future.result()
    except cf.BrokenExecutor as exc:
        raise WorkerCrashed(
            f"a worker process died while running partition {partition} "
            "(killed, out of memory or crashed); no results were written"
        ) from exc
