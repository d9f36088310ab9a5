"""The ``simcore`` command line.

Exit codes (DESIGN.md section 6), one table for every exception the run can raise:

====  ==========================================================
0     success
1     a failure during the run (worker error, dead worker)
2     bad usage or bad input: one line ``simcore: error: ...``
74    the results (or a trajectory frame) could not be written: disk
      full, quota, read-only, I/O error; the line names the newest
      valid checkpoint and the ``simcore resume`` that finishes the run
129   interrupted by SIGHUP; 130 by SIGINT; 143 by SIGTERM; 138 by
      SIGUSR1 with ``--on-usr1 stop`` (a final checkpoint each)
141   stdout's reader has gone (``simcore models | head -1``): nothing
      more is printed, as coreutils do
====  ==========================================================

A checkpoint the disk refuses is one warning line, and the run goes on.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from ._h5 import filetype
from .checkpoint import (FILETYPE as CHECKPOINT_FILETYPE, CheckpointError, CheckpointFileError, existing_checkpoints,
                         latest_checkpoint, read_checkpoint)
from .ckptdir import is_checkpoint_dir, resume_target
from .config import COMMON_PARAMS, ConfigError, load_toml, parse_assignment, parse_scalar, default_text
from .engine import PartitionFailed, WorkerCrashed
from .executors import ModelNotPicklable
from .interrupts import Interrupted
from .models import UnknownModelError, builtin_models, get_model
from .models.base import progress_rate
from .plot import PlotError, plot_file
from .provenance import invoked_as
from .results import ResultsFileError, open_results
from .shm import SharedMemoryError, remove_orphans
from .storage import EXIT_STORAGE, StorageError
from .summary import checkpoint_json, checkpoint_summary, result_lines, results_json, results_summary
from .until import plan_until

log = logging.getLogger("simcore")

#: exception type -> exit code; the first matching row wins.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, 2),
    (UnknownModelError, 2),
    (ResultsFileError, 2),
    (CheckpointFileError, 2),
    (PlotError, 2),
    (ModelNotPicklable, 2),
    (PartitionFailed, 1),
    (WorkerCrashed, 1),
    (SharedMemoryError, 1),
    (CheckpointError, 1),
    (StorageError, EXIT_STORAGE),
    (OSError, 1),
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _fail(f"{message} (see '{self.prog} --help')")


def _fail(message: str, code: int = 2):
    sys.stderr.write(f"simcore: error: {message}\n")
    for handler in logging.getLogger().handlers:  # the --log-file gets the last word too
        if isinstance(handler, logging.FileHandler):
            handler.handle(logging.makeLogRecord({"name": "simcore", "levelno": logging.ERROR,
                                                  "levelname": "ERROR", "msg": message}))
    raise SystemExit(code)


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of ``simcore`` (run, resume, sweep, info, models)."""
    parser = _Parser(prog="simcore", description="Monte Carlo and particle simulations on a process pool.")
    parser.add_argument("--version", action="version", version=f"simcore {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run a model or a TOML config and write HDF5 results")
    run.add_argument("target", metavar="MODEL|CONFIG.toml", help="model name, module:attr, or a TOML config file")
    run.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                     help="set a parameter (repeatable); values parse as TOML scalars")
    _add_output_flags(run, "64-bit random seed", "<model>.h5")
    _add_until_flags(run)
    _add_execution_flags(run)

    resume = commands.add_parser("resume", help="continue a run from its newest complete checkpoint")
    resume.add_argument("target", metavar="FILE", help="a checkpoint (<out>.ckpt) or the run's results path")
    resume.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                        help="change how the run executes (workers, executor, checkpoint_*); "
                             "anything that changes results is refused")
    resume.add_argument("--force", action="store_true", help="overwrite the results path if it exists")
    resume.add_argument("--model", metavar="MODULE:ATTR",
                        help="a run of your own model: its reference, as the file names it (simcore imports "
                             "no module that only a file names)")
    _add_until_flags(resume)
    _add_execution_flags(resume)

    sweep = commands.add_parser(
        "sweep", help="run a model at every point of a parameter grid; one HDF5 file, one row per point",
        description="Run MODEL at every point of the grid spanned by the --param axes (the first varies "
                    "slowest); each point is an independent run on one worker, with its own seed.")
    sweep.add_argument("target", metavar="MODEL|CONFIG.toml", help="model name, module:attr, or a TOML config file")
    sweep.add_argument("--param", dest="axes", action="append", required=True, metavar="NAME=SPEC",
                       help="a swept parameter (repeatable): NAME=start:stop:num (num values, ends included) "
                            "or NAME=v1,v2,...")
    sweep.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                       help="a parameter of every point (repeatable); partitions= sets the points' partitions")
    _add_output_flags(sweep, "64-bit seed of the sweep; point k runs with a seed derived from it", "<model>_sweep.h5")
    _add_execution_flags(sweep)

    info = commands.add_parser("info", help="summarise a results file, or the checkpoint of an unfinished run")
    info.add_argument("file", help="a results file, a checkpoint (<out>.ckpt), or the results path of an "
                                   "unfinished run (its newest checkpoint is shown)")
    info.add_argument("--json", action="store_true", help="print a JSON object instead of text")

    plot = commands.add_parser("plot", help="draw a results file as a PNG (matplotlib)",
                               description="Draw what a results file holds: its time series and profiles, each "
                                           "result with its error band, or a sweep's results against a swept "
                                           "parameter (one line per value of the others).")
    plot.add_argument("file", help="an HDF5 file written by simcore run or simcore sweep")
    plot.add_argument("--out", metavar="PNG", help="image to write (default: FILE with suffix .png, replaced)")
    plot.add_argument("--result", dest="names", action="append", metavar="NAME",
                      help="draw only this result or series (repeatable)")
    plot.add_argument("--x", metavar="NAME", help="sweeps: the swept parameter on the x axis "
                                                  "(default: the numeric one with the most values)")

    models = commands.add_parser("models", help="list the models and their parameters")
    models.add_argument("names", nargs="*", metavar="MODEL",
                        help="show only these models (built-in names or module:attr); default: every built-in")
    models.add_argument("--markdown", action="store_true",
                        help="print the model reference as markdown (this is how docs/models.md is made)")
    return parser


def _add_output_flags(parser: argparse.ArgumentParser, seed_help: str, default_out: str) -> None:
    parser.add_argument("--seed", metavar="S", help=seed_help)
    parser.add_argument("--out", metavar="FILE", help=f"results file (default: {default_out}, numbered if taken)")
    parser.add_argument("--force", action="store_true", help="overwrite --out (and its old checkpoints) if it exists")


def _add_until_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--until", action="append", default=[], metavar="RESULT.stderr<X",
                        help="extend the run until RESULT.stderr<X or RESULT.relative_error<X (repeatable: all must "
                             "hold); the run grows round by round, each bitwise the longer run")
    parser.add_argument("--until-max", metavar="COUNT",
                        help="the most the run's count (histories, samples, sweeps, steps) may grow to with --until "
                             "(default 100 times its first count)")


def _add_execution_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", metavar="N|auto",
                        help="worker count, or auto (default): serial when the work is too small to pay for a "
                             "pool (the INFO log says why), else all usable cores")
    parser.add_argument("--executor", metavar="KIND",
                        help="process (default), thread, serial, or mpi (on MPI ranks: batch models, sweeps, ising "
                             "and nbody)")
    parser.add_argument("--checkpoint-every", metavar="SECONDS",
                        help="wall time between checkpoints <out>.ckpt (default 60; 0 disables)")
    parser.add_argument("--checkpoint-mode", metavar="MODE", help="async (default) or sync")
    parser.add_argument("--checkpoint-keep", metavar="K", help="checkpoints kept, newest first (default 2)")
    parser.add_argument("--max-retries", metavar="N",
                        help="times a partition whose worker died or hung is run again (default 2)")
    parser.add_argument("--unit-timeout", metavar="SECONDS",
                        help="kill a worker whose partition runs longer than this and retry it (default 0: never)")
    parser.add_argument("--on-usr1", metavar="ACTION",
                        help="what SIGUSR1 asks: checkpoint (default: write one at once and go on) or stop "
                             "(write one and exit 138); Slurm sends it with --signal=B:USR1@SECONDS")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate everything, print the config that would run and the results path, run nothing")
    parser.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        type=str.upper, help="console log level (default WARNING)")
    parser.add_argument("--log-file", metavar="FILE",
                        help="also append the log, workers' records included, to FILE (INFO and up, timestamped)")


_FLAGS = ("workers", "seed", "executor", "out", "checkpoint_every", "checkpoint_mode", "checkpoint_keep", "max_retries",
          "unit_timeout", "on_usr1")


def _flag_values(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for assignment in args.assignments:
        name, value = parse_assignment(assignment)
        values[name] = value
    for flag in _FLAGS:
        raw = getattr(args, flag, None)
        if raw is not None:
            values[flag] = raw if flag == "out" else parse_scalar(raw)
    return values


def _run_values(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    values: dict[str, Any] = {}
    target = args.target
    if target.endswith(".toml") or Path(target).is_file():
        values = load_toml(target)
        model = values.pop("model", None)
        if not isinstance(model, str):
            raise ConfigError(f"config file {target!r} must set model = \"<name>\"")
        target = model
    values.update(_flag_values(args))
    return target, values


def _configure_logging(args: argparse.Namespace) -> None:
    """Console log at ``--log-level``; with ``--log-file``, INFO and up (or DEBUG) to that file too."""
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("simcore: %(levelname)s: %(message)s"))
    console_level = logging.getLevelName(args.log_level)
    console.setLevel(console_level)
    console.addFilter(lambda record: record.levelno >= console_level)  # tqdm's redirect keeps filters, not levels
    handlers: list[logging.Handler] = [console]
    if args.log_file:
        try:
            to_file = logging.FileHandler(args.log_file, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--log-file {args.log_file!r} cannot be opened: {exc.strerror}") from None
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        to_file.setLevel(min(logging.INFO, console_level))
        handlers.append(to_file)
    root = logging.getLogger()
    root.handlers = handlers
    root.setLevel(min(handler.level for handler in handlers))


def cmd_run(args: argparse.Namespace) -> int:
    """``simcore run``: validate everything, then run and write the results file (with --until: and extend it)."""
    from .runner import prepare, resume_reference

    _configure_logging(args)
    target, values = _run_values(args)
    model, cfg, out = prepare(target, values, force=args.force)
    targets = plan_until(model, cfg, args.until, args.until_max)
    return _execute_prepared(args, model, cfg, out, targets, resume_reference(target))


def cmd_resume(args: argparse.Namespace) -> int:
    """``simcore resume``: continue a run from its newest complete checkpoint (with --until: and extend it)."""
    from .runner import prepare_resume, until_met

    _configure_logging(args)
    plan = prepare_resume(args.target, _flag_values(args), force=args.force, model=args.model,
                          reopen=bool(args.until))
    targets = plan_until(plan.model, plan.cfg, args.until, args.until_max)
    if args.dry_run and not plan.finished:
        return _dry_run(plan.cfg, plan.out)
    if plan.finished and targets is None:
        print(f"simcore: the run has already finished; its results are in {plan.out} (nothing to do)")
        return 0
    _summarise(args, until_met(lambda: _continued_with_progress(args, args.force)(plan), targets, args.model,
                               carry_out=_continued_with_progress(args)))
    return 0


def _continued_with_progress(args: argparse.Namespace, force: bool = False):
    """:func:`~simcore.runner.continue_run` of a plan under a progress bar (a resume, a round of ``--until``)."""
    from .runner import continue_run

    return lambda plan: _with_progress(args, plan.model, plan.cfg,
                                       lambda progress: continue_run(plan, force=force, progress=progress))


def cmd_sweep(args: argparse.Namespace) -> int:
    """``simcore sweep``: validate every grid point, then run them as one batch and write one file."""
    from .sweep import parse_axis, prepare_sweep

    _configure_logging(args)
    target, values = _run_values(args)
    grid: dict[str, list] = {}
    for text in args.axes:
        name, axis = parse_axis(text)
        if name in grid:
            raise ConfigError(f"--param {name} is given twice")
        grid[name] = axis
    return _execute_prepared(args, *prepare_sweep(target, grid, values, force=args.force))


def _execute_prepared(args: argparse.Namespace, model, cfg, out: Path, targets=None, named=None) -> int:
    """Run a validated config under a progress bar and summarise it (or only show it, with --dry-run).

    ``targets``: the run's precision targets (:mod:`simcore.until`), ``named`` its model as a resume needs it.
    """
    from .runner import execute, until_met

    if args.dry_run:
        return _dry_run(cfg, out)
    def first() -> Path:
        return _with_progress(args, model, cfg, lambda progress: execute(model, cfg, out, force=args.force,
                                                                         progress=progress))

    _summarise(args, until_met(first, targets, named, carry_out=_continued_with_progress(args)))
    return 0


def _dry_run(cfg, out: Path) -> int:
    """``--dry-run``: the validated config (canonical TOML), how it would run, and where it would write."""
    print(cfg.to_toml(), end="")
    print("# " + "  ".join(f"{name} = {value}" for name, value in cfg.settings().items()))
    print(f"# valid; would write {out}")
    return 0


def _with_progress(args: argparse.Namespace, model, cfg, body) -> Path:
    """Clean orphans of dead runs, then call ``body(progress)`` under a tqdm bar on stderr."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    removed = remove_orphans()
    if removed:
        log.info("removed %d shared-memory block(s) left by dead simcore runs", len(removed))
    tqdm.monitor_interval = 0
    params = dict(cfg.params)
    unit, per_work = progress_rate(model, params)
    with tqdm(total=model.work(params) * per_work, unit=f" {unit}", unit_scale=True, file=sys.stderr,
              disable=True if args.quiet else None, leave=False, desc=model.name,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{unit} "
                         "[{elapsed}, ETA {remaining}, {rate_fmt}]") as bar, logging_redirect_tqdm():
        return body(lambda done: bar.update(done * per_work))


def _summarise(args: argparse.Namespace, path: Path) -> None:
    if args.quiet:
        return
    try:
        with open_results(path) as results:
            for line in result_lines(results):
                print(line)
    except Interrupted as exc:  # the results are complete: say so, not "no checkpoint"
        exc.results = path
        raise
    print(f"wrote {path}")


def cmd_info(args: argparse.Namespace) -> int:
    """``simcore info``: provenance and each result as mean ± stderr (or an unfinished run's checkpoint)."""
    path = Path(args.file)
    if is_checkpoint_dir(path):
        return _checkpoint_info(args, latest_checkpoint(path))
    if filetype(path) == CHECKPOINT_FILETYPE:
        return _checkpoint_info(args, read_checkpoint(path))
    if not path.exists() and existing_checkpoints(path):
        return _checkpoint_info(args, latest_checkpoint(path))
    results = open_results(path)
    if args.json:
        print(json.dumps(results_json(results), indent=2))
        return 0
    print("\n".join(results_summary(results)))
    return 0


def _checkpoint_info(args: argparse.Namespace, checkpoint) -> int:
    if args.json:
        print(json.dumps(checkpoint_json(checkpoint), indent=2))
        return 0
    print("\n".join(checkpoint_summary(checkpoint)))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """``simcore plot``: draw a results file and write a PNG."""
    print(f"wrote {plot_file(args.file, args.out, args.names, args.x)}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """``simcore models``: each model with its parameters, defaults, ranges and results (or, --markdown, docs)."""
    if args.markdown:
        from .docs import models_markdown

        print(models_markdown(), end="")
        return 0
    for model in [get_model(name) for name in args.names] or builtin_models():
        print(f"{model.name}  ({model.driver})  {model.doc}")
        for param in model.params:
            print(_param_line(param, 14, 12))
        print(f"    results: {', '.join(r.name for r in model.results)}")
        print()
    if not args.names:
        print("common to all:")
        for param in COMMON_PARAMS:
            print(_param_line(param, 16, 10))
    return 0


def _param_line(param, name_width: int, default_width: int) -> str:
    """One parameter of ``simcore models``: name, default (as TOML), allowed range, units and doc."""
    units = f" [{param.units}]" if param.units else ""
    default = default_text(param)
    return (f"    {param.name:<{name_width}} default {default:<{default_width}} "
            f"{param.describe_range()}{units}  {param.doc}")


def _reader_gone() -> int:
    """stdout's reader has gone (``simcore models | head -1``): end quietly, 128 + SIGPIPE, as coreutils do."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is still buffered goes nowhere
    return 128 + signal.SIGPIPE


_COMMANDS = {"run": cmd_run, "resume": cmd_resume, "sweep": cmd_sweep, "info": cmd_info, "plot": cmd_plot,
             "models": cmd_models}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simcore`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        with invoked_as(shlex.join(["simcore", *(sys.argv[1:] if argv is None else argv)])):
            code = _COMMANDS[args.command](args)
        sys.stdout.flush()  # a reader that has gone (| head) shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        return _reader_gone()
    except Interrupted as exc:
        if exc.results is not None:
            log.warning("%s after the results were written to %s", exc, exc.results)
        elif exc.checkpoint is not None:
            log.warning("%s; checkpoint written: continue with 'simcore resume %s'", exc, resume_target(exc.checkpoint))
        else:
            log.warning("%s; partial work discarded (no checkpoint), shared memory released", exc)
        return exc.exit_code
    except PartitionFailed as exc:
        log.error("worker traceback (%s, partition %d, seed %d):\n%s", exc.model, exc.partition, exc.seed,
                  exc.remote_traceback.rstrip())
        _fail(str(exc), 1)
    except tuple(exc_type for exc_type, _ in EXIT_CODES) as exc:
        code = next(code for exc_type, code in EXIT_CODES if isinstance(exc, exc_type))
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, code)
    return 1  # pragma: no cover - every branch above returns or exits


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
