"""Parameter sweeps: a grid of independent simulations run as one batch job, one HDF5 file.

::

    simcore sweep ising --param L=8,16,32 --param T=2.2:2.34:8 --set sweeps=20000

Each grid point is one work unit of the batch driver (DESIGN.md section 2):
the worker that takes point k runs that whole simulation in its own process
(no nested pool, no shared memory, as :func:`simcore.engine.simulate` and
:func:`simcore.lockstep.simulate` do) and writes the mean and standard error
of each of the model's results into tally row k.  Checkpoints, resume,
signals, failure reports and determinism are the batch driver's own: a
checkpoint holds the finished points, and a resumed sweep runs the others.

The sweep is itself a model, ``sweep``, with three text parameters: ``of``
(the model each point runs), ``grid`` (the axes, a TOML inline table of
value lists) and ``base`` (every other parameter of the points, a TOML
inline table with the defaults filled in).  Points are the Cartesian product
of the axes, the first axis varying slowest.  Point k runs with the seed
``point_seed(seed, k)``, stored in ``/series/seed``, so that
``simcore run MODEL --seed <it> --set <its values>`` reproduces it bitwise.

File layout: ``/series/<axis>`` (the axis value of each point),
``/series/seed``, ``/series/<result>`` and ``/series/<result>_stderr`` (per
point, against the abscissa ``/series/point``; a result named like a swept
parameter, as lj's ``temperature``, is stored as ``<result>_measured``), and
``/tallies/rows``.
"""
from __future__ import annotations

import functools
import itertools
import math
import tomllib
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from .config import RUN_SETTINGS, ConfigError, build_config, check_type, parse_scalar, toml_value
from .models import get_model, register_object
from .models.base import BatchModel, LockstepModel, Model, Param, Reduction, SeriesValue
from .provenance import api_call, invoked_as
from .rng import random_words

#: Philox stream of the point seeds (no model uses streams this high).
_SEED_STREAM = 0xFFFF_FFFF_0000_0001
#: The most grid points a sweep may have (one partition each).
MAX_POINTS = 100_000
#: A tally row: the point's seed as two exact 32-bit halves, then (mean, stderr) of each result.
_SEED_COLUMNS = 2


class SweepSpec(NamedTuple):
    """A validated sweep: the model, its axes (name -> values) and the fixed parameters."""

    of: str
    model: Model
    axes: dict[str, tuple]
    base: dict[str, Any]

    @property
    def points(self) -> list[dict[str, Any]]:
        """The grid points, the first axis varying slowest."""
        names = list(self.axes)
        return [dict(zip(names, values)) for values in itertools.product(*self.axes.values())]

    def point(self, index: int) -> dict[str, Any]:
        """Grid point ``index`` of :attr:`points`, without building the others."""
        chosen = {}
        for name, axis in reversed(self.axes.items()):
            index, position = divmod(index, len(axis))
            chosen[name] = axis[position]
        return {name: chosen[name] for name in self.axes}


def point_seed(seed: int, point: int) -> int:
    """The 64-bit seed of grid point ``point`` of a sweep with seed ``seed`` (Philox, counter = point)."""
    words = random_words(np.uint64(seed), np.uint64(_SEED_STREAM), np.uint64(point))
    return int(words[0]) | (int(words[1]) << 32)


def parse_axis(text: str) -> tuple[str, list]:
    """``NAME=start:stop:num`` (num evenly spaced values) or ``NAME=v1,v2,...`` -> (name, values)."""
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise ConfigError(f"--param expects NAME=start:stop:num or NAME=v1,v2,... (got {text!r})")
    if ":" in spec:
        parts = [parse_scalar(part) for part in spec.split(":")]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in parts[:2])
        if len(parts) != 3 or not numeric or not isinstance(parts[2], int) or isinstance(parts[2], bool) \
                or parts[2] < 1:
            raise ConfigError(f"--param {name}: a range is start:stop:num with numbers start, stop and an "
                              f"integer num >= 1 (got {spec!r})")
        start, stop, num = parts
        if num > MAX_POINTS:
            raise ConfigError(f"--param {name}: num must be at most {MAX_POINTS} (got {num})")
        if num == 1:
            return name, [start]
        return name, [float(v) for v in np.linspace(start, stop, num)]
    return name, [parse_scalar(part.strip()) for part in spec.split(",")]


def build_spec(of: str, axes: Mapping[str, Sequence], values: Mapping[str, Any]) -> SweepSpec:
    """Validate a sweep of model ``of`` over ``axes`` with the other parameters ``values``.

    ``values`` may hold the model's parameters and ``partitions`` (of every
    point).  Each point's config is validated as ``simcore run`` would;
    ConfigError names the first bad point.
    """
    model = get_model(of)
    if model.name == "sweep":
        raise ConfigError("a sweep cannot run sweeps")
    declared = {p.name: p for p in model.params}
    if not axes:
        raise ConfigError("a sweep needs at least one --param NAME=...")
    typed_axes: dict[str, tuple] = {}
    for name, axis_values in axes.items():
        if name not in declared:
            raise ConfigError(f"--param {name}: not a parameter of {model.name}; "
                              f"sweepable: {', '.join(declared)}")
        if name in values:
            raise ConfigError(f"{name} is both swept (--param) and fixed (--set); choose one")
        if len(axis_values) == 0:
            raise ConfigError(f"--param {name}: no values")
        typed = tuple(check_type(f"--param {name}", declared[name], v) for v in axis_values)
        if len(set(typed)) != len(typed):
            raise ConfigError(f"--param {name}: values repeat ({', '.join(map(str, typed))})")
        typed_axes[name] = typed
    points = math.prod(len(axis) for axis in typed_axes.values())
    if points > MAX_POINTS:
        raise ConfigError(f"a sweep has at most {MAX_POINTS} points (this grid has {points})")
    allowed = set(declared) | {"partitions"}
    for name in values:
        if name not in allowed:
            raise ConfigError(f"{name} cannot be set for the points of a sweep; set a parameter of "
                              f"{model.name} or partitions")
    first = {name: axis[0] for name, axis in typed_axes.items()}
    params = dict(_point_check(model, values, 0, first).params)
    base = {name: value for name, value in params.items() if name not in typed_axes}
    if "partitions" in values:
        base["partitions"] = values["partitions"]
    spec = SweepSpec(of, model, typed_axes, base)
    for index, point in enumerate(spec.points):
        _point_check(model, base, index, point)
    return spec


def _point_check(model: Model, values: Mapping[str, Any], index: int, point: Mapping[str, Any]):
    """The validated config of point ``index``; ConfigError naming the point if it is bad."""
    try:
        return build_config(model, {**values, **point})
    except ConfigError as exc:
        where = ", ".join(f"{k} = {v!r}" for k, v in point.items())
        raise ConfigError(f"sweep point {index} ({where}): {exc}") from None


def point_config(spec: SweepSpec, point: int, seed: int):
    """The RunConfig of grid point ``point`` (serial, in-process, no checkpoints)."""
    values = {**spec.base, **spec.point(point), "seed": point_seed(seed, point), "executor": "serial",
              "workers": 1, "checkpoint_every": 0}
    return build_config(spec.model, values, model_ref=spec.of)


def _inline_table(mapping: Mapping[str, Any]) -> str:
    """``{a = 1, b = [2.0, 3.0]}``: canonical TOML of a flat mapping of scalars and tuples."""
    def value(v: Any) -> str:
        return "[" + ", ".join(map(toml_value, v)) + "]" if isinstance(v, tuple) else toml_value(v)

    return "{" + ", ".join(f"{name} = {value(v)}" for name, v in mapping.items()) + "}"


def read_table(text: str, what: str) -> dict[str, Any]:
    """The TOML inline table ``text`` (a sweep's ``grid`` or ``base``) as a dict; ValueError naming ``what``."""
    try:
        table = tomllib.loads(f"t = {text}")["t"]
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{what} must be a TOML inline table ({exc})") from None
    if not isinstance(table, dict):
        raise ValueError(f"{what} must be a TOML inline table (got {text!r})")
    return table


def sweep_values(spec: SweepSpec) -> dict[str, str]:
    """The parameters of the ``sweep`` model that describe ``spec``."""
    return {"of": spec.of, "grid": _inline_table(spec.axes), "base": _inline_table(spec.base)}


@functools.lru_cache(maxsize=8)
def _spec_of(of: str, grid: str, base: str) -> SweepSpec:
    axes = read_table(grid, "grid")
    if not all(isinstance(values, list) for values in axes.values()):
        raise ValueError(f"grid must map each parameter to a list of values (got {grid!r})")
    return build_spec(of, axes, read_table(base, "base"))


def spec_of(p: Mapping[str, Any]) -> SweepSpec:
    """The :class:`SweepSpec` the ``sweep`` model's parameters describe (cached)."""
    return _spec_of(p["of"], p["grid"], p["base"])


def _run_point(p: Mapping[str, Any], seed: int, partition: int, partitions: int, row: np.ndarray) -> None:
    from .engine import simulate as simulate_batch
    from .lockstep import simulate as simulate_lockstep

    spec = spec_of(p)
    cfg = point_config(spec, partition, seed)
    simulate = simulate_lockstep if isinstance(spec.model, LockstepModel) else simulate_batch
    reduction = spec.model.reduce(dict(cfg.params), simulate(spec.model, cfg))
    row[0], row[1] = cfg.seed & 0xFFFF_FFFF, cfg.seed >> 32
    for k, result in enumerate(spec.model.results):
        estimate = reduction.results[result.name].estimate
        row[_SEED_COLUMNS + 2 * k], row[_SEED_COLUMNS + 2 * k + 1] = estimate.mean, estimate.stderr


def _reduce(p: Mapping[str, Any], tallies: np.ndarray) -> Reduction:
    spec = spec_of(p)
    points = np.arange(len(tallies))

    def per_point(values, stderr=None, units="", doc="") -> SeriesValue:
        return SeriesValue(np.asarray(values), stderr, "point", points, "", units, doc)

    series: dict[str, SeriesValue] = {}
    grid = spec.points
    for name, axis in spec.axes.items():
        column = [point[name] for point in grid]
        values = np.array(column, dtype="S") if isinstance(axis[0], str) else np.array(column)
        series[name] = per_point(values, units=spec.model.param(name).units, doc=f"swept parameter {name}")
    seeds = tallies[:, 0].astype(np.uint64) | (tallies[:, 1].astype(np.uint64) << np.uint64(32))
    series["seed"] = per_point(seeds, doc="the seed each point ran with")
    for k, result in enumerate(spec.model.results):
        column = _SEED_COLUMNS + 2 * k
        name = f"{result.name}_measured" if result.name in spec.axes else result.name  # lj: temperature
        series[name] = per_point(tallies[:, column], tallies[:, column + 1], result.units, result.doc)
    return Reduction({}, series)


def _cost(p: Mapping[str, Any]) -> float | None:
    """Estimated seconds of the whole sweep on one core: its points' costs, a lockstep driver's calls included
    (None if its model declares none)."""
    from .autoworkers import driver_seconds

    spec = spec_of(p)
    if spec.model.cost is None:
        return None
    total = 0.0
    for point in range(len(spec.points)):
        cfg = point_config(spec, point, 0)  # build_spec checked each point
        params = dict(cfg.params)
        total += spec.model.cost(params) + driver_seconds(spec.model, params, cfg.partitions)[1]
    return total


def _check(p: Mapping[str, Any]) -> None:
    spec_of(p)


def _points(p: Mapping[str, Any]) -> int:
    return math.prod(len(axis) for axis in spec_of(p).axes.values())


SWEEP = BatchModel(
    name="sweep",
    doc="a grid of independent runs of another model, one row per point (see 'simcore sweep --help')",
    params=(
        Param("of", str, "ising", doc="the model every point runs"),
        Param("grid", str, "{}", doc="the swept axes: TOML inline table of value lists"),
        Param("base", str, "{}", doc="every other parameter of the points: TOML inline table"),
    ),
    results=(),
    default_partitions=_points,
    work=_points,
    work_unit="points",
    tally_width=lambda p: _SEED_COLUMNS + 2 * len(spec_of(p).model.results),
    run_partition=_run_point,
    reduce=_reduce,
    warm=lambda: None,
    check=_check,
    fixed_partitions=True,
    cost=_cost,
)


def axis_names(config_text: str) -> list[str]:
    """The swept parameters of a sweep, from its results file's ``config`` TOML."""
    return list(read_table(tomllib.loads(config_text)["grid"], "grid"))


def result_names(series: Mapping[str, Any]) -> list[str]:
    """The per-point results among a sweep file's ``series`` (those stored with a ``<name>_stderr``)."""
    return [name for name in series if f"{name}_stderr" in series]


def prepare_sweep(model: str | Model, grid: Mapping[str, Sequence], values: Mapping[str, Any], force: bool = False):
    """Validate a sweep (no side effects): ``(SWEEP, its RunConfig, the results path)``.

    ``values`` holds the points' parameters (and their ``partitions``) and
    the sweep's own seed, out and run settings (workers, executor, checkpoint_*).
    """
    from .runner import prepare

    own = {"seed", "out", *RUN_SETTINGS}
    if isinstance(model, (BatchModel, LockstepModel)):  # an object of the script's or notebook's own
        model = register_object(model)
    spec = build_spec(model, grid, {k: v for k, v in values.items() if k not in own})
    return prepare(SWEEP, {**sweep_values(spec), **{k: v for k, v in values.items() if k in own}}, force)


def sweep(model: str | Model, grid: Mapping[str, Sequence], *, force: bool = False, **values: Any):
    """Run ``model`` at every point of ``grid`` and return the sweep's results (one row per point).

    Parameters
    ----------
    model : a model reference (``"ising"``, ``"transport"``, ``"module:attr"``).
    grid : parameter name -> values, e.g. ``{"L": [8, 16], "T": numpy.linspace(2.2, 2.34, 8)}``;
        the points are the Cartesian product, the first axis varying slowest.
    force : overwrite ``out`` (and its old checkpoints) if it exists.
    **values : the other parameters of every point (and their ``partitions``),
        plus the sweep's seed, out, workers, executor and checkpoint settings.

    Returns
    -------
    Results whose ``series(axis)``, ``series(result)`` and ``series(result + "_stderr")``
    are arrays over the points.

    Examples
    --------
    >>> import simcore
    >>> res = simcore.sweep("pi", {"samples": [1000, 4000]}, executor="serial", out=str(tmp_path / "s.h5"))
    >>> res.series("samples").tolist(), res.series("pi").shape
    ([1000, 4000], (2,))
    """
    from .results import open_results
    from .runner import execute

    grid = {name: [v.item() if isinstance(v, np.generic) else v for v in values_] for name, values_ in grid.items()}
    sweep_model, cfg, out = prepare_sweep(model, grid, values, force)
    with invoked_as(api_call("simcore.sweep", model, dict(grid), **values)):
        return open_results(execute(sweep_model, cfg, out, force=force))
