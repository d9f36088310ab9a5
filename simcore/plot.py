"""Figures of a results file: time series, estimates with error bars, sweep curves.

``simcore plot FILE`` and the experiments/ scripts draw with the same
functions.  The ``draw_*`` functions draw one panel onto a matplotlib axes
the caller owns (so a script can add a reference curve); :func:`figure`
lays out every panel of a file, and :func:`plot_file` writes it as a PNG.
Figures are built without pyplot (``matplotlib.figure.Figure`` rendered by
the Agg canvas), so no display and no global backend are involved.

Panels of a run: one per column of each ``/series`` dataset (against its
abscissa, with error bars where the file has ``<name>_stderr``; a result of
the same name as a column is drawn there, as its mean ± stderr band, not in
a panel of its own), then one per result (its per-partition, per-block or
per-step values, the pooled mean and the mean ± stderr band).  Results with
a single sample share one panel that states their values (a single dot says
nothing).  Panels of a sweep: one per result, the result against a swept
parameter (by default the numeric one with the most values), one line per
combination of the other swept parameters; an infinite value of that
parameter (a half-space) is drawn at the right end, at a tick labelled inf,
so no point is ever dropped.  The title names the model and the parameters
that differ from its defaults; axis labels are the results' descriptions
with their units; a built-in model's reference lines (pi, Onsager's Tc) are
drawn dashed.
"""
from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from ._h5 import filetype
from .checkpoint import FILETYPE as CHECKPOINT_FILETYPE
from .config import toml_value
from .models import BUILTIN, get_model
from .results import Results, open_results
from .summary import config_parameters
from .sweep import axis_names, result_names

INSTALL_HINT = "pip install 'simcore[plot]' (or pip install matplotlib)"
#: Characters of an axis label's line; longer labels wrap (a panel is about 5 inches).
_LABEL_WIDTH = 40


class PlotError(ValueError):
    """matplotlib is missing, or a requested panel or abscissa does not exist in the file."""


class Panel(NamedTuple):
    """One panel of a figure: ``kind`` is "series", "result", "values" or "sweep"; ``column`` of a 2D series."""

    kind: str
    name: str
    column: int | None = None


def label(name: str, units: str = "") -> str:
    """An axis label: ``name [units]``, or the bare name when there are no units; wrapped to fit a panel."""
    return textwrap.fill(f"{name} [{units}]" if units else name, width=_LABEL_WIDTH)


def _text(values: np.ndarray) -> np.ndarray:
    """Byte strings (an HDF5 string column) as str; anything else unchanged."""
    return values.astype(str) if values.dtype.kind == "S" else values


def draw_series(ax, res: Results, name: str, column: int | None = None) -> None:
    """Series ``/series/<name>`` (its column ``column`` if 2D) against its abscissa, with error bars if stored."""
    attrs = res.series_attrs.get(name, {})
    axis_name = attrs.get("axis", "")
    values = res.series(name)
    x = res.series(axis_name) if axis_name in res.series_data else np.arange(len(values))
    ylabel, units = name, str(attrs.get("units", ""))
    stderr = res.series_data.get(f"{name}_stderr")
    if column is not None:
        values = values[:, column]
        stderr = None if stderr is None else stderr[:, column]
        columns, column_units = attrs.get("columns", []), attrs.get("column_units", [])
        ylabel = columns[column] if column < len(columns) else f"{name}[{column}]"
        units = column_units[column] if column < len(column_units) else units
    if stderr is not None:
        ax.errorbar(x, values, yerr=stderr, fmt=".-", ms=3, lw=0.8, capsize=1.5)
    else:
        ax.plot(x, values, "-", lw=0.8, label="_series")  # "_": not in the legend
    if ylabel in res.estimates:  # the result of this quantity: its mean over the measured window
        _mean_band(ax, res, ylabel)
        ax.legend(fontsize=7, loc="best")
    ax.set_xlabel(label(axis_name or "index", str(res.series_attrs.get(axis_name, {}).get("units", ""))))
    ax.set_ylabel(label(ylabel, units))
    ax.set_title(str(attrs.get("description", name)) if column is None else f"{ylabel} ({name})", fontsize=9)


def _mean_band(ax, res: Results, name: str) -> None:
    """The pooled mean of result ``name`` and its ± stderr band, as horizontal lines across ``ax``."""
    estimate = res.result(name)
    ax.axhline(estimate.mean, color="C1", lw=1.2, label=f"mean {estimate}")
    if math.isfinite(estimate.stderr) and estimate.stderr > 0:
        ax.axhspan(estimate.mean - estimate.stderr, estimate.mean + estimate.stderr, color="C1", alpha=0.25,
                   label="± stderr")


def reference_lines(res: Results) -> dict[str, tuple[float, str]]:
    """A built-in model's reference values for this file: result or parameter name -> (value, label)."""
    if res.model not in BUILTIN:
        return {}  # the plot imports no module a file names
    model = get_model(res.model)
    values = {param.name: param.default for param in model.params}
    given = config_parameters(res.config)
    if res.is_sweep:
        values.update(given["base"])
        values.update({name: axis[0] for name, axis in given["grid"].items()})
    else:
        values.update(given)
    return dict(model.reference_lines(values))


def _reference(ax, res: Results, name: str, vertical: bool = False) -> None:
    known = reference_lines(res)
    if name in known:
        value, text = known[name]
        (ax.axvline if vertical else ax.axhline)(value, color="k", ls="--", lw=0.9, label=f"{text} = {value:.6g}")


def _ylabel(res: Results, name: str, units: str) -> str:
    """A result's axis label: its description (``U4 = 1 - <m^4> / (3 <m^2>^2)``) with units, else its name."""
    described = res.descriptions.get(name) or res.series_attrs.get(name, {}).get("description")
    return label(str(described or name), units)


def draw_result(ax, res: Results, name: str) -> None:
    """Result ``name``: its samples (per partition, block or step), the mean and the mean ± stderr band."""
    estimate = res.result(name)
    samples = res.per_partition[name]
    ax.plot(np.arange(len(samples)), samples, "o", ms=2.5, alpha=0.6, label="samples")
    _mean_band(ax, res, name)
    _reference(ax, res, name)
    ax.set_xlabel("sample (partition, block or step)")
    ax.set_ylabel(_ylabel(res, name, estimate.units))
    ax.set_title(f"{name} = {estimate}", fontsize=9)
    ax.legend(fontsize=7, loc="best")


def draw_values(ax, res: Results, names: Sequence[str]) -> None:
    """Results of a single sample each, stated as text (one dot on an axis would say nothing more)."""
    ax.set_axis_off()
    lines = [f"{name} = {res.result(name)}" for name in names]
    ax.text(0.02, 0.95, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=9,
            transform=ax.transAxes)
    ax.set_title("results (one sample each)", fontsize=9)


def sweep_abscissa(res: Results, x: str | None = None) -> str:
    """The swept parameter to plot against: ``x`` if given (checked), else the numeric one with the most values."""
    axes = axis_names(res.config)
    if x is not None:
        if x not in axes:
            raise PlotError(f"--x must be one of the swept parameters: {', '.join(axes)} (got {x!r})")
        return x
    numeric = [a for a in axes if res.series(a).dtype.kind in "iuf"] or axes
    return max(reversed(numeric), key=lambda a: len(np.unique(res.series(a))))


def draw_sweep(ax, res: Results, name: str, x: str | None = None, **style: Any) -> None:
    """Sweep result ``name`` against swept parameter ``x`` with error bars, one line per other swept values.

    ``style`` overrides the keyword arguments of ``ax.errorbar`` (fmt, ms, label, ...).
    """
    x = sweep_abscissa(res, x)
    others = [a for a in axis_names(res.config) if a != x]
    xs, ys, es = _text(res.series(x)), res.series(name), res.series(f"{name}_stderr")
    columns = [_text(res.series(a)) for a in others]
    keys = [tuple(column[k].item() for column in columns) for k in range(len(xs))]
    xs = _infinity_at_the_end(ax, xs)
    for key in dict.fromkeys(keys):  # first-seen order: the grid's order
        rows = np.array([k == key for k in keys])
        order = np.argsort(xs[rows], kind="stable") if xs.dtype.kind in "iuf" else slice(None)
        text = ", ".join(f"{a} = {v:g}" if isinstance(v, float) else f"{a} = {v}" for a, v in zip(others, key))
        ax.errorbar(xs[rows][order], ys[rows][order], yerr=es[rows][order],
                    **({"fmt": "o-", "ms": 3, "lw": 1, "capsize": 2, "label": text or None} | style))
    _reference(ax, res, x, vertical=True)
    _reference(ax, res, name)
    ax.set_xlabel(label(x, str(res.series_attrs.get(x, {}).get("units", ""))))
    ax.set_ylabel(_ylabel(res, name, str(res.series_attrs.get(name, {}).get("units", ""))))
    if others or ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=7, loc="best")


def _infinity_at_the_end(ax, xs: np.ndarray) -> np.ndarray:
    """``xs`` with +inf moved to a tick labelled inf beyond the largest finite value (a half-space is a point too)."""
    if xs.dtype.kind != "f" or not np.isposinf(xs).any():
        return xs
    finite = xs[np.isfinite(xs)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    at = high + max(0.25 * (high - low), 1.0 if high == low else 0.0)
    ticks = [*(tick for tick in np.unique(finite)), at]
    ax.set_xticks(ticks, [*(f"{tick:g}" for tick in np.unique(finite)), "inf"])
    return np.where(np.isposinf(xs), at, xs)


def panels(res: Results, names: Sequence[str] | None = None) -> list[Panel]:
    """The panels :func:`figure` draws for ``res``, restricted to ``names`` (results or series) if given."""
    if res.is_sweep:
        found = [Panel("sweep", name) for name in result_names(res.series_data)]
    else:
        abscissae = {str(attrs.get("axis")) for attrs in res.series_attrs.values()}
        found = []
        for name, values in res.series_data.items():
            if name in abscissae or name.endswith("_stderr") and name[:-7] in res.series_data:
                continue
            found += [Panel("series", name, c) for c in range(values.shape[1])] if values.ndim == 2 \
                else [Panel("series", name)]
        columns = {column for attrs in res.series_attrs.values() for column in attrs.get("columns", [])}
        shown = [name for name in res.names if name not in columns]  # the others are bands on their column
        single = [name for name in shown if len(res.per_partition[name]) <= 1]
        found += [Panel("result", name) for name in shown if name not in single]
        found += [Panel("values", ",".join(single))] if single else []
    if names:
        available = list(dict.fromkeys(one for panel in found for one in _panel_names(panel)))
        unknown = [name for name in names if name not in available]
        if unknown:
            raise PlotError(f"--result {unknown[0]} is not in {res.path}; available: {', '.join(available)}")
        found = [panel for panel in found if set(_panel_names(panel)) & set(names)]
    if not found:
        raise PlotError(f"{res.path} holds nothing to plot (no series and no results)")
    return found


def _panel_names(panel: Panel) -> list[str]:
    """The results or series a panel shows (a panel of values shows several)."""
    return panel.name.split(",") if panel.kind == "values" else [panel.name]


def title(res: Results) -> str:
    """The figure's title: the model, and the parameters that differ from its defaults (a sweep: its axes too)."""
    config = config_parameters(res.config)
    if res.is_sweep:
        axes = ", ".join(axis_names(res.config))
        config = config["base"]
        head = f"{res.model} sweep over {axes}"
    else:
        head = res.model
    defaults = {p.name: p.default for p in get_model(res.model).params} if res.model in BUILTIN else {}
    changed = [f"{name} = {toml_value(value)}" for name, value in config.items() if defaults.get(name) != value]
    return textwrap.fill(head + (": " + ", ".join(changed) if changed else " (default parameters)"), width=110)


def figure(res: Results, names: Sequence[str] | None = None, x: str | None = None):
    """A matplotlib Figure with every panel of ``res`` (see the module docstring), laid out in a grid."""
    Figure = _matplotlib_figure()
    if x is not None and not res.is_sweep:
        raise PlotError(f"--x applies to sweeps only; {res.path} holds a run of {res.model}")
    chosen = panels(res, names)
    columns = 1 if len(chosen) == 1 else 2 if len(chosen) <= 4 else 3
    rows = math.ceil(len(chosen) / columns)
    fig = Figure(figsize=(5.0 * columns, 3.4 * rows + 0.4), layout="constrained")
    fig.suptitle(title(res), fontsize=11)
    for index, panel in enumerate(chosen):
        ax = fig.add_subplot(rows, columns, index + 1)
        if panel.kind == "sweep":
            draw_sweep(ax, res, panel.name, x)
        elif panel.kind == "series":
            draw_series(ax, res, panel.name, panel.column)
        elif panel.kind == "values":
            draw_values(ax, res, _panel_names(panel))
        else:
            draw_result(ax, res, panel.name)
    return fig


def plot_file(path: str | os.PathLike, out: str | os.PathLike | None = None, names: Sequence[str] | None = None,
              x: str | None = None, dpi: int = 110) -> Path:
    """Draw results file ``path`` and write it as a PNG (default: ``path`` with suffix .png); the PNG's path."""
    _matplotlib_figure()  # a missing matplotlib is reported before the file is read
    if filetype(path) == CHECKPOINT_FILETYPE:
        raise PlotError(f"{str(path)!r} is a checkpoint, not results: 'simcore info' shows how far the run got, "
                        "'simcore resume' finishes it")
    res = open_results(path)
    target = Path(out) if out is not None else Path(path).with_suffix(".png")
    fig = figure(res, names, x)
    try:
        fig.savefig(target, dpi=dpi)
    except OSError as exc:
        raise PlotError(f"--out {str(target)!r} cannot be written: {exc.strerror or exc}") from None
    except ValueError as exc:  # an image format matplotlib does not know
        raise PlotError(f"--out {str(target)!r}: {exc}") from None
    return target


def _matplotlib_figure():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotError(f"plotting needs matplotlib, which is not installed: {INSTALL_HINT}") from None
    return Figure
