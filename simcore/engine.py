"""The batch (map-reduce) driver.

``run_batch`` loop, as pseudocode::

    tallies = arena.create("tallies", (P, K))          # shared, zeroed
    done = [False] * P; on resume: done, tallies from the checkpoint
    warm kernels in the main process                    # workers then only load
    choose the executor (workers = auto: serial when the work is too small
        to pay for a pool; else W = min(workers, P)); start it and the checkpoint writer
    checkpoint("running")                               # sequence 0 (not on resume)
    while partitions remain or are in flight:
        if SIGINT/SIGTERM/SIGHUP: finish those in flight, checkpoint("interrupted"),
                           raise Interrupted            # a 2nd signal aborts at once
        keep at most W + 2 partitions submitted         # bounded queue
        wait for one to finish (0.2 s at most); done[p] = True
        on failure: stop the executor, raise             # remote traceback kept
        a worker died (or ran past unit_timeout): rebuild the pool, queue the
            lost partitions again; the dead worker's partition is charged
            one attempt, and more than max_retries stop the run
        every checkpoint_every seconds, or on SIGUSR1: checkpoint("running")
            (a checkpoint the disk refuses is a warning: the run goes on)
    checkpoint("finished"); join the writer
    copy tallies out of shared memory; unlink the arena (every exit path)

Partition ``p`` writes only row ``p``; its random numbers depend on (seed,
p or history index), never on the worker, so the rows -- and the reduction
over them in partition order -- are bitwise identical for any worker count
and executor, and after a resume that reruns exactly the partitions not done.

Checkpoints: a completed row never changes again, so a batch snapshot is a
copy of the ``done`` mask plus a reference to the completed rows in shared
memory, which the writer thread stores without a copy in the main process
(``async``, the default: workers never stop).  ``sync`` is the classic way
for comparison: the loop drains the partitions in flight and writes the
checkpoint itself while the workers wait (a batch boundary, as OpenMC writes
its statepoints).  The engine knows no physics: it calls the model only
through its declared entry points.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import signal
import sys
import time
import traceback
from collections import deque
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from .autoworkers import choose
from .checkpoint import CheckpointPlan, CheckpointWriter, EverySeconds, Snapshot, WriterStats
from .config import RunConfig
from .executors import make_executor
from .interrupts import Interrupted, StopFlag, stop_reason
from .models import get_model
from .models.base import BatchModel
from .shm import SharedArena, arrays_of

log = logging.getLogger(__name__)

#: How often the drivers look at their futures and at the stop flag [s].
POLL_SECONDS = 0.2


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


def checkpoint_due(trigger: EverySeconds | None, stop: StopFlag) -> bool:
    """True when a run's next checkpoint is due: ``trigger``'s interval has passed, or SIGUSR1 asked for one now."""
    asked = stop.checkpoint_requested()
    if trigger is None:
        if asked:
            log.warning("SIGUSR1 asked for a checkpoint, but this run writes none (checkpoint_every = 0)")
        return False
    return asked or trigger.due()


@contextmanager
def _reported_as_partition_failure(model_ref: str, partition: int, seed: int):
    """Turn an exception of a partition's body into PartitionFailed, with the worker's traceback."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - re-raised with context for the main process
        raise PartitionFailed(model_ref, partition, seed, f"{type(exc).__name__}: {exc}",
                              traceback.format_exc()) from None


def run_partition_task(model_ref: str, params: dict, seed: int, partition: int, partitions: int,
                       arena_id: str) -> int:
    """Worker-side body of one partition: fill its tally row in shared memory.

    It first signs the partition's row of ``runners`` (pid, start time on the
    monotonic clock), so the main process knows whose death lost it and how
    long it has been running.
    """
    with _reported_as_partition_failure(model_ref, partition, seed):
        arrays = arrays_of(arena_id)
        runner = arrays["runners"][partition]
        runner[1] = time.monotonic()  # the start time before the pid: a signed row is always whole
        runner[0] = os.getpid()
        row = arrays["tallies"][partition]
        row[...] = 0.0
        get_model(model_ref).run_partition(params, seed, partition, partitions, row)
    return partition


def partition_row_task(model_ref: str, params: dict, seed: int, partition: int, partitions: int) -> np.ndarray:
    """Worker-side body of one partition for an executor without shared memory (MPI): return its tally row."""
    with _reported_as_partition_failure(model_ref, partition, seed):
        model = get_model(model_ref)
        row = np.zeros(model.tally_width(params))
        model.run_partition(params, seed, partition, partitions, row)
    return row


def simulate(model: BatchModel, cfg: RunConfig) -> np.ndarray:
    """Run every partition of ``cfg`` in this process, in order (no pool, no shared memory).

    Returns the (P, K) tally rows, bitwise those :func:`run_batch` returns
    for the same config; a parameter sweep runs each of its points this way.
    """
    params = dict(cfg.params)
    tallies = np.zeros((cfg.partitions, model.tally_width(params)))
    for partition in range(cfg.partitions):
        model.run_partition(params, cfg.seed, partition, cfg.partitions, tallies[partition])
    return tallies


class BatchStart(NamedTuple):
    """Where a resumed batch run starts: which partitions are done and their tally rows."""

    done: np.ndarray
    tallies: np.ndarray


class RunOutcome(NamedTuple):
    """Raw output of a run: tallies, wall time [s], workers and executor, last checkpoint, checkpointing cost.

    Tallies are the (P, K) partition rows of a batch run, or the (steps
    measured, observables) sums over partitions of a lockstep run.
    """

    tallies: np.ndarray
    wall_seconds: float
    workers: int
    executor: str
    checkpoint: Path | None = None
    checkpoint_stats: WriterStats | None = None


def run_batch(model: BatchModel, cfg: RunConfig, *, stop: StopFlag | None = None,
              progress: Callable[[int], Any] | None = None, checkpoints: CheckpointPlan | None = None,
              start: BatchStart | None = None) -> RunOutcome:
    """Run every partition of ``cfg`` not done in ``start`` and return all tally rows.

    See the module docstring for the loop.  ``checkpoints`` (optional) says
    where and how often to checkpoint; ``start`` continues from a checkpoint.

    Raises
    ------
    PartitionFailed  a partition raised in a worker (remote traceback attached)
    WorkerCrashed    a partition's worker died (or hung) on more than max_retries + 1 attempts
    Interrupted      SIGINT/SIGTERM: partitions in flight were finished and,
                     if checkpointing, a final checkpoint was written; a
                     second signal abandons them at once
    """
    stop = stop or StopFlag()
    params = dict(cfg.params)
    partitions = cfg.partitions
    remaining = 1.0 - float(start.done.mean()) if start is not None else 1.0
    kind, workers, _ = choose(model, cfg, remaining)
    started = time.perf_counter()
    model.warm()
    with SharedArena() as arena:
        tallies = arena.create("tallies", (partitions, model.tally_width(params)), np.float64)
        runners = arena.create("runners", (partitions, 2), np.float64)
        done = np.zeros(partitions, dtype=bool)
        if start is not None:
            done[:] = start.done
            tallies[done] = start.tallies[done]
        writer = checkpoints.writer() if checkpoints else None
        with writer or nullcontext(), make_executor(kind, workers, arena.specs) as executor:
            log.info("%s: %d partitions (%d to run) on %d %s worker(s)", model.name, partitions,
                     partitions - int(done.sum()), executor.workers, executor.kind)
            loop = _BatchLoop(executor, cfg, model, arena.arena_id, tallies, runners, done, stop, progress,
                              writer, checkpoints)
            loop.run(resumed=start is not None)
        result = tallies.copy()
        del tallies, runners, loop
    return RunOutcome(result, time.perf_counter() - started, executor.workers, executor.kind,
                      writer.last_written if writer else None, writer.stats if writer else None)


class _BatchLoop:
    """The submit / collect / checkpoint loop of one batch run (module docstring)."""

    def __init__(self, executor, cfg: RunConfig, model: BatchModel, arena_id: str, tallies: np.ndarray,
                 runners: np.ndarray, done: np.ndarray, stop: StopFlag, progress, writer: CheckpointWriter | None,
                 plan: CheckpointPlan | None) -> None:
        self.executor = executor
        self.runners = runners
        self.attempts = np.zeros(cfg.partitions, dtype=np.int64)
        self.blameless_rebuilds = 0
        self.cfg = cfg
        self.params = dict(cfg.params)
        self.arena_id = arena_id
        self.tallies = tallies
        self.done = done
        self.stop = stop
        self.progress = progress
        self.writer = writer
        self.plan = plan
        self.trigger = plan.trigger() if plan else None
        self.started = time.perf_counter()
        self.work = model.work(self.params)
        self.pending = deque(int(p) for p in np.flatnonzero(~done))
        self.in_flight: dict[cf.Future, int] = {}
        self.broken: BaseException | None = None  # why the executor broke, as its futures say

    def run(self, resumed: bool) -> None:
        if self.progress is not None and self.done.any():
            self.progress(self._work_done())
        if self.writer is not None and not resumed:
            self._checkpoint("running")
        limit = self.executor.workers + 2
        while self.pending or self.in_flight:
            if self.stop.is_set():
                self._interrupt()
            while self.pending and len(self.in_flight) < limit:
                partition = self.pending.popleft()
                self.runners[partition] = 0.0
                try:
                    self.in_flight[self._submit(partition)] = partition
                except cf.BrokenExecutor:  # a worker died since the last collect: its futures in flight say so
                    self.pending.appendleft(partition)
                    if not self.in_flight:  # none to say so (an idle worker died): rebuild, blaming no partition
                        self._recover([], hung=[], kill=True)
                    break
            self._collect()
            if checkpoint_due(self.trigger, self.stop):
                if self.plan.mode == "sync":
                    drained = time.perf_counter()
                    self._drain()
                    self.writer.stats.loop_seconds += time.perf_counter() - drained
                self._checkpoint("running")
        if self.writer is not None:
            self._checkpoint("finished")
            self.writer.finish()

    def _submit(self, partition: int) -> cf.Future:
        """Hand ``partition`` to the executor; BrokenExecutor if its pool has broken meanwhile."""
        if self.executor.shares_memory:
            return self.executor.submit(run_partition_task, self.cfg.model, self.params, self.cfg.seed, partition,
                                        self.cfg.partitions, self.arena_id)
        return self.executor.submit(partition_row_task, self.cfg.model, self.params, self.cfg.seed,  # row as a message
                                    partition, self.cfg.partitions)

    def _collect(self) -> None:
        """Wait up to the poll interval for partitions to finish and record them."""
        if self.writer is not None:
            self.writer.raise_if_failed()
        self.stop.raise_if_aborted()
        done, _ = cf.wait(self.in_flight, timeout=POLL_SECONDS, return_when=cf.FIRST_COMPLETED)
        finished = [(future, self.in_flight.pop(future)) for future in done]
        lost = [partition for future, partition in finished if not self._record(future, partition)]
        if lost:
            self._recover(lost, hung=[])
        elif self.in_flight and self.executor.lost_worker():
            self._recover([], hung=[], kill=True)  # a death the pool missed: its futures would never end
        elif self.cfg.unit_timeout > 0:
            now = time.monotonic()
            hung = [p for p in self.in_flight.values()
                    if self.runners[p, 0] and 0 < self.runners[p, 1] < now - self.cfg.unit_timeout]
            if hung:
                self._recover([], hung)

    def _record(self, future: cf.Future, partition: int) -> bool:
        """Record a finished partition; False if it was lost with its pool (broken or cancelled)."""
        if future.cancelled() or isinstance(future.exception(), cf.BrokenExecutor):
            self.broken = future.exception() or self.broken
            return False
        result = future.result()  # a PartitionFailed from the worker propagates
        if not self.executor.shares_memory:
            self.tallies[partition] = result
        self.done[partition] = True
        if self.progress is not None:
            self.progress(self._share(partition))
        return True

    def _recover(self, lost: list[int], hung: list[int], kill: bool = False) -> None:
        """A worker died (``lost``: partitions whose futures broke) or hung: rebuild the pool, run them again.

        The partitions whose runner died (or hung) are charged one attempt;
        the others of the old pool were only stopped with it and run again
        free.  A partition charged more than ``max_retries`` times stops the
        run with WorkerCrashed (exit 1) naming it; checkpoints are kept.
        """
        rebuild = getattr(self.executor, "rebuild", None)
        if rebuild is None:
            reason = f" ({self.broken})" if self.broken and str(self.broken) else ""
            raise WorkerCrashed(f"the {self.executor.kind} executor broke{reason} while running partition(s) "
                                f"{_listed(sorted(lost))}; checkpoints are kept")
        codes = rebuild(kill=kill or bool(hung))
        lost = sorted(set(lost) | {p for f, p in self.in_flight.items() if not self._record(f, p)})
        self.in_flight.clear()
        died = dead_workers(codes)
        if not died and not hung:
            self.stop.wait(POLL_SECONDS)  # all got SIGTERM: most likely with the main process (timeout, scheduler)
        self.pending.extendleft(reversed(lost))
        if self.stop.is_set():
            self._interrupt()
        started = [p for p in lost if self.runners[p, 0]]
        blamed = hung or [p for p in started if int(self.runners[p, 0]) in died] or started
        if not blamed:
            self.blameless_rebuilds += 1
            if self.blameless_rebuilds > self.cfg.max_retries:
                raise WorkerCrashed("worker processes keep dying before they run any partition; checkpoints are kept")
            return
        self.attempts[blamed] += 1
        if hung:
            cause = f"partition(s) {_listed(blamed)} ran longer than unit_timeout = {self.cfg.unit_timeout:g} s"
        else:
            cause = "; ".join(f"worker {pid} {how} while running partition(s) "
                              f"{_listed(p for p in blamed if int(self.runners[p, 0]) == pid)}"
                              for pid, how in died.items())
            cause = cause or f"a worker died while running partition(s) {_listed(blamed)}"
        over = [p for p in blamed if self.attempts[p] > self.cfg.max_retries]
        if over:
            raise WorkerCrashed(f"partition(s) {_listed(over)} failed on each of {self.attempts[over[0]]} attempts, "
                                f"the last time: {cause}; stopping (max_retries = {self.cfg.max_retries}): results "
                                "were not written, checkpoints are kept")
        log.warning("%s; partition(s) %s lost with the pool, running them again on a new one (attempt %d of %d)",
                    cause, _listed(lost), int(self.attempts[blamed].max()) + 1, self.cfg.max_retries + 1)

    def _drain(self) -> None:
        while self.in_flight:
            self._collect()

    def _share(self, partition: int) -> int:
        partitions = self.cfg.partitions
        return self.work * (partition + 1) // partitions - self.work * partition // partitions

    def _work_done(self) -> int:
        return sum(self._share(int(p)) for p in np.flatnonzero(self.done))

    def _checkpoint(self, status: str) -> None:
        snapshot = Snapshot(
            status=status,
            counters={"partitions_done": int(self.done.sum()), "partitions": self.cfg.partitions,
                      "work_done": self._work_done()},
            arrays={"done": self.done.astype(np.uint8)},
            rows={"tallies": (self.tallies, "done")},
            elapsed_seconds=self.plan.elapsed_before + time.perf_counter() - self.started,
            ran_on=(self.executor.kind, self.executor.workers),
        )
        self.writer.save(snapshot)
        self.trigger.reset()

    def _interrupt(self) -> None:
        """First SIGINT/SIGTERM: finish the partitions in flight, write a final checkpoint, raise.

        Worker processes get STOP_GRACE_SECONDS to finish theirs; then they are
        stopped and their partitions left to the resume, which runs them from
        the start (the results stay exact, a little work is lost).  Threads
        cannot be stopped: their partitions finish.
        """
        cancelled = [self.in_flight.pop(f) for f in list(self.in_flight) if f.cancel()]
        self.pending.extendleft(reversed(cancelled))
        if self.in_flight:  # on a terminal a note, as the wait may be long; elsewhere the last line says it all
            log.log(logging.WARNING if sys.stderr.isatty() else logging.INFO,
                    "%s received: finishing %d partition(s) in flight%s (signal again to abort at once)",
                    stop_reason(self.stop.signum), len(self.in_flight),
                    ", then writing a checkpoint" if self.writer else "")
        grace = time.monotonic() + STOP_GRACE_SECONDS
        while self.in_flight and (time.monotonic() < grace or not self.executor.stops_workers):
            self._collect()
        if self.in_flight:
            abandoned = sorted(self.in_flight.values())
            log.info("stopping the workers: partition(s) %s are left to the resume", _listed(abandoned))
            self.in_flight.clear()
            self.executor.terminate()
            self.pending.extendleft(abandoned)
        checkpoint = None
        if self.writer is not None:
            self._checkpoint("interrupted")
            checkpoint = self.writer.finish(keep_older=True)
        raise Interrupted(self.stop.signum, checkpoint)


#: How long a stop waits for worker processes to finish their partitions before it stops them [s].
STOP_GRACE_SECONDS = 0.25


def _listed(partitions) -> str:
    return ", ".join(str(int(p)) for p in partitions)


def dead_workers(codes: dict[int, int | None]) -> dict[int, str]:
    """The workers of a broken pool that died by themselves (pid -> how, in words), by pid.

    ``codes`` are the exit codes of the pool's workers: the pool SIGTERMs the
    survivors once one dies, so those are not counted.
    """
    died = {}
    for pid, code in sorted(codes.items()):
        if code in (None, 0, -signal.SIGTERM):
            continue
        if code < 0:
            hint = " (out of memory, or killed)" if -code == signal.SIGKILL else ""
            died[pid] = f"was killed by {signal.Signals(-code).name}{hint}"
        else:
            died[pid] = f"exited with status {code}"
    return died
