"""``workers = auto``: run serially when the work is too small to pay for a pool.

A pool costs a start-up ``S`` (processes forked from the forkserver, arena
attached) and an overhead ``O`` per task (pickling, a round trip through the
pool's queues; for lockstep runs a barrier wait per phase instead).  With
``T`` seconds of work on one core, ``n`` tasks and ``W`` workers::

    serial  ~  T
    pool    ~  S + (T + n * O) / W

``auto`` takes the pool, on every usable core (at most one per partition),
when its estimate is the smaller one, and runs serially (no worker process,
no thread) otherwise; the INFO log line says which and why.  The ``mpi``
executor is kept as asked, on every usable core (or the launcher's ranks).

Where ``T`` comes from: the model declares ``cost(p)``, its estimated
seconds on one core, from its own work count and its kernels' measured rate
(BENCHMARKS.md, 2-core machine: ~1.1 ns a pi dart, ~50 ns a transport
collision, ~1.3 ns an Ising site update, ~0.9 ns an N-body pair, ~220 ns an
LJ atom-step).  It was chosen over timing a warm-up unit because it costs
nothing, is known before anything runs (so ``--dry-run`` and the log can
state it), and gives the same choice for the same config on a loaded or an
idle machine, which keeps the choice testable and runs repeatable.  A
declared rate is off by the machine's speed, but the choice only matters
near the crossover, where serial and pool cost about the same: a factor 2
error there costs at most a factor 2 on a run of about ``S`` seconds.  A
model that declares no cost gets the pool (the behaviour before ``auto``).

``S`` and ``O`` are those of ``experiments/pool_granularity.py`` on the
2-core development machine (BENCHMARKS.md, "When a pool pays").  The first
process pool of a Python process also starts the forkserver, which preloads
every kernel: ``S`` includes that cold start until the forkserver runs (a
command-line run always pays it; later runs of a script or notebook do not).
"""
from __future__ import annotations

import logging
import multiprocessing.forkserver
from typing import NamedTuple

from .config import RunConfig, default_workers
from .models.base import LockstepModel, Model

log = logging.getLogger(__name__)

#: Start-up of a pool until its first result [s] (process: forkserver running; BENCHMARKS.md measured
#: 63-70 ms for a bare pool; the engine's also starts a log listener and attaches the arena).
POOL_START_SECONDS = {"process": 0.15, "thread": 0.002}
#: The forkserver's own start with its kernel preload from the numba cache [s], paid by the first
#: process pool (BENCHMARKS.md: 1.78 s; with a stale cache it compiles, 19 s, which no estimate covers).
FORKSERVER_START_SECONDS = 1.8
#: Pool overhead per submitted task [worker-seconds] (BENCHMARKS.md, 1 us tasks: 234-268 us, 59-74 us).
TASK_SECONDS = {"process": 250e-6, "thread": 70e-6}
#: One call from the lockstep driver into a model's phase or measurement (Python, a small kernel), and the
#: driver's own time a step [s].  Measured serially on ising L=8 and 16, 1 to 16 partitions: 19, 21, 83 and 140 us
#: a sweep (3 calls a partition) fit 10 us + 3 us a call.  Without the 10 us, a sweep of small lockstep points
#: looked 4 times cheaper than it is and ran serially, where a stop waits for the point in progress.
CALL_SECONDS, STEP_SECONDS = 3e-6, 10e-6
#: One lockstep barrier wait [s]: the spinning barrier of process workers, a threading.Barrier for threads.
BARRIER_SECONDS = {"process": 5e-6, "thread": 50e-6}


class Choice(NamedTuple):
    """How a run executes: executor kind, worker count, and why (a phrase for the log)."""

    executor: str
    workers: int
    reason: str


def choose(model: Model, cfg: RunConfig, remaining: float = 1.0) -> Choice:
    """The executor and worker count of ``cfg``; resolves ``workers = "auto"``.

    ``remaining`` is the fraction of the work still to run (a resumed run).
    An explicit worker count is kept (at most one worker per partition); the
    serial executor always has one worker.  An ``auto`` choice is logged
    (INFO) with its reason.
    """
    choice = _choose(model, cfg, remaining)
    if cfg.workers == "auto" and cfg.executor != "serial":
        log.info("%s: %s", model.name, choice.reason)
    return choice


def driver_seconds(model: Model, params, partitions: int, remaining: float = 1.0) -> tuple[float, float]:
    """A lockstep run's barrier waits, and the seconds its driver spends calling the model; (0, 0) for a batch run.

    A barrier follows each phase and each measurement; the driver calls the model once a partition and phase.
    """
    if not isinstance(model, LockstepModel):
        return 0.0, 0.0
    steps = model.steps(params) * remaining
    waits = steps * (model.phase_count(params) + 1)
    return waits, waits * partitions * CALL_SECONDS + steps * STEP_SECONDS


def pool_start_seconds(kind: str) -> float:
    """What starting a ``kind`` pool costs now [s]: the forkserver's start too, if it is not running yet."""
    cold = kind == "process" and multiprocessing.forkserver._forkserver._forkserver_pid is None
    return POOL_START_SECONDS[kind] + (FORKSERVER_START_SECONDS if cold else 0.0)


def _choose(model: Model, cfg: RunConfig, remaining: float) -> Choice:
    kind = cfg.executor
    if kind == "serial":
        return Choice("serial", 1, "executor = serial")
    if cfg.workers != "auto":
        return Choice(kind, min(cfg.workers, cfg.partitions), f"workers = {cfg.workers}")
    workers = min(default_workers(), cfg.partitions)
    if kind == "mpi":  # asked for by name (under mpiexec the launcher sets the ranks): never second-guessed
        return Choice(kind, workers, "workers = auto: executor = mpi, all usable cores")
    if workers <= 1:
        return Choice("serial", 1, f"workers = auto and {'one core' if cfg.partitions > 1 else 'one partition'}")
    params = dict(cfg.params)
    work = model.cost(params) if model.cost is not None else None
    if work is None:
        return Choice(kind, workers, f"workers = auto: pool, {model.name} declares no cost estimate")
    work *= remaining
    start = pool_start_seconds(kind)
    if isinstance(model, LockstepModel):
        waits, calls = driver_seconds(model, params, cfg.partitions, remaining)
        work += calls
        pool = start + work / workers + waits * BARRIER_SECONDS[kind]
        overhead = f"start {start:.2g} s + {waits:.3g} barrier waits"
    else:
        tasks = cfg.partitions * remaining
        pool = start + (work + tasks * TASK_SECONDS[kind]) / workers
        overhead = f"start {start:.2g} s + {tasks:.0f} tasks"
    estimate = f"about {work:.3g} s of work serially, about {pool:.3g} s on {workers} {kind} workers ({overhead})"
    if pool < work:
        return Choice(kind, workers, f"workers = auto: pool, {estimate}")
    return Choice("serial", 1, f"workers = auto: serial, {estimate}")
