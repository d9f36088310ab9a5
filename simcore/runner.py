"""Run a model end to end: validate, execute, reduce, write HDF5, return Results."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from .config import RunConfig, build_config, resolve_out_path
from .engine import StopFlag, graceful_signals, run_batch
from .models import get_model
from .models.base import BatchModel
from .results import Results, open_results, write_results

log = logging.getLogger(__name__)


def prepare(model: str | BatchModel, values: dict[str, Any], force: bool = False) -> tuple[BatchModel, RunConfig, Path]:
    """Resolve the model, validate ``values`` and choose the output path (no side effects)."""
    if isinstance(model, BatchModel):
        model_obj, reference = model, model.name
    else:
        model_obj, reference = get_model(model), model
    cfg = build_config(model_obj, values, model_ref=reference)
    return model_obj, cfg, resolve_out_path(cfg, force)


def execute(model: BatchModel, cfg: RunConfig, out: Path, *, force: bool = False,
            progress: Callable[[int], Any] | None = None) -> Path:
    """Run a prepared config and write its results file; return the path written."""
    stop = StopFlag()
    with graceful_signals(stop):
        outcome = run_batch(model, cfg, stop=stop, progress=progress)
    reduction = model.reduce(dict(cfg.params), outcome.tallies)
    declared = {r.name: (r.units, r.doc) for r in model.results}
    path = write_results(out, cfg, reduction, outcome.tallies, model_results=declared,
                         wall_seconds=outcome.wall_seconds, workers=outcome.workers, force=force)
    log.info("wrote %s in %.2f s", path, outcome.wall_seconds)
    return path


def run(model: str | BatchModel, *, force: bool = False, **values: Any) -> Results:
    """Run ``model`` with parameters ``values`` and return its results.

    Parameters
    ----------
    model : a built-in model name (``"pi"``, ``"transport"``), ``"module:attr"``,
        or a model object.
    force : overwrite ``out`` if it exists.
    **values : model parameters and the common ones (seed, partitions,
        workers, executor, out), validated exactly like ``--set``.

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
    return open_results(execute(model_obj, cfg, out, force=force))
