"""Declarations a model is made of: parameters, results and the batch entry points.

A model module holds its ``@njit`` kernels and ends with ``MODEL = BatchModel(...)``.
It never touches processes, shared memory, files or logging; the engine calls
it only through the entry points declared here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from ..stats import Estimate


@dataclass(frozen=True)
class Param:
    """One declared parameter: type, default, allowed range or choices, units, doc.

    Bounds follow OpenMC's ``check_greater_than``: ``gt``/``ge``/``lt``/``le``.
    ``allow_inf`` admits +inf for a float parameter (e.g. a half-space thickness).
    """

    name: str
    type: type
    default: Any
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    choices: tuple | None = None
    allow_inf: bool = False
    units: str = ""
    doc: str = ""

    def describe_range(self) -> str:
        """Human-readable allowed values, e.g. ``[0, 1]`` or ``one of: normal, isotropic``."""
        if self.choices is not None:
            return "one of: " + ", ".join(str(c) for c in self.choices)
        if self.type is bool:
            return "true or false"
        if self.type is str:
            return "any text"
        lower = f"> {_fmt(self.gt)}" if self.gt is not None else (f">= {_fmt(self.ge)}" if self.ge is not None else "")
        upper = f"< {_fmt(self.lt)}" if self.lt is not None else (f"<= {_fmt(self.le)}" if self.le is not None else "")
        if self.ge is not None and self.le is not None:
            text = f"in [{_fmt(self.ge)}, {_fmt(self.le)}]"
        else:
            text = " and ".join(part for part in (lower, upper) if part) or "any value"
        return text + (" or inf" if self.allow_inf else "")


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return f"{value:g}"


@dataclass(frozen=True)
class Result:
    """One declared result: its name in ``/results``, units and meaning."""

    name: str
    units: str = ""
    doc: str = ""


class ResultValue(NamedTuple):
    """A reduced result: per-partition values plus the pooled estimate."""

    per_partition: np.ndarray
    estimate: Estimate
    estimator: str  # how stderr was obtained: "iid", "batch_means", "blocking"
    autocorrelation_time: float | None = None  # of the series blocked [samples] (simcore.blocking)

    @classmethod
    def blocked(cls, per_partition: np.ndarray, analysis, n: int, units: str = "") -> "ResultValue":
        """The result of blocking a series of ``n`` samples (a :class:`~simcore.blocking.BlockingEstimate`)."""
        return cls(per_partition, Estimate(analysis.mean, analysis.stderr, n, units), "blocking",
                   analysis.autocorrelation_time)


class SeriesValue(NamedTuple):
    """A reduced series (profile or time series) with its abscissa.

    A 2D series (one row per abscissa value) names its columns in
    ``columns`` and gives their units in ``column_units``.
    """

    values: np.ndarray
    stderr: np.ndarray | None
    axis_name: str
    axis: np.ndarray
    axis_units: str
    units: str
    doc: str
    columns: tuple[str, ...] = ()
    column_units: tuple[str, ...] = ()


class Intensity(NamedTuple):
    """What one natural unit of a kernel (a flip, a dart, a pair, an atom-step) costs the machine.

    ``flops``: double-precision operations (an FMA is 2; a divide, square root
    or logarithm counts as the operations it replaces: 1, 1, about 20);
    ``bytes``: bytes streamed from beyond the core's own L1 and L2 (data reused
    from them, as a block of bodies or an atom's neighbours, is not counted:
    the triad ceiling is main memory's); ``philox``: Philox4x32-10 calls.
    :func:`simcore.testing.limits.roofline` divides a measured rate by the
    machine's ceilings with these.
    """
    flops: float = 0.0
    bytes: float = 0.0
    philox: float = 0.0

    def scaled(self, factor: float) -> "Intensity":
        """``factor`` units' worth: every count times ``factor``."""
        return Intensity(*(count * factor for count in self))


class Halo(NamedTuple):
    """What a lockstep partition's phases and measurement read beyond its own rows.

    The driver brings it to a worker that does not share the state's memory
    (:mod:`simcore.distributed`, on MPI ranks) before every phase and every
    measurement:

    * ``rows = k``: the k rows on either side of the worker's own, the first
      axis wrapping around (ising: 1, the neighbouring lattice rows).  The
      worker holds only its rows and those, a *window* of the state; the
      model's ``init``, ``phase`` and ``measure`` then take one more
      argument, ``origin``, the state's row that row 0 of the window is, and
      their row range is the window's.
    * ``every_row = True``: every row, of which only the columns
      [columns[0], columns[1]) of the last axis change in a step (nbody: the
      positions; masses never change).  The worker holds the whole state and
      updates its own rows.
    * ``domain``: the partitions' rows are atoms (the state's last axis), which
      a worker owns by where they are (:class:`Domain`, lj).
    """

    rows: int = 0
    every_row: bool = False
    columns: tuple[int, int] = (0, 0)
    domain: Domain | None = None


class Domain(NamedTuple):
    """A particle model whose atoms MPI ranks own by region of a cubic periodic box (:mod:`simcore.slabs`).

    The state is (quantities, atoms); a rank holds the columns of the atoms
    whose reference positions lie in its slab of the box, sorted by atom,
    then *ghosts*: the positions of the other ranks' atoms within
    ``reach`` of its slab.  The model's ``phase`` takes one more argument,
    the rank's atoms (None in shared memory, where every column is
    there), with ``ids`` (the atom of each column), ``largest(x)`` and
    ``total(accumulator)`` (a maximum and an exact sum over every rank) and
    ``moved()``, which the phase that sets the reference positions calls:
    after it the atoms move to their new owners and the ghosts are renewed.
    Measurements are exact sums (:mod:`simcore.exactsum`), so they do not
    depend on which rank holds an atom.
    """

    box: Callable[[Mapping[str, Any]], float]  #: side of the box [length]
    reach: Callable[[Mapping[str, Any]], float]  #: ghosts within this of a slab (cutoff + skin) [length]
    reference: slice  #: rows of the reference positions: owners and ghosts follow them
    positions: slice  #: rows of the positions, sent to the ghosts before each phase of ``ghost_phases``
    ghost_phases: tuple[int, ...]  #: the phases that read the ghosts' positions (the forces)
    #: (params, state, a, b, acc): add the observables of columns [a, b) to ``acc`` (K, exactsum.LIMBS) exactly
    accumulate: Callable[..., None]


class Reduction(NamedTuple):
    """Everything a model derives from the reduced tallies."""

    results: dict[str, ResultValue]
    series: dict[str, SeriesValue]


@dataclass(frozen=True)
class BatchModel:
    """A model run by the batch (map-reduce) driver.

    Entry points (all take the validated parameter mapping ``p``):

    * ``default_partitions(p)``  -- partition count P chosen from the problem size
    * ``work(p)``                -- total work items (histories, samples) for progress
    * ``tally_width(p)``         -- float64 columns of one partition's tally row
    * ``run_partition(p, seed, partition, partitions, row)`` -- fill ``row`` in place
    * ``reduce(p, tallies)``     -- (P, K) tallies -> :class:`Reduction`
    * ``check(p)``               -- cross-parameter constraints (raise ``ValueError``)
    * ``warm()``                 -- compile or load every kernel once
    * ``reference_lines(p)``     -- optional: result or parameter name -> (exact value, label), drawn
      by ``simcore plot`` as a reference line (pi's value, Onsager's Tc on an Ising sweep over T)
    * ``cost(p)``                -- optional: estimated seconds of the whole run on one core,
      which ``workers = auto`` weighs against a pool's overhead (:mod:`simcore.autoworkers`)

    ``fixed_partitions``: the partition count is always ``default_partitions(p)``
    (one per unit of a fixed list, e.g. the points of a sweep).

    ``extended_by``: the work count (histories, samples) that ``run_partition``
    splits with :func:`partition_share` and nothing else, each partition's
    random numbers depending on its index or its items only.  Then raising it
    k-fold together with the partitions leaves partitions 0..P-1 as they were,
    and ``simcore resume FILE --set NAME=k*value`` runs only the k*P - P new
    ones: bitwise the run of k*value on k*P partitions from the start.

    ``rate(p)``: the unit of the model's natural speed and how many of it one
    work item is, e.g. ``("flips", L**dim)`` for an Ising sweep; the progress
    bar shows that rate (default: ``work_unit`` per second).

    ``intensity(p)``: optional, the :class:`Intensity` of one natural unit of
    ``rate`` (flops, bytes, Philox calls), by which a benchmark reports the
    kernel's fraction of the machine's limits (:mod:`simcore.testing.limits`).
    """

    name: str
    doc: str
    params: tuple[Param, ...]
    results: tuple[Result, ...]
    default_partitions: Callable[[Mapping[str, Any]], int]
    work: Callable[[Mapping[str, Any]], int]
    work_unit: str
    tally_width: Callable[[Mapping[str, Any]], int]
    run_partition: Callable[..., None]
    reduce: Callable[[Mapping[str, Any], np.ndarray], Reduction]
    warm: Callable[[], None]
    check: Callable[[Mapping[str, Any]], None] = lambda p: None
    references: tuple[str, ...] = ()
    reference_lines: Callable[[Mapping[str, Any]], Mapping[str, tuple[float, str]]] = lambda p: {}
    fixed_partitions: bool = False
    rate: Callable[[Mapping[str, Any]], tuple[str, float]] | None = None
    cost: Callable[[Mapping[str, Any]], float] | None = None
    extended_by: str = ""  # the work count a resume may multiply, with the partitions
    intensity: Callable[[Mapping[str, Any]], Intensity] | None = None
    driver: str = field(default="batch", init=False)

    def param(self, name: str) -> Param:
        """The declaration of parameter ``name`` (KeyError if undeclared)."""
        for declared in self.params:
            if declared.name == name:
                return declared
        raise KeyError(name)


#: What a default partition costs at most on one core [s]: a stop (Ctrl-C, SIGTERM) waits for the partitions in
#: flight, so a large run is cut finer than its minimum partition count (16 threads on 2 cores: 8 times this).
PARTITION_SECONDS = 0.1
#: Most partitions a default partitioning makes (a (P, K) tally row each, in memory and in the checkpoints).
MAX_DEFAULT_PARTITIONS = 2**16


def partitions_for(cost_seconds: float, at_least: int) -> int:
    """Default partition count: ``at_least``, or more, so that each takes at most PARTITION_SECONDS on one core.

    ``cost_seconds`` is the model's estimate of the whole run on one core (a fixed formula, not a
    measurement, so the count, and with it the results, depend only on the parameters).
    """
    return int(max(at_least, min(MAX_DEFAULT_PARTITIONS, math.ceil(cost_seconds / PARTITION_SECONDS))))


def partition_share(total: int, partitions: int, index: int) -> tuple[int, int]:
    """Half-open range [start, stop) of the ``total`` items that partition ``index`` owns.

    The split depends only on (total, partitions), never on the worker count.
    """
    return total * index // partitions, total * (index + 1) // partitions



def fold_into_box(positions: np.ndarray, box) -> np.ndarray:
    """Positions mapped into the periodic box [0, box) (box: edges, same length units), as a new array."""
    folded = positions - box * np.floor(positions / box)
    return np.where(folded >= box, folded - box, folded)  # -1e-17 + box rounds to box


class Trajectory(NamedTuple):
    """What a particle model records every ``every`` steps: ``positions(state)`` (N, 3), folded into the box.

    ``dt`` is the time per step and ``box`` the edges of the periodic box,
    for the H5MD file (:mod:`simcore.frames`).
    """

    every: int
    dt: float
    box: np.ndarray
    positions: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LockstepModel:
    """A model run by the lockstep driver: workers own row ranges of one shared state.

    The state (``state_shape(p)``, ``state_dtype``) lives in shared memory;
    its ``rows(p)`` rows are split into partitions: an axis of the state the
    model chooses (ising: the lattice rows, the first axis; lj: the atoms,
    the second axis of a (quantity, atom) table).  Each step
    runs ``phases`` phases (a number, or a function of ``p``: an integrator
    with fewer substeps needs fewer barriers); every worker does a phase on
    its rows, then all meet at a barrier.  From step ``measured_from(p)`` on, each partition
    writes partial sums of the ``observables`` of its rows after the step.

    Entry points (``p`` is the validated parameter mapping; rows are [row_start, row_stop)):

    * ``default_partitions(p)``, ``rows(p)``, ``steps(p)``, ``measured_from(p)``
    * ``init(p, seed, state, row_start, row_stop)``           -- initial state of the rows
    * ``phase(p, seed, step, phase, state, row_start, row_stop)`` -- one phase on the rows;
      it may read the other partitions' rows, which no one writes during the phase
    * ``measure(p, state, row_start, row_stop, out)``         -- partial sums into ``out``
    * ``reduce(p, sums)``   -- (measured steps, observables) sums over partitions -> :class:`Reduction`
    * ``check(p)``, ``warm()``, ``cost(p)`` as for :class:`BatchModel`
    * ``trajectory(p)``     -- a :class:`Trajectory` to record, or None (the default)
    * ``extended_by``       -- the parameter of the run's length (sweeps, steps, t_end) that
      ``simcore resume FILE --set NAME=larger`` may raise: the longer run is bitwise the run that
      asked for it from the start, as each step draws its random numbers by step, never by leg
    * ``rate(p)``, ``intensity(p)`` -- as for :class:`BatchModel`
    * ``halo(p)``           -- optional, the :class:`Halo` a partition reads beyond its rows, which
      lets the model run on workers that share no memory (``executor = mpi``); a model without
      one runs only where the workers share the state
    """

    name: str
    doc: str
    params: tuple[Param, ...]
    results: tuple[Result, ...]
    default_partitions: Callable[[Mapping[str, Any]], int]
    rows: Callable[[Mapping[str, Any]], int]
    state_shape: Callable[[Mapping[str, Any]], tuple[int, ...]]
    state_dtype: Any
    phases: int | Callable[[Mapping[str, Any]], int]
    steps: Callable[[Mapping[str, Any]], int]
    measured_from: Callable[[Mapping[str, Any]], int]
    observables: tuple[str, ...]
    init: Callable[..., None]
    phase: Callable[..., None]
    measure: Callable[..., None]
    reduce: Callable[[Mapping[str, Any], np.ndarray], Reduction]
    warm: Callable[[], None]
    work_unit: str = "steps"
    check: Callable[[Mapping[str, Any]], None] = lambda p: None
    trajectory: Callable[[Mapping[str, Any]], Trajectory | None] = lambda p: None
    references: tuple[str, ...] = ()
    reference_lines: Callable[[Mapping[str, Any]], Mapping[str, tuple[float, str]]] = lambda p: {}
    extended_by: str = ""  # the parameter of the run's length that simcore resume --set may raise
    rate: Callable[[Mapping[str, Any]], tuple[str, float]] | None = None
    cost: Callable[[Mapping[str, Any]], float] | None = None
    intensity: Callable[[Mapping[str, Any]], Intensity] | None = None
    halo: Callable[[Mapping[str, Any]], Halo] | None = None
    driver: str = field(default="lockstep", init=False)

    def work(self, p: Mapping[str, Any]) -> int:
        """Total steps, for progress."""
        return self.steps(p)

    def phase_count(self, p: Mapping[str, Any]) -> int:
        """Phases of one step: ``phases`` itself, or ``phases(p)`` when it depends on the parameters."""
        return self.phases(p) if callable(self.phases) else self.phases

    def param(self, name: str) -> Param:
        """The declaration of parameter ``name`` (KeyError if undeclared)."""
        return BatchModel.param(self, name)  # type: ignore[arg-type]


#: Either kind of model.
Model = BatchModel | LockstepModel


def progress_rate(model: Model, p: Mapping[str, Any]) -> tuple[str, float]:
    """What the progress bar counts for ``model`` with parameters ``p``: (unit, units per work item);
    the work items themselves if the model declares no ``rate``."""
    return model.rate(p) if model.rate else (model.work_unit, 1)
