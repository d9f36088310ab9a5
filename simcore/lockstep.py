"""The lockstep (domain decomposition) driver.

``run_lockstep`` loop, as pseudocode::

    state  = arena.create("state", model.state_shape)       # shared
    buffer = arena.create("observables", (round steps, P, K))  # shared, one round's measurements
    sums   = zeros(measured steps, K)                        # main process: sums over partitions
    partitions = P row ranges of the state's first axis; W = min(workers, P)
                                                             (workers = auto: maybe serial, W = 1)
    groups = W contiguous runs of partitions, one per worker
    init the state (main process), or copy it from the checkpoint
    checkpoint("running")                                    # sequence 0 (not on resume)
    while steps remain:
        if SIGINT/SIGTERM/SIGHUP: checkpoint("interrupted"), raise Interrupted
        round: each worker runs steps [s, s + chunk) on its group:
            for each step: for each phase: phase(rows of each partition); barrier
                           if measured: measure(rows) -> buffer[step, partition]; barrier
        wait for the W tasks (one failing aborts the barrier for the others)
        a worker died: rebuild the pool, restore the newest whole state (the
            last checkpoint's copy, or the start's) and run its steps again
        sums[round's steps] = buffer summed over partitions, in partition order
        chunk adapts so a round lasts ~0.25 s (and at most ``ROUND_STEPS_MAX`` steps):
            signals and checkpoints wait no longer
        every checkpoint_every seconds, or on SIGUSR1: checkpoint("running")
    checkpoint("finished"); return sums

Shared memory holds one round of per-partition measurements, not the whole
run's: a long run costs (steps x K) floats in the main process, P times
less.  Between rounds no worker runs, so the main process sees a consistent
state: a checkpoint copies it (a memcpy) and hands it to the writer thread;
the per-step sums already measured are final and go to row segments without
a copy.  The model's random numbers are keyed by what is updated (a lattice
site and a step), never by the partition or worker, so the state and the
sums are bitwise identical for any worker count and executor, and after a
resume.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import time
import traceback
from contextlib import nullcontext
from typing import Any, Callable, NamedTuple

import numpy as np

from .autoworkers import choose
from .barrier import SUPPORTED as SPIN_SUPPORTED
from .barrier import SpinBarrier
from .barrier import counters as barrier_counters
from .checkpoint import CheckpointPlan, Snapshot
from .config import RunConfig
from .engine import POLL_SECONDS, PartitionFailed, RunOutcome, WorkerCrashed, checkpoint_due, dead_workers
from .executors import current_barrier, lockstep_executor
from .frames import FrameStore
from .interrupts import Interrupted, StopFlag
from .models import get_model
from .models.base import LockstepModel, fold_into_box, partition_share
from .shm import SharedArena, arrays_of

log = logging.getLogger(__name__)

#: Target wall time of one round [s]: how long a signal or a due checkpoint may wait.
ROUND_SECONDS = 0.25
#: Most steps in one round: the rows of the shared buffer the workers measure into.
ROUND_STEPS_MAX = 4096


class LockstepStart(NamedTuple):
    """Where a resumed lockstep run starts: steps done, the state, the per-step sums (over partitions) so far."""

    step: int
    state: np.ndarray
    sums: np.ndarray


def partition_rows(rows: int, partitions: int) -> list[tuple[int, int]]:
    """Row range [start, stop) of each partition (depends only on rows and partitions)."""
    return [partition_share(rows, partitions, k) for k in range(partitions)]


def run_lockstep_task(model_ref: str, params: dict, seed: int, party: int, parts: list[tuple[int, int, int]],
                      first_step: int, stop_step: int, measured_from: int, arena_id: str) -> int:
    """Worker ``party``'s side of one round: steps [first_step, stop_step) on ``parts``.

    ``parts`` lists (partition, row_start, row_stop).  The barrier is the
    arena's spinning one if it has one, else the executor's.
    """
    model = get_model(model_ref)
    arrays = arrays_of(arena_id)
    barrier = SpinBarrier(arrays["barrier"], party) if "barrier" in arrays else current_barrier()
    at = [parts[0][0]]
    try:
        advance(model, params, seed, parts, first_step, stop_step, measured_from, arrays["state"],
                arrays["observables"], barrier.wait, at)
    except threading.BrokenBarrierError:
        return -1  # another worker failed; the main process reports that one
    except Exception as exc:  # noqa: BLE001 - re-raised with context for the main process
        barrier.abort()
        raise PartitionFailed(model_ref, at[0], seed, f"{type(exc).__name__}: {exc}",
                              traceback.format_exc()) from None
    return stop_step


def advance(model: LockstepModel, params: dict, seed: int, parts, first_step: int, stop_step: int,
            measured_from: int, state: np.ndarray, sums: np.ndarray, wait: Callable[[], Any],
            at: list[int] | None = None, origin: int | None = None, first_part: int = 0) -> None:
    """Steps [first_step, stop_step) of ``parts`` ((partition, row_start, row_stop) triples).

    The measurement after a step s >= ``measured_from`` goes to
    ``sums[s - max(first_step, measured_from), partition - first_part]``:
    the rows of ``sums`` are the measured steps of this call.  ``wait()`` is
    called after every phase and every measurement (the barrier, or the halo
    exchange; a no-op when one process owns every partition).  ``origin``:
    ``state`` is a window of the state's rows starting at row ``origin``
    (:class:`~simcore.models.base.Halo`), passed on to the model; None for
    the whole state.  ``at[0]`` tracks the partition being worked on, to name
    it if the model raises.
    """
    at = at if at is not None else [0]
    phases = model.phase_count(params)
    first_row = max(first_step, measured_from)
    window = () if origin is None else (origin,)
    for step in range(first_step, stop_step):
        for phase in range(phases):
            for at[0], start, stop in parts:
                model.phase(params, seed, step, phase, state, start, stop, *window)
            wait()
        if step >= measured_from:
            for at[0], start, stop in parts:
                model.measure(params, state, start, stop, sums[step - first_row, at[0] - first_part], *window)
            wait()


def simulate(model: LockstepModel, cfg: RunConfig) -> np.ndarray:
    """Run ``cfg`` start to end in this process (no pool, no shared memory); return the per-step sums.

    The result is bitwise what :func:`run_lockstep` returns for the same
    config; a parameter sweep runs each of its points this way.
    """
    params = dict(cfg.params)
    steps, measured_from = model.steps(params), model.measured_from(params)
    rows = partition_rows(model.rows(params), cfg.partitions)
    state = np.empty(model.state_shape(params), model.state_dtype)
    sums = np.zeros((steps - measured_from, cfg.partitions, len(model.observables)))
    for first, last in rows:
        model.init(params, cfg.seed, state, first, last)
    parts = [(k, first, last) for k, (first, last) in enumerate(rows)]
    advance(model, params, cfg.seed, parts, 0, steps, measured_from, state, sums, lambda: None)
    return sums.sum(axis=1)


def run_lockstep(model: LockstepModel, cfg: RunConfig, *, stop: StopFlag | None = None,
                 progress: Callable[[int], Any] | None = None, checkpoints: CheckpointPlan | None = None,
                 start: LockstepStart | None = None, frames: FrameStore | None = None) -> RunOutcome:
    """Run ``model`` in lockstep (module docstring) and return the per-step sums over partitions.

    With ``frames``, the model's trajectory (if it declares one) is written
    there every ``every`` steps: rounds end at those steps.  Raises
    PartitionFailed, WorkerCrashed, CheckpointError or Interrupted as
    :func:`simcore.engine.run_batch` does.
    """
    stop = stop or StopFlag()
    params = dict(cfg.params)
    steps, measured_from = model.steps(params), model.measured_from(params)
    remaining = 1.0 - (start.step / steps if start is not None else 0.0)
    kind, workers, _ = choose(model, cfg, remaining)
    started = time.perf_counter()
    if kind != "mpi":
        model.warm()  # (each MPI rank warms its own)
    measured = np.zeros((steps - measured_from, len(model.observables)))
    if start is not None:
        done = max(0, start.step - measured_from)
        measured[:done] = start.sums[:done]
    writer = checkpoints.writer() if checkpoints else None
    loop_args = (cfg, model, measured, stop, progress, writer, checkpoints, frames)
    with writer or nullcontext():
        if kind == "mpi":
            workers = _run_on_ranks(workers, start, loop_args)
        else:
            _run_in_shared_memory(kind, workers, start, loop_args)
    return RunOutcome(measured, time.perf_counter() - started, workers, kind, writer.last_written if writer else None,
                      writer.stats if writer else None)


def _run_in_shared_memory(kind: str, workers: int, start: LockstepStart | None, loop_args: tuple) -> None:
    """The run on a pool whose workers share the state (module docstring)."""
    cfg, model = loop_args[:2]
    params = dict(cfg.params)
    rows = partition_rows(model.rows(params), cfg.partitions)
    with SharedArena() as arena:
        state = arena.create("state", model.state_shape(params), model.state_dtype)
        buffer = arena.create("observables", (ROUND_STEPS_MAX, cfg.partitions, len(model.observables)))
        if start is None:
            for first, last in rows:
                model.init(params, cfg.seed, state, first, last)
        else:
            state[...] = start.state
        slots = (arena.create("barrier", *barrier_counters(workers))
                 if kind == "process" and SPIN_SUPPORTED else None)
        with lockstep_executor(kind, workers, arena.specs, slots) as (executor, barrier):
            _log_start(model, cfg, start, workers, executor.kind)
            loop = _LockstepLoop(executor, buffer, *loop_args, state=state, barrier=barrier,
                                 arena_id=arena.arena_id, rows=rows, workers=workers)
            loop.run(start.step if start else None)
        del state, buffer, slots, loop, barrier  # views of shared memory: gone before the arena closes


def _run_on_ranks(workers: int, start: LockstepStart | None, loop_args: tuple) -> int:
    """The run on MPI ranks, each holding its rows and their halo (:mod:`simcore.distributed`); the rank count."""
    from .mpi import lockstep_leader  # mpi4py only when asked for

    cfg, model = loop_args[:2]
    buffer = np.zeros((ROUND_STEPS_MAX, cfg.partitions, len(model.observables)))
    with lockstep_leader(workers) as leader:
        leader.start(cfg.model, dict(cfg.params), cfg.seed, cfg.partitions, start.state if start else None)
        _log_start(model, cfg, start, leader.workers, "mpi")
        _RanksLoop(leader, buffer, *loop_args).run(start.step if start else None)
        for rank, share, state_bytes, sent in leader.footprints():
            log.info("rank %d: %s; %d bytes of the state held (halo included), %.0f bytes of halo sent a step",
                     rank, share, state_bytes, sent)
        return leader.workers


def _log_start(model: LockstepModel, cfg: RunConfig, start: LockstepStart | None, workers: int, kind: str) -> None:
    log.info("%s: %d steps from step %d, %d partitions on %d %s worker(s)", model.name, model.steps(dict(cfg.params)),
             start.step if start else 0, cfg.partitions, workers, kind)


class _LockstepLoop:
    """The round / checkpoint loop of one lockstep run (module docstring)."""

    def __init__(self, executor, buffer, cfg: RunConfig, model: LockstepModel, measured, stop: StopFlag, progress,
                 writer, plan, frames: FrameStore | None, *, state=None, barrier=None, arena_id: str = "",
                 rows: list[tuple[int, int]] = (), workers: int = 1) -> None:
        self.executor, self.barrier = executor, barrier
        self.cfg, self.arena_id = cfg, arena_id
        self.params = dict(cfg.params)
        self.state, self.buffer, self.measured = state, buffer, measured
        self.steps, self.measured_from = model.steps(self.params), model.measured_from(self.params)
        groups = np.array_split(np.arange(cfg.partitions), workers)
        self.groups = [[(int(k), *rows[k]) for k in group] for group in groups] if rows else []
        self.stop, self.progress, self.writer, self.plan = stop, progress, writer, plan
        self.trigger = plan.trigger() if plan else None
        self.started = time.perf_counter()
        self.step = 0
        self.rollback: tuple[int, np.ndarray] | None = None  # (step, state): where a lost round restarts
        self.frames = frames
        self.trajectory = model.trajectory(self.params) if frames is not None else None
        self.failures, self.failed_at = 0, -1

    def run(self, resumed_at: int | None) -> None:
        self.step = resumed_at or 0
        if self.progress is not None and self.step:
            self.progress(self.step)
        if self.executor.kind == "process":
            self.rollback = (self.step, self.state.copy())
        if self.trajectory is not None:
            if resumed_at is None:
                self._record_frame()
            else:
                self.frames.keep_until(resumed_at)  # later frames are written again
        if self.writer is not None and resumed_at is None:
            self._checkpoint("running")
        chunk = 1
        while self.step < self.steps:
            if self.stop.is_set():
                self._interrupt()
            last = min(self.steps, self.step + chunk, self.step + len(self.buffer))
            if self.trajectory is not None:
                last = min(last, (self.step // self.trajectory.every + 1) * self.trajectory.every)
            began = time.perf_counter()
            try:
                self._round(last)
            except cf.BrokenExecutor as exc:
                self._roll_back(last, exc)
                continue
            if last > self.failed_at:
                self.failures = 0
            self._reduce_round(last)
            elapsed = time.perf_counter() - began
            if self.progress is not None:
                self.progress(last - self.step)
            chunk = max(1, min(4 * chunk, int(chunk * ROUND_SECONDS / max(elapsed, 1e-9))))
            self.step = last
            if self.trajectory is not None and last % self.trajectory.every == 0:
                self._record_frame()
            if checkpoint_due(self.trigger, self.stop):
                self._checkpoint("running")
        if self.writer is not None:
            self._checkpoint("finished")
            self.writer.finish()

    def _reduce_round(self, last: int) -> None:
        """Sum the round's measurements over partitions, in partition order, into their rows of ``measured``."""
        first = max(self.step, self.measured_from)
        if last > first:
            self.measured[first - self.measured_from:last - self.measured_from] = \
                self.buffer[:last - first].sum(axis=1)

    def _record_frame(self) -> None:
        """Write the positions of this step, folded into the box (between rounds: no worker moves them)."""
        self.frames.write(self.step, fold_into_box(self.trajectory.positions(self._whole_state()),
                                                   self.trajectory.box))

    def _whole_state(self) -> np.ndarray:
        """A copy of the whole state, between rounds."""
        return self.state.copy()

    def _round(self, last: int) -> None:
        futures = [self.executor.submit(run_lockstep_task, self.cfg.model, self.params, self.cfg.seed, party, group,
                                        self.step, last, self.measured_from, self.arena_id)
                   for party, group in enumerate(self.groups)]
        try:
            pending = set(futures)
            while pending:
                self.stop.raise_if_aborted()
                done, pending = cf.wait(pending, timeout=POLL_SECONDS, return_when=cf.FIRST_EXCEPTION)
                failed = next((f for f in done if f.exception() is not None), None)
                if failed is not None:
                    self._raise_failure(failed)
                if pending and self.executor.lost_worker():
                    self._broken(cf.BrokenExecutor("a worker process died (unnoticed by the pool)"))
        except BaseException:
            self.barrier.abort()  # a failure or a second signal: release the workers waiting at the barrier
            raise

    def _raise_failure(self, future: cf.Future) -> None:
        exc = future.exception()
        if not isinstance(exc, cf.BrokenExecutor):
            raise exc
        self._broken(exc)

    def _broken(self, exc: cf.BrokenExecutor) -> None:
        """A worker died: Interrupted if the main process got a signal with it, else ``exc`` (a rollback)."""
        if self.stop.wait(POLL_SECONDS):  # the workers got the main process's SIGTERM (timeout, a scheduler)
            raise Interrupted(self.stop.signum, self.writer.finish(keep_older=True) if self.writer else None)
        raise exc

    def _roll_back(self, last: int, exc: cf.BrokenExecutor) -> None:
        """A worker died in the round up to step ``last``: rebuild the pool and go back to the newest whole state.

        That state is the last checkpoint's copy (or the start's), so the
        steps since are run again, bitwise as before.  More than
        ``max_retries`` failures before the run gets past ``last`` stop it.
        """
        rebuild = getattr(self.executor, "rebuild", None)
        if rebuild is None or self.rollback is None:
            raise WorkerCrashed("a worker died during a lockstep round; checkpoints are kept") from exc
        died = dead_workers(rebuild(kill=True))
        cause = "; ".join(f"worker {pid} {how}" for pid, how in died.items()) or "a worker died"
        self.failures, self.failed_at = self.failures + 1, max(self.failed_at, last)
        if self.failures > self.cfg.max_retries:
            raise WorkerCrashed(f"workers died {self.failures} times before step {self.failed_at}, the last time: "
                                f"{cause}; stopping (max_retries = {self.cfg.max_retries}): results were not "
                                "written, checkpoints are kept") from exc
        step, state = self.rollback
        self.barrier.reset()
        self.state[...] = state
        if self.progress is not None:
            self.progress(step - self.step)
        log.warning("%s during steps %d-%d; back to step %d (the newest whole state) on a new pool (attempt %d of %d)",
                    cause, self.step, last, step, self.failures + 1, self.cfg.max_retries + 1)
        self.step = step

    def _checkpoint(self, status: str) -> None:
        measured = max(0, self.step - self.measured_from)
        mask = np.zeros(len(self.measured), dtype=np.uint8)
        mask[:measured] = 1
        state = self._whole_state()
        if self.rollback is not None:
            self.rollback = (self.step, state)
        self.writer.save(Snapshot(
            status=status,
            counters={"steps_done": self.step, "steps": self.steps},
            arrays={"state": state, "measured": mask},
            rows={"observables": (self.measured, "measured")},
            elapsed_seconds=self.plan.elapsed_before + time.perf_counter() - self.started,
            ran_on=(self.executor.kind, self.executor.workers),
        ))
        self.trigger.reset()

    def _interrupt(self) -> None:
        checkpoint = None
        if self.writer is not None:
            self._checkpoint("interrupted")
            checkpoint = self.writer.finish(keep_older=True)
        raise Interrupted(self.stop.signum, checkpoint)




def sums_shape(model: LockstepModel, cfg: RunConfig) -> tuple[int, int]:
    """Shape of a run's per-step sums over partitions: (steps measured, observables)."""
    params = dict(cfg.params)
    return model.steps(params) - model.measured_from(params), len(model.observables)


def lockstep_start(model: LockstepModel, cfg: RunConfig, arrays: dict[str, np.ndarray], steps_done: int,
                   source: str) -> LockstepStart:
    """The start of a resumed run from a checkpoint's arrays; ValueError naming ``source`` if they do not fit."""
    shape = model.state_shape(dict(cfg.params))
    state, sums = arrays.get("state"), arrays.get("observables")
    if state is None or sums is None or state.shape != shape or sums.shape != sums_shape(model, cfg):
        raise ValueError(f"{source}: its state does not fit the config (expected a state of shape {shape})")
    return LockstepStart(steps_done, state, sums)


class _RanksLoop(_LockstepLoop):
    """The round / checkpoint loop of a run on MPI ranks: rounds and the state go through a Leader.

    A rank that dies ends the MPI job: the round fails as a broken pool and
    the run stops (WorkerCrashed), its checkpoints kept; there is no pool
    to rebuild.
    """

    def _round(self, last: int) -> None:
        measured = self.executor.round(self.step, last, self.measured_from)
        self.buffer[:len(measured)] = measured

    def _whole_state(self) -> np.ndarray:
        return self.executor.state()
