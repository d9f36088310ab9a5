"""Readable summaries of results files and checkpoints: what ``simcore info`` and ``simcore run`` print.

A results file reads as a table: model, parameters with their units, seed,
partitions, workers, wall time, status, and every result as
``mean ± stderr units`` (a sweep: one row per grid point).  A checkpoint
reads as its run's progress: ``resumable at step k of n`` (lockstep) or
``resumable with k of n partitions done`` (batch).
"""
from __future__ import annotations

import json
import math
import tomllib
from typing import Any

from ._h5 import plain
from .checkpoint import checkpoint_dir, checkpoint_files, existing_checkpoints
from .ckptdir import resume_target
from .config import toml_value
from .models import BUILTIN, get_model, user_reference
from .provenance import legs_of
from .stats import Estimate
from .sweep import axis_names, read_table, result_names

#: Keys of a config's TOML shown on their own line, not among the parameters.
_RUN_KEYS = ("model", "seed", "partitions")


def result_lines(res) -> list[str]:
    """Each result as ``name = mean ± stderr units``; for a sweep, a table with one row per point."""
    if not res.is_sweep:
        width = max(map(len, res.names), default=0)
        return [f"{name:>{width}} = {res.result(name)}{_correlation(res, name)}" for name in res.names]
    axes = axis_names(res.config)
    names = result_names(res.series_data)
    header = [*axes, *(_with_units(n, res.series_attrs.get(n, {}).get("units", "")) for n in names)]
    cells = [header]
    for k in range(len(res.series("point"))):
        row = [_plain(res.series(axis)[k]) for axis in axes]
        row += [str(Estimate(float(res.series(n)[k]), float(res.series(f"{n}_stderr")[k]), 1)) for n in names]
        cells.append(row)
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in cells]


def _correlation(res, name: str) -> str:
    """``  (tau_int 12.3 samples, 830 effective)`` for a result blocked from a series, else nothing."""
    tau = res.autocorrelation_times.get(name)
    if tau is None:
        return ""
    return f"  (tau_int {tau:.1f} samples, {res.result(name).n / tau:.0f} effective)"


def parameter_lines(config_text: str) -> list[str]:
    """The model parameters of a canonical config as ``name = value units`` (a sweep: its grid, then the rest)."""
    values = tomllib.loads(config_text)
    if values.get("model") == "sweep":
        of = values["of"]
        grid, base = read_table(values["grid"], "grid"), read_table(values["base"], "base")
        lines = [f"sweep of {of} over {math.prod(map(len, grid.values()))} points:"]
        lines += _named_lines(of, {name: ", ".join(map(_plain, axis)) for name, axis in grid.items()}, "swept ")
        return lines + _named_lines(of, {name: toml_value(v) for name, v in base.items()})
    shown = {name: toml_value(v) for name, v in values.items() if name not in _RUN_KEYS}
    return _named_lines(str(values.get("model")), shown)


def _named_lines(model_ref: str, values: dict[str, str], prefix: str = "") -> list[str]:
    units = _units_of(model_ref)
    width = max((len(prefix + name) for name in values), default=0)
    return [f"{prefix + name:<{width}} = {text}{' ' + units[name] if units.get(name) else ''}"
            for name, text in values.items()]


def _units_of(model_ref: str) -> dict[str, str]:
    """Parameter name -> units of a built-in model; nothing for another (``info`` imports no module a file names)."""
    if model_ref not in BUILTIN:
        return {}
    return {param.name: param.units for param in get_model(model_ref).params}


def results_summary(res) -> list[str]:
    """``simcore info`` of a results file (a finished run), line by line."""
    attrs = res.attrs
    lines = [
        f"file        {res.path}",
        f"model       {res.model}{' (sweep)' if res.is_sweep else ''}   "
        f"(simcore {attrs.get('simcore_version')}, created {attrs.get('created')})",
        f"seed        {res.seed}   partitions {attrs.get('partitions')}   workers {attrs.get('workers')} "
        f"({attrs.get('executor')})   wall {float(attrs.get('wall_seconds', 0)):.2f} s",
        "status      finished",
        *_provenance_lines(attrs),
        *_checkpoint_lines(res.path, "kept to extend the run"),
        "parameters",
    ]
    lines += [f"    {line}" for line in parameter_lines(res.config)]
    lines.append("results" + ("  (one row per grid point)" if res.is_sweep else ""))
    return lines + [f"    {line}" for line in result_lines(res)]


def progress_text(status: str, counters: dict[str, int]) -> str:
    """``finished``, or e.g. ``interrupted, resumable at step 120 of 1000`` from a checkpoint's counters.

    A checkpoint whose status is still ``running`` belongs to a run that died
    (or still goes): it reads ``unfinished, resumable ...``.
    """
    if status == "finished":
        return "finished"
    status = "unfinished" if status == "running" else status  # a checkpoint taken while running: it stopped there
    if "steps_done" in counters:
        where = f"at step {counters['steps_done']} of {counters.get('steps', '?')}"
    else:
        totals = [name[:-5] for name in counters if name.endswith("_done") and name[:-5] in counters]
        where = ", ".join(f"with {counters[name + '_done']} of {counters[name]} {name} done" for name in totals)
    return f"{status}, resumable {where}".rstrip()


def checkpoint_summary(checkpoint) -> list[str]:
    """``simcore info`` of a checkpoint: the run's progress, parameters and how to continue."""
    attrs = checkpoint.attrs
    config = tomllib.loads(checkpoint.config)
    lines = [
        f"file        {checkpoint.path}   (checkpoint {checkpoint.sequence}, verified)",
        f"model       {checkpoint.model}   (simcore {attrs.get('simcore_version')}, created {attrs.get('created')})",
        f"seed        {config.get('seed')}   partitions {config.get('partitions')}   "
        + "   ".join(f"{k} {v}" for k, v in checkpoint.settings.items() if k in ("workers", "executor"))
        + f"   elapsed {float(attrs.get('elapsed_seconds', 0)):.2f} s",
        f"status      {progress_text(checkpoint.status, checkpoint.counters)}",
        *_checkpoint_lines(checkpoint.results_path),
        "parameters",
    ]
    lines += [f"    {line}" for line in parameter_lines(checkpoint.config)]
    if checkpoint.status == "finished":
        lines.append(f"results in {checkpoint.results_path}")
    else:
        foreign = user_reference(checkpoint.model, config)
        trusted = f" --model {foreign}   (imports {foreign.partition(':')[0]}: only if you trust it)" if foreign else ""
        lines.append(f"continue with: simcore resume {resume_target(checkpoint.path)}{trusted}")
    return lines


def _checkpoint_lines(out, why: str = "") -> list[str]:
    """``checkpoints x.h5.ckpt/: 1 checkpoint, 3 row segments, 1.2 MiB`` if the run of ``out`` has any."""
    files = checkpoint_files(out)
    if not files:
        return []
    count = len(existing_checkpoints(out))
    size = sum(path.stat().st_size for path in files)
    return [f"checkpoints {checkpoint_dir(out)}/: {count} checkpoint(s), {len(files) - count} row segment(s), "
            f"{size / 2**20:.1f} MiB{f' ({why})' if why else ''}"]


def _provenance_lines(attrs) -> list[str]:
    """The command that started the run, the git commit simcore ran from, and the legs of a resumed run."""
    lines = [f"command     {attrs['command']}"] if "command" in attrs else []
    if "simcore_git_commit" in attrs:
        dirty = ", with uncommitted changes" if attrs.get("simcore_git_dirty") else ""
        lines.append(f"source      git {str(attrs['simcore_git_commit'])[:12]}{dirty}")
    legs = legs_of(attrs)
    if len(legs) > 1:
        lines.append(f"legs        {len(legs)}: " + "; ".join(
            f"{leg['seconds']:.1f} s on {leg['workers']} {leg['executor']} worker(s) at {leg['host']} ({leg['ended']})"
            for leg in legs))
    if "until" in attrs:
        until = json.loads(attrs["until"])
        (parameter, limit), = until["limit"].items()
        counts = " -> ".join(f"{one[parameter]:g}" for one in until["rounds"])
        lines.append(f"until       {', '.join(until['targets'])}: {until['outcome']} ({parameter} {counts}; "
                     f"limit {limit:g})")
    return lines


def _with_units(name: str, units: str) -> str:
    return f"{name} [{units}]" if units else name


def _plain(value: Any) -> str:
    value = plain(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def config_parameters(config_text: str) -> dict[str, Any]:
    """The parameters of a canonical config (without model, seed, partitions); a sweep's grid and base as tables."""
    values = {name: value for name, value in tomllib.loads(config_text).items() if name not in _RUN_KEYS}
    if "grid" in values and "base" in values:
        values["grid"], values["base"] = read_table(values["grid"], "grid"), read_table(values["base"], "base")
    return values


def _provenance(attrs) -> dict[str, Any]:
    """The keys of ``simcore info --json`` both kinds of file have: versions, when, how long, and the legs."""
    return {"simcore_version": plain(attrs.get("simcore_version")),
            "simcore_git_commit": plain(attrs.get("simcore_git_commit")),
            "simcore_git_dirty": plain(attrs.get("simcore_git_dirty")),
            "created": plain(attrs.get("created")), "legs": legs_of(attrs),
            "config_sha256": plain(attrs.get("config_sha256"))}


def results_json(res) -> dict[str, Any]:
    """``simcore info --json`` of a results file (the schema is in the README)."""
    attrs = res.attrs
    summary = {"file": str(res.path), "filetype": plain(attrs["filetype"]),
               "format_version": plain(attrs["format_version"]), "kind": "sweep" if res.is_sweep else "run",
               "model": res.model, "status": "finished", "seed": res.seed, "partitions": int(attrs["partitions"]),
               "parameters": config_parameters(res.config), "workers": int(attrs["workers"]),
               "executor": str(attrs["executor"]), "host": plain(attrs.get("host")),
               "wall_seconds": float(attrs["wall_seconds"]), "command": plain(attrs.get("command")),
               "until": json.loads(attrs["until"]) if "until" in attrs else None,
               "checkpoints": [str(path) for path in checkpoint_files(res.path)],
               **_provenance(attrs),
               "results": {name: {"mean": e.mean, "stderr": e.stderr, "n": e.n, "units": e.units,
                                  "description": res.descriptions.get(name, ""),
                                  "autocorrelation_time": res.autocorrelation_times.get(name)}
                           for name, e in res.estimates.items()}}
    if res.is_sweep:
        axes, names = axis_names(res.config), result_names(res.series_data)
        summary["points"] = [
            {"parameters": {axis: plain(res.series(axis)[k]) for axis in axes},
             "results": {name: {"mean": float(res.series(name)[k]), "stderr": float(res.series(f"{name}_stderr")[k]),
                                "units": plain(res.series_attrs.get(name, {}).get("units", ""))} for name in names}}
            for k in range(len(res.series("point")))]
    return summary


def checkpoint_json(checkpoint) -> dict[str, Any]:
    """``simcore info --json`` of a checkpoint: the unfinished run's progress and how to continue it."""
    attrs = checkpoint.attrs
    config = tomllib.loads(checkpoint.config)
    return {"file": str(checkpoint.path), "filetype": plain(attrs["filetype"]),
            "format_version": plain(attrs["format_version"]), "kind": "sweep" if checkpoint.model == "sweep" else "run",
            "model": checkpoint.model, "status": checkpoint.status,
            "progress": progress_text(checkpoint.status, checkpoint.counters), "sequence": checkpoint.sequence,
            "counters": checkpoint.counters, "seed": config.get("seed"), "partitions": config.get("partitions"),
            "parameters": config_parameters(checkpoint.config), "settings": checkpoint.settings,
            "wall_seconds": float(attrs.get("elapsed_seconds", 0.0)), **_provenance(attrs),
            "results_path": str(checkpoint.results_path),
            "continue_with": None if checkpoint.status == "finished" else
            f"simcore resume {resume_target(checkpoint.path)}",
            "checkpoints": [str(p) for p in checkpoint_files(checkpoint.results_path)]}
