"""Parameters from TOML files and ``--set`` overrides -> a validated, frozen config.

Every parameter is declared once (``models.base.Param``); the TOML loader,
``--set``, ``simcore models`` and the Python API all read that declaration.
Problems raise :class:`ConfigError` with one sentence naming the parameter,
the bad value and what is allowed; ``cli.py`` turns it into exit code 2.
"""
from __future__ import annotations

import difflib
import hashlib
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .checkpoint import existing_checkpoints
from .interrupts import ON_USR1
from .models.base import LockstepModel, Model, Param
from .outlock import is_claimed
from .rng import MAX_SEED

EXECUTORS = ("process", "thread", "serial", "mpi")
MAX_WORKERS = 4096

#: Parameters every model accepts (``partitions`` default comes from the model).
COMMON_PARAMS = (
    Param("seed", int, 1, ge=0, le=MAX_SEED, doc="64-bit random seed (the Philox key)"),
    Param("partitions", int, None, ge=1, le=1_000_000,
          doc="fixed number of work partitions; results depend on it, never on workers"),
    Param("workers", int, "auto", ge=1, le=MAX_WORKERS,
          doc="worker count, or auto: serial if the work is too small to pay for a pool, else all usable cores"),
    Param("executor", str, "process", choices=EXECUTORS, doc="how partitions are executed"),
    Param("out", str, None, doc="results file (default: <model>.h5, numbered if it exists)"),
    Param("checkpoint_every", float, 60.0, ge=0, units="s",
          doc="wall time between checkpoints (<out>.ckpt); 0 = no checkpoints"),
    Param("checkpoint_mode", str, "async", choices=("async", "sync"),
          doc="async: a background thread writes; sync: the run stops while writing"),
    Param("checkpoint_keep", int, 2, ge=1, le=100, doc="checkpoint files kept (newest first)"),
    Param("max_retries", int, 2, ge=0, le=100,
          doc="times a partition whose worker died (killed, OOM, crash, unit_timeout) is run again"),
    Param("unit_timeout", float, 0.0, ge=0, units="s",
          doc="wall time after which a running partition counts as hung and its worker is killed; 0 = none"),
    Param("on_usr1", str, "checkpoint", choices=ON_USR1,
          doc="SIGUSR1 (Slurm's warning before the wall time): checkpoint at once and go on, or checkpoint and "
              "stop (exit 138)"),
)
_COMMON_NAMES = tuple(p.name for p in COMMON_PARAMS)

#: Settings that say how a run executes, not what it computes: the only
#: ones ``simcore resume`` lets a user change.
RUN_SETTINGS = ("workers", "executor", "checkpoint_every", "checkpoint_mode", "checkpoint_keep", "max_retries",
                "unit_timeout", "on_usr1")


class ConfigError(ValueError):
    """Bad user input: one sentence naming the parameter and what is allowed."""


def check_type(qualified: str, param: Param, value: Any) -> Any:
    """Return ``value`` converted to the declared type of ``param``, or raise ConfigError."""
    if param.type is int:
        if isinstance(value, bool):
            raise ConfigError(f"{qualified} must be an integer (got {value!r})")
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise ConfigError(f"{qualified} must be an integer (got {value!r})")
        return value
    if param.type is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{qualified} must be a number (got {value!r})")
        value = float(value)
        if math.isnan(value) or (math.isinf(value) and not (param.allow_inf and value > 0)):
            raise ConfigError(f"{qualified} must be a finite number{' or inf' if param.allow_inf else ''} (got {value!r})")
        return value
    if param.type is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{qualified} must be true or false (got {value!r})")
        return value
    if param.type is str:
        if not isinstance(value, str):
            raise ConfigError(f"{qualified} must be a string (got {value!r})")
        return value
    raise TypeError(f"unsupported parameter type {param.type!r}")


def check_workers(value: Any) -> int | str:
    """``workers``: ``"auto"`` or an integer in [1, MAX_WORKERS]; ConfigError otherwise."""
    if value == "auto":
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WORKERS:
        raise ConfigError(f"workers must be a positive integer (at most {MAX_WORKERS}) or auto (got {value!r})")
    return value


def check_range(qualified: str, param: Param, value: Any) -> None:
    """Raise ConfigError unless ``value`` satisfies the bounds or choices of ``param``."""
    if param.choices is not None:
        if value not in param.choices:
            raise ConfigError(f"{qualified} must be {param.describe_range()} (got {value!r})")
        return
    if param.type not in (int, float):
        return
    ok = (
        (param.gt is None or value > param.gt)
        and (param.ge is None or value >= param.ge)
        and (param.lt is None or value < param.lt or (param.allow_inf and math.isinf(value)))
        and (param.le is None or value <= param.le or (param.allow_inf and math.isinf(value)))
    )
    if not ok:
        units = f" [{param.units}]" if param.units else ""
        raise ConfigError(f"{qualified}{units} must be {param.describe_range()} (got {value!r})")


def parse_scalar(text: str) -> Any:
    """Parse a ``--set`` value as a TOML scalar; anything else is taken as a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split ``name=value`` into (name, parsed value); raise ConfigError when malformed."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ConfigError(f"--set expects name=value (got {text!r})")
    return name, parse_scalar(value.strip())


def load_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a flat TOML config file; raise ConfigError if unreadable or malformed."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    for key, value in data.items():
        if isinstance(value, (dict, list)):
            raise ConfigError(f"config file {str(path)!r}: {key!r} must be a single value, not a table or array")
    return data


@dataclass(frozen=True)
class RunConfig:
    """A validated, frozen run configuration.

    ``params`` holds the model parameters (declaration order); ``seed`` and
    ``partitions`` shape the results; ``out`` and the :data:`RUN_SETTINGS`
    (workers, executor, checkpointing) only say how and where to run.
    ``workers`` is a count or ``"auto"`` (:mod:`simcore.autoworkers`
    resolves it when the run starts).
    """

    model: str
    params: Mapping[str, Any]
    seed: int
    partitions: int
    workers: int | str
    executor: str
    out: str | None
    checkpoint_every: float = 60.0
    checkpoint_mode: str = "async"
    checkpoint_keep: int = 2
    max_retries: int = 2
    unit_timeout: float = 0.0
    on_usr1: str = "checkpoint"

    def __hash__(self) -> int:
        return hash(self.to_toml())

    def to_toml(self) -> str:
        """Canonical TOML of what determines the results (model, seed, partitions, params)."""
        lines = [f"model = {toml_value(self.model)}", f"seed = {self.seed}", f"partitions = {self.partitions}"]
        lines += [f"{name} = {toml_value(value)}" for name, value in self.params.items()]
        return "\n".join(lines) + "\n"

    def settings(self) -> dict[str, Any]:
        """The :data:`RUN_SETTINGS` of this run, by name."""
        return {name: getattr(self, name) for name in RUN_SETTINGS}

    @property
    def sha256(self) -> str:
        """SHA-256 of :meth:`to_toml`, the identity of the physics of this run."""
        return hashlib.sha256(self.to_toml().encode()).hexdigest()


def toml_value(value: Any) -> str:
    """``value`` (bool, int, float incl. inf, or str) as a TOML scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def default_text(param: Param) -> str:
    """The default of ``param`` as a user would type it in TOML (``"normal"``, ``false``), or how it is chosen."""
    return "(from the problem)" if param.default is None else toml_value(param.default)


def _unknown(name: str, model: Model) -> ConfigError:
    params = list(model.params) + list(COMMON_PARAMS)
    valid = [p.name for p in params]
    close = difflib.get_close_matches(name, valid, n=1) or _named_in_docs(name, params)
    hint = f"; did you mean '{close[0]}'?" if close else "."
    return ConfigError(f"unknown parameter {name!r} for {model.name}{hint} Valid parameters: {', '.join(valid)}")


def _named_in_docs(word: str, params) -> list[str]:
    """The parameters whose doc starts with ``word`` (``temperature`` -> ``T``): the spelled-out name."""
    return [p.name for p in params if p.doc.lower().startswith(word.lower().replace("_", " "))]


def default_workers() -> int:
    """All cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _check_mpi(model: Model, params: Mapping[str, Any], partitions: int, workers) -> None:
    """Refuse the MPI executor where it cannot run: no mpi4py, a lockstep model without a halo, a launch
    that does not fit the model's driver, more ranks than partitions, slabs thinner than a model's reach."""
    from . import mpi

    if not mpi.available():
        raise ConfigError("executor 'mpi' needs mpi4py and an MPI library: pip install -e '.[mpi]' "
                          "(or pip install mpi4py mpich)")
    size = mpi.launched_world_size()
    if isinstance(model, LockstepModel):
        if model.halo is None:
            raise ConfigError(f"executor 'mpi' runs lockstep models that declare a halo (ising, lj, nbody); "
                              f"{model.name} does not, its workers share one state in memory: use executor "
                              "process or thread")
        if mpi.serving_ranks():
            raise ConfigError(f"{model.name} is a lockstep model, whose ranks all compute: start it as "
                              f"'mpiexec -n {size} python -m simcore ...', without '-m mpi4py.futures'")
        if size > partitions:
            raise ConfigError(f"partitions must be at least the {size} MPI ranks (each rank owns whole "
                              f"partitions; got {partitions})")
        if model.halo(params).domain is not None:
            from .slabs import slab_width_error

            ranks = size or (workers if isinstance(workers, int) else default_workers())
            error = slab_width_error(model, params, min(ranks, partitions))
            if error:
                raise ConfigError(error)
        return
    if size > 1 and not mpi.serving_ranks():
        raise ConfigError(f"simcore was started by an MPI launcher as one of {size} processes: start it as "
                          f"'mpiexec -n {size} python -m mpi4py.futures -m simcore ...' so that rank 0 runs "
                          "simcore and the others serve it")


def build_config(model: Model, values: Mapping[str, Any], model_ref: str | None = None) -> RunConfig:
    """Validate ``values`` (model and common parameters) against ``model``'s declarations.

    Unset parameters take their declared defaults.  Raises ConfigError on the
    first problem, before any process starts or any file is opened.
    """
    declared = {p.name: p for p in model.params}
    common = {p.name: p for p in COMMON_PARAMS}
    for name in values:
        if name not in declared and name not in common:
            raise _unknown(name, model)

    params: dict[str, Any] = {}
    for name, param in declared.items():
        value = values.get(name, param.default)
        value = check_type(f"{model.name}.{name}", param, value)
        check_range(f"{model.name}.{name}", param, value)
        params[name] = value
    try:
        model.check(params)
    except ValueError as exc:
        raise ConfigError(f"{model.name}: {exc}") from None

    resolved: dict[str, Any] = {}
    for name, param in common.items():
        value = values.get(name, param.default)
        if value is None:
            resolved[name] = None
            continue
        if name == "workers":
            resolved[name] = check_workers(value)
            continue
        value = check_type(name, param, value)
        check_range(name, param, value)
        resolved[name] = value
    if resolved["partitions"] is None:
        resolved["partitions"] = model.default_partitions(params)
    if getattr(model, "fixed_partitions", False) and resolved["partitions"] != model.default_partitions(params):
        raise ConfigError(f"partitions of {model.name} is fixed at {model.default_partitions(params)} "
                          f"(got {resolved['partitions']})")
    if isinstance(model, LockstepModel) and resolved["partitions"] > model.rows(params):
        raise ConfigError(f"partitions must be at most {model.rows(params)} for {model.name} "
                          f"(one row of the lattice at least each; got {resolved['partitions']})")
    if resolved["unit_timeout"] > 0 and (resolved["executor"] != "process" or isinstance(model, LockstepModel)):
        raise ConfigError("unit_timeout needs the process executor and a batch model (a thread cannot be "
                          f"stopped, a lockstep step has no single owner); got executor {resolved['executor']!r} "
                          f"for {model.name}")
    if resolved["executor"] == "mpi":
        _check_mpi(model, params, resolved["partitions"], resolved["workers"])
    out = resolved["out"]
    if out is not None and not out.strip():
        raise ConfigError("out must be a file path (got an empty string)")
    return RunConfig(
        model=model_ref or model.name,
        params=MappingProxyType(params),
        seed=resolved["seed"],
        partitions=resolved["partitions"],
        workers=resolved["workers"],
        executor=resolved["executor"],
        out=out,
        checkpoint_every=resolved["checkpoint_every"],
        checkpoint_mode=resolved["checkpoint_mode"],
        checkpoint_keep=resolved["checkpoint_keep"],
        max_retries=resolved["max_retries"],
        unit_timeout=resolved["unit_timeout"],
        on_usr1=resolved["on_usr1"],
    )


def _taken(path: Path) -> bool:
    """True if ``path`` or a checkpoint of it exists, or a live run is writing it."""
    return path.exists() or bool(existing_checkpoints(path)) or is_claimed(path)


def resolve_out_path(cfg: RunConfig, force: bool) -> Path:
    """The results path: ``cfg.out`` (refused if taken without ``force``) or a new default.

    A name is taken when the file or one of its checkpoints (``<out>.ckpt*``)
    exists.  The default is ``<model>.h5`` (a sweep's ``<model>_sweep.h5``) in
    the working directory, or ``<model>-2.h5``, ``<model>-3.h5`` ... when
    taken, so repeating a command never overwrites anything.
    """
    if cfg.out is not None:
        path = Path(cfg.out)
        if path.is_dir():
            raise ConfigError(f"out {cfg.out!r} is a directory; give a file name")
        if is_claimed(path):
            raise ConfigError(f"out {cfg.out!r} is being written by another simcore run; wait for it to finish, "
                              "or choose another --out")
        if path.exists() and not force:
            raise ConfigError(f"out {cfg.out!r} already exists; use --force to overwrite it or choose another --out")
        if existing_checkpoints(path) and not force:
            raise ConfigError(f"out {cfg.out!r} has checkpoints of an unfinished run; continue it with "
                              f"'simcore resume {cfg.out}', or use --force to start over")
        check_out_directory(path, f"out {cfg.out!r}")
        return path
    stem = _name_of(cfg.model)
    if cfg.model == "sweep":
        stem = f"{_name_of(cfg.params['of'])}_sweep"
    candidate = Path(f"{stem}.h5")
    check_out_directory(candidate, "the working directory (where the results go by default)")
    number = 2
    while _taken(candidate):
        candidate = Path(f"{stem}-{number}.h5")
        number += 1
    return candidate


def _name_of(reference: str) -> str:
    """A file-name stem for a model reference: ``ising``, or ``mymodel`` for ``pkg.mod:MyModel``."""
    return reference.rsplit(":", 1)[-1].lower()


def check_out_directory(path: Path, what: str) -> None:
    """ConfigError unless the directory of results path ``path`` exists and can be written (no side effects).

    A read-only filesystem is refused even for root, for whom ``os.access``
    ignores permission bits but not a read-only mount.
    """
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{what}: directory {str(parent)!r} does not exist")
    read_only = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
    if read_only or not os.access(parent, os.W_OK | os.X_OK):
        how = "is on a read-only filesystem" if read_only else "is not writable"
        raise ConfigError(f"{what}: directory {str(parent)!r} {how}; results, checkpoints and the lock file go "
                          "there: choose another --out")
