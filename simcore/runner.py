"""Run a model end to end: validate, execute, checkpoint, reduce, write HDF5, return Results.

``run`` starts a run; ``resume`` continues one from its newest complete
checkpoint.  Both validate everything before any process starts or any file
is written.
"""
from __future__ import annotations

import dataclasses
import errno
import logging
import time
import tomllib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from .checkpoint import Checkpoint, CheckpointFileError, CheckpointPlan, Header, existing_checkpoints, latest_checkpoint
from .ckptdir import checkpoint_dir, is_checkpoint_dir, migrate_legacy, remove_all
from .config import RUN_SETTINGS, ConfigError, RunConfig, build_config, check_out_directory, resolve_out_path
from .engine import BatchStart, run_batch
from .frames import FrameStore
from .interrupts import Interrupted, StopFlag, graceful_signals, stop_reason
from .lockstep import LockstepStart, lockstep_start, run_lockstep, sums_shape
from .models import get_model, register_object, user_reference
from .models.base import BatchModel, LockstepModel, Model
from .outlock import OutLock, is_claimed, lock_path, try_claim
from .provenance import api_call, command, invoked_as, leg, legs_of
from .results import Results, ResultsFileError, open_results, write_results
from .storage import StorageError, describe, storage_errno
from .until import Until, in_force, plan_until, targets_in_force

log = logging.getLogger(__name__)


def prepare(model: str | Model, values: dict[str, Any], force: bool = False) -> tuple[Model, RunConfig, Path]:
    """Resolve the model, validate ``values`` and choose the output path (no side effects)."""
    if isinstance(model, (BatchModel, LockstepModel)):
        model_obj, reference = model, register_object(model)
    else:
        model_obj, reference = get_model(model), model
    cfg = build_config(model_obj, values, model_ref=reference)
    return model_obj, cfg, resolve_out_path(cfg, force)


def checkpoint_plan(model: Model, cfg: RunConfig, out: Path, resumed: Checkpoint | None = None,
                    started: float | None = None) -> CheckpointPlan | None:
    """How the run of ``cfg`` checkpoints next to ``out`` (continuing ``resumed``); None if it does not.

    ``started``: when this leg began (Unix time [s]; default now), as its checkpoints record it.
    """
    if cfg.checkpoint_every <= 0:
        return None
    header = Header(model=cfg.model, driver=model.driver, config=cfg.to_toml(), config_sha256=cfg.sha256,
                    settings=cfg.settings(), legs_before=tuple(legs_of(resumed.attrs)) if resumed else (),
                    started=time.time() if started is None else started, command=command())
    return CheckpointPlan(out, header, cfg.checkpoint_every, cfg.checkpoint_mode, cfg.checkpoint_keep,
                          first_sequence=resumed.sequence + 1 if resumed else 0,
                          elapsed_before=float(resumed.attrs["elapsed_seconds"]) if resumed else 0.0,
                          resumed=resumed)


def execute(model: Model, cfg: RunConfig, out: Path, *, force: bool = False,
            progress: Callable[[int], Any] | None = None, resumed: Checkpoint | None = None,
            stop: StopFlag | None = None) -> Path:
    """Run a prepared config (from scratch, or from ``resumed``) and write its results file.

    ``stop`` lets another thread stop the run gracefully, as SIGINT does
    (:mod:`simcore.aio`); in the main thread SIGINT/SIGTERM set it too.

    The run holds ``out`` (:mod:`simcore.outlock`) from its first checkpoint
    to its results: a second run or resume of the same path is refused
    (ConfigError), and a default name taken meanwhile moves on to the next.
    """
    with _claim(cfg, out, force, resumed) as claim, _told_how_to_continue(claim.out):
        out = claim.out
        frames = _frames_of(model, cfg, out)
        if force and resumed is None:
            remove_all(out)
            if frames is not None:
                frames.remove()
        start = _start_of(model, cfg, resumed) if resumed else None
        stop = stop or StopFlag()
        started = time.time()
        with graceful_signals(stop, cfg.on_usr1), _signalled_failures_as_interrupts(stop, out):
            plan = checkpoint_plan(model, cfg, out, resumed, started)
            if isinstance(model, LockstepModel):
                outcome = run_lockstep(model, cfg, stop=stop, progress=progress, start=start, checkpoints=plan,
                                       frames=frames)
            else:
                outcome = run_batch(model, cfg, stop=stop, progress=progress, start=start, checkpoints=plan)
        legs = [*(legs_of(resumed.attrs) if resumed else ()),
                leg(started, outcome.wall_seconds, outcome.workers, outcome.executor, "finished")]
        path = _write(model, cfg, out, outcome.tallies, legs, force)
    log.info("wrote %s in %.2f s", path, outcome.wall_seconds)
    return path


def _newest_checkpoint_file(out: Path) -> Path | None:
    found = existing_checkpoints(out)
    return found[0] if found else None


@contextmanager
def _signalled_failures_as_interrupts(stop: StopFlag, out: Path):
    """A failure after a stop request is the stop's doing: report Interrupted, not the failure.

    A signal to the whole process group (Slurm's scancel, a container stop)
    also kills the forkserver and the workers, maybe while the pool starts:
    the pool then fails in ways of its own (EOFError, a broken pool).
    """
    try:
        yield
    except (Interrupted, StorageError):
        raise
    except Exception as exc:
        if not stop.is_set():
            raise
        log.debug("after %s: %s: %s", stop_reason(stop.signum), type(exc).__name__, exc)
        raise Interrupted(stop.signum, _newest_checkpoint_file(out)) from None


@contextmanager
def _told_how_to_continue(out: Path):
    """Name the checkpoint to continue from in an interruption or a storage failure leaving ``execute``."""
    try:
        yield
    except Interrupted as exc:
        if exc.checkpoint is None:
            exc.checkpoint = _newest_checkpoint_file(out)
        raise
    except StorageError as exc:
        raise StorageError(exc.errno, f"{exc}; {_next_step(out, exc.errno)}") from None


def _next_step(out: Path, code: int) -> str:
    """What to do after storage failure ``code`` (an errno) of the run of ``out``: which checkpoint, and the command."""
    remedy = "the filesystem is writable again" if code in (errno.EROFS, errno.EIO) else "space is free"
    try:
        checkpoint = latest_checkpoint(out)
    except CheckpointFileError:
        return f"no checkpoint is left to continue from: once {remedy}, run again"
    then = "writes the results" if checkpoint.status == "finished" else "finishes the run"
    return f"the newest valid checkpoint is {checkpoint.path}: once {remedy}, 'simcore resume {out}' {then}"


def _claim(cfg: RunConfig, out: Path, force: bool, resumed: Checkpoint | None) -> OutLock:
    """Claim ``out``, or the next default name if ``out`` was chosen by default and another run took it."""
    for _ in range(1000):
        try:
            claim = try_claim(out)
        except OSError as exc:
            code = storage_errno(exc)
            raise StorageError(code, f"cannot create the lock file {lock_path(out)}: "
                                     f"{describe(exc, out)}; {_next_step(out, code)}") from None
        if isinstance(claim, OutLock):
            return claim
        if cfg.out is not None or resumed is not None:
            holder = f" (pid {claim})" if claim else ""
            raise ConfigError(f"out {str(out)!r} is being written by another simcore run{holder}; "
                              "wait for it to finish, or choose another --out")
        out = resolve_out_path(cfg, force)
    raise ConfigError(f"no free default results name near {str(out)!r}; choose one with --out")


def _frames_of(model: Model, cfg: RunConfig, out: Path) -> FrameStore | None:
    """Where the run's trajectory frames go, if its model records one."""
    recorded = isinstance(model, LockstepModel) and model.trajectory(dict(cfg.params)) is not None
    return FrameStore(out) if recorded else None


def _write(model: Model, cfg: RunConfig, out: Path, tallies, legs: list[dict], force: bool) -> Path:
    """Reduce the tallies and write the results file (with the trajectory, if any; its frames are then removed).

    ``legs``: every leg of the run (:mod:`simcore.provenance`), the last one the leg that finished it.
    """
    params = dict(cfg.params)
    reduction = model.reduce(params, tallies)
    declared = {r.name: (r.units, r.doc) for r in model.results}
    until = in_force()
    record = until.judge(params[until.parameter], {name: value.estimate for name, value in reduction.results.items()}
                         )[0] if until else None
    frames = _frames_of(model, cfg, out)
    trajectory = None
    if frames is not None:
        steps, positions = frames.load()
        if len(steps):
            trajectory = (model.trajectory(params), steps, positions)
        else:
            log.warning("%s: no trajectory frames on disk; the results hold no /particles", out)
    try:
        path = write_results(out, cfg, reduction, tallies, model_results=declared, legs=legs, force=force,
                             trajectory=trajectory, until=record)
    except OSError as exc:
        raise StorageError(storage_errno(exc), f"cannot write the results {out}: {describe(exc, out)}") from None
    if frames is not None:
        frames.remove()
    return path


def checkpoint_sums_shape(model: LockstepModel, checkpoint: Checkpoint) -> tuple[int, int]:
    """The shape of the per-step sums of the run that wrote ``checkpoint`` (before any extension)."""
    saved = tomllib.loads(checkpoint.config)
    saved.pop("model", None)
    return sums_shape(model, build_config(model, saved))


def _grown(sums: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``sums`` with zero rows appended up to ``shape`` (an extended run's steps or partitions not yet run)."""
    if sums.shape == shape or sums.shape[0] > shape[0]:
        return sums  # lockstep_start refuses what does not fit
    grown = np.zeros(shape, dtype=sums.dtype)
    grown[:len(sums)] = sums
    return grown


def _start_of(model: Model, cfg: RunConfig, checkpoint: Checkpoint) -> BatchStart | LockstepStart:
    """Where the run continues from ``checkpoint``; CheckpointFileError if its state does not fit ``cfg``."""
    source = repr(str(checkpoint.path))
    if isinstance(model, LockstepModel):
        arrays = {**checkpoint.arrays, "observables": _grown(checkpoint.rows("observables", checkpoint_sums_shape(
            model, checkpoint)), sums_shape(model, cfg))}
        try:
            return lockstep_start(model, cfg, arrays, checkpoint.counters.get("steps_done", -1), source)
        except ValueError as exc:
            raise CheckpointFileError(str(exc)) from None
    done = checkpoint.arrays.get("done")
    saved = (int(tomllib.loads(checkpoint.config).get("partitions", -1)), model.tally_width(dict(cfg.params)))
    expected = (cfg.partitions, saved[1])
    if done is None or done.shape != saved[:1] or saved[0] > expected[0]:
        raise CheckpointFileError(f"{source}: its state does not fit the config "
                                  f"(expected tallies of shape {expected})")
    return BatchStart(_grown(done.astype(bool), expected[:1]), _grown(checkpoint.rows("tallies", saved), expected))


def _final_tallies(start: BatchStart | LockstepStart) -> np.ndarray:
    """The tallies of a run that had finished, from its final checkpoint."""
    return start.sums if isinstance(start, LockstepStart) else start.tallies


def run(model: str | Model, *, force: bool = False, until: str | tuple[str, ...] = (), until_max: Any = None,
        **values: Any) -> Results:
    """Run ``model`` with parameters ``values`` and return its results.

    Parameters
    ----------
    model : a built-in model name (``"pi"``, ``"transport"``), ``"module:attr"``,
        or a model object.
    force : overwrite ``out`` (and drop its old checkpoints) if it exists.
    until : precision targets, e.g. ``"reflection.stderr<1e-4"`` (or several):
        the run is extended until all are met, up to ``until_max`` of its
        count (:mod:`simcore.until`).
    **values : model parameters and the common ones (seed, partitions,
        workers, executor, out, checkpoint_every [s], checkpoint_mode,
        checkpoint_keep), validated exactly like ``--set``.

    Returns
    -------
    Results read back from the HDF5 file (``.mean(name)``, ``.stderr(name)``, ``.path``).

    Examples
    --------
    >>> import simcore
    >>> res = simcore.run("pi", samples=10**6, executor="serial", out=str(tmp_path / "pi.h5"))
    >>> abs(res.mean("pi") - 3.14159) < 5 * res.stderr("pi")
    True
    """
    model_obj, cfg, out = prepare(model, values, force)
    targets = plan_until(model_obj, cfg, until, until_max)
    with invoked_as(api_call("simcore.run", model, **values)):
        return open_results(until_met(lambda: execute(model_obj, cfg, out, force=force), targets,
                                      resume_reference(model)))


class ResumePlan(NamedTuple):
    """What ``resume`` will do: continue ``checkpoint``, or nothing if the run had finished."""

    model: Model | None
    cfg: RunConfig | None
    out: Path
    checkpoint: Checkpoint | None

    @property
    def finished(self) -> bool:
        """True when the results file exists: there is nothing left to run."""
        return self.checkpoint is None


def prepare_resume(target: str | Path, overrides: dict[str, Any], force: bool = False,
                   model: str | Model | None = None, *, reopen: bool = False) -> ResumePlan:
    """Find the checkpoint to continue for ``target`` and validate ``overrides`` against it.

    ``target`` is a checkpoint file or the results path of the run.  Only the
    :data:`~simcore.config.RUN_SETTINGS` may change, and a lockstep model's
    length (its ``extended_by``: sweeps, steps, t_end) may grow, also after
    the run finished (from its final checkpoint; the longer run's results
    replace the shorter's); anything else that would change the results
    raises ConfigError naming the parameter.  A run of a
    user's model resumes only with ``model``: the same ``module:attr`` the
    file names, or the model object (:func:`model_to_resume`).  ``reopen``:
    the plan of a finished run has its model and config too (from its final
    checkpoint), for precision targets to judge it (:mod:`simcore.until`).
    """
    target = Path(target)
    if target.is_dir() and not is_checkpoint_dir(target):
        raise ConfigError(f"{str(target)!r} is a directory: give a run's checkpoints (<out>.ckpt), a checkpoint "
                          "file, or the run's results path")
    extending = any(name not in RUN_SETTINGS for name in overrides)
    if _is_results_file(target) and not extending and not reopen:
        return ResumePlan(None, None, target, None)
    checkpoint = latest_checkpoint(target)
    out = checkpoint.results_path
    if is_claimed(out):
        raise ConfigError(f"{str(out)!r} is being written by a running simcore process; it cannot be resumed "
                          "while it runs")
    finished = out.exists() and _is_results_file(out) and not force and not extending
    if finished and not reopen:
        return ResumePlan(None, None, out, None)
    check_out_directory(out, f"the run of {str(checkpoint.path)!r}")
    saved = tomllib.loads(checkpoint.config)
    saved.pop("model", None)
    model = model_to_resume(checkpoint, saved, model)
    settings = {k: v for k, v in checkpoint.settings.items() if k in RUN_SETTINGS}
    values = {**saved, **settings, **overrides}
    cfg = build_config(model, values, model_ref=checkpoint.model)
    grown = _partitions_growing_with(model, saved, overrides, cfg)
    if grown:
        cfg = build_config(model, {**values, **grown}, model_ref=checkpoint.model)
    if cfg.out is not None:
        raise ConfigError(f"out cannot be set on resume: results go to {str(out)!r}, next to the checkpoint")
    _refuse_changes(checkpoint, cfg, model)
    if finished:
        return ResumePlan(model, cfg, out, None)
    if out.exists() and not force and not (extending and _is_results_file(out)):
        raise ConfigError(f"{str(out)!r} exists but is not this run's results; move it or use --force")
    if checkpoint.results_path == out and migrate_legacy(out):  # files of simcore before <out>.ckpt/
        log.info("moved the checkpoints of %s into %s/", out, checkpoint_dir(out))
        checkpoint = latest_checkpoint(out)
    return ResumePlan(model, cfg, out, checkpoint)


def model_to_resume(checkpoint: Checkpoint, saved: dict[str, Any], named: str | Model | None) -> Model:
    """The model of ``checkpoint``, importing no module that only the file names.

    A built-in model (and a sweep of one) loads as always.  A file naming a
    user's ``module:attr`` (as its model, or as a sweep's ``of``) could make
    simcore import any installed module, import-time code and all, chosen by
    whoever wrote the file: it resumes only when the user names the same
    reference (``--model``) or passes the model object; else ConfigError.
    """
    reference = checkpoint.model
    foreign = user_reference(reference, saved)
    if foreign is None:
        if named is not None:
            raise ConfigError(f"model: {str(checkpoint.path)!r} is a run of the built-in model {reference!r}; "
                              "--model is only for a user's model")
        return get_model(reference)
    if isinstance(named, (BatchModel, LockstepModel)) and foreign == reference:
        if ":" not in reference:  # an object of a script or notebook: the workers find it by its name
            register_object(named)
        return named
    if named != foreign:
        given = f" (not {named!r})" if isinstance(named, str) else ""
        raise ConfigError(f"model: {str(checkpoint.path)!r} names the model {foreign!r}{given}; simcore imports no "
                          f"module a file names: if you trust it, resume with --model {foreign}")
    return get_model(reference)


def _partitions_growing_with(model: Model, saved: dict[str, Any], overrides: dict[str, Any],
                             cfg: RunConfig) -> dict[str, int]:
    """``{"partitions": k * P}`` when ``cfg`` raises a batch run's work count k-fold (BatchModel.extended_by), else {}.

    ConfigError if the partitions are set too; a factor that is not whole is left to :func:`_refuse_changes`.
    """
    grows = getattr(model, "extended_by", "")
    if not isinstance(model, BatchModel) or not grows or grows not in overrides:
        return {}
    before, after = saved[grows], cfg.params[grows]
    if "partitions" in overrides:
        raise ConfigError(f"partitions cannot be set when {grows} grows: they grow with it, each partition's "
                          f"share staying {before // saved['partitions']:,}")
    factor, rest = divmod(after, before) if after > before else (1, 0)
    if rest or factor < 2:
        return {}  # _refuse_changes says why
    return {"partitions": factor * saved["partitions"]}


def _refuse_changes(checkpoint: Checkpoint, cfg: RunConfig, model: Model) -> None:
    """ConfigError unless ``cfg`` is the checkpoint's config, or it with a lockstep run's length raised."""
    if cfg.sha256 == checkpoint.attrs["config_sha256"]:
        return
    before, after = tomllib.loads(checkpoint.config), tomllib.loads(cfg.to_toml())
    changed = [name for name in after if before.get(name) != after[name]]
    grows = getattr(model, "extended_by", "")
    batch = isinstance(model, BatchModel)
    if changed == [grows] and after[grows] > before[grows] and not batch:
        return
    if batch and grows and sorted(changed) == sorted([grows, "partitions"]) \
            and after[grows] * before["partitions"] == before[grows] * after["partitions"]:
        return  # k-fold work on k-fold partitions (_partitions_growing_with)
    allowed = ", ".join(RUN_SETTINGS)
    if changed:
        name = changed[0]
        if name == grows and after[name] < before[name]:
            raise ConfigError(f"{name} cannot shrink on resume ({before[name]!r} in the checkpoint, {after[name]!r} "
                              f"asked): a run is extended, never cut; run the shorter one anew")
        if name == grows and batch:
            raise ConfigError(f"{name} of a batch run grows only by a whole factor ({before[name]!r} in the "
                              f"checkpoint, {after[name]!r} asked): the partitions grow with it, each keeping its "
                              f"share, so that the result is exact; e.g. --set {name}={2 * before[name]}")
        why = (" (a batch run cannot be extended exactly: each partition's share of the work depends on the "
               "total; run the extra work as a new run with another seed)") if batch and not grows else ""
        grow = f"; {grows} may grow" if grows else ""
        raise ConfigError(f"{name} cannot change on resume ({before.get(name)!r} in the checkpoint, "
                          f"{after[name]!r} asked): results would no longer be exact{why}; only {allowed} may "
                          f"change{grow}")
    raise ConfigError(f"{checkpoint.model}'s parameters changed since {str(checkpoint.path)!r} was written; "
                      "it cannot be continued exactly")


def continue_run(plan: ResumePlan, *, force: bool = False, progress: Callable[[int], Any] | None = None) -> Path:
    """Carry out a :class:`ResumePlan`; return the results path."""
    if plan.finished:
        return plan.out
    checkpoint = plan.checkpoint
    log.info("resuming %s from %s (checkpoint %d, %s, %s)", plan.cfg.model, checkpoint.path,
             checkpoint.sequence, checkpoint.status, checkpoint.counters)
    extended = plan.cfg.sha256 != checkpoint.attrs["config_sha256"]  # the longer run replaces the shorter's results
    if checkpoint.status == "finished" and not extended:
        start = _start_of(plan.model, plan.cfg, checkpoint)
        log.warning("%s: the run had finished; writing its results from the final checkpoint", checkpoint.path)
        with _told_how_to_continue(plan.out):
            return _write(plan.model, plan.cfg, plan.out, _final_tallies(start), legs_of(checkpoint.attrs), force)
    return execute(plan.model, plan.cfg, plan.out, force=force or extended, progress=progress, resumed=checkpoint)


def resume(path: str | Path, *, force: bool = False, model: str | Model | None = None,
           until: str | tuple[str, ...] = (), until_max: Any = None, **overrides: Any) -> Results:
    """Continue the run of checkpoint (or results path) ``path`` and return its results.

    ``overrides`` may change only workers, executor and the checkpoint
    settings, and raise the run's count (:func:`prepare_resume`); the results
    are bitwise those of an uninterrupted run.  A run that had already
    finished is not run again: its results are returned.  A run of a user's
    model needs ``model``: its ``"module:attr"`` as the file names it, or the
    model object (nothing a file names is imported).  ``until`` and
    ``until_max`` as for :func:`run`.
    """
    plan = prepare_resume(path, overrides, force, model, reopen=bool(until))
    targets = plan_until(plan.model, plan.cfg, until, until_max)
    with invoked_as(api_call("simcore.resume", str(path), **overrides)):
        return open_results(until_met(lambda: continue_run(plan, force=force), targets, model))


def resume_reference(model: str | Model) -> str | Model | None:
    """What :func:`prepare_resume` needs to be told of ``model``: a user's model, or None for a built-in one."""
    return None if isinstance(model, str) and ":" not in model else model


def next_round(path: Path, until: Until, model: Model | None = None) -> tuple[ResumePlan, Until] | None:
    """The next round of a run with precision targets, judged from its results ``path``; None once it is done."""
    res = open_results(path)
    count = tomllib.loads(res.config)[until.parameter]
    record, grown = until.judge(count, res.estimates)
    errors = ", ".join(f"{target} (now {error:.3g})" for target, error in record["rounds"][-1]["errors"].items())
    if grown is None:
        met = record["outcome"] == "met"
        log.log(logging.INFO if met else logging.WARNING, "until %s: %s at %s = %s%s", errors, record["outcome"],
                until.parameter, count, "" if met else f" (limit {until.limit})")
        return None
    log.info("until %s: %s %s", errors, record["outcome"], until.parameter)
    plan = prepare_resume(path, {until.parameter: grown}, model=model)
    return plan, dataclasses.replace(until, rounds=tuple(record["rounds"]))


def until_met(first: Callable[[], Path], until: Until | None, model: Model | None = None,
              carry_out: Callable[[ResumePlan], Path] = lambda plan: continue_run(plan)) -> Path:
    """Run ``first`` (a run or a resume, writing results), then extend it round by round until ``until`` is met or
    its limit reached; each round's results record ``until``.

    ``model``: a user's model (the object, or its reference) as :func:`prepare_resume` needs it; ``carry_out``
    runs one round's plan (the CLI's under a progress bar).  Returns the final results path.
    """
    with targets_in_force(until):
        path = first()
    while until is not None and (step := next_round(path, until, model)) is not None:
        plan, until = step
        with targets_in_force(until):
            path = carry_out(plan)
    return path


def _is_results_file(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        open_results(path)
    except ResultsFileError:
        return False
    return True
