"""Timing, table and plot helpers shared by the concurrency experiments.

``sharing_data.py``, ``pool_granularity.py``, ``threads_vs_processes.py`` and
``scaling.py`` all time a callable a few times, keep the median and the
spread, print a Markdown table (the one pasted into BENCHMARKS.md), write the
rows to HDF5 and draw a PNG (log-log, or linear speed-up against workers).  h5py and
matplotlib are imported only where they are used: pool workers re-import the
experiment's ``__main__``, and those imports would otherwise be timed as pool
start-up.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import signal
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

import numpy as np


class Timing(NamedTuple):
    """Wall times of repeated calls [s]: median, fastest, slowest, and how many calls."""

    median: float
    best: float
    worst: float
    repeats: int


def timed(fn: Callable[[], object], repeats: int = 5, budget: float = 10.0) -> Timing:
    """Call ``fn`` up to ``repeats`` times (at least once, stopping once ``budget`` seconds are spent).

    Each call is timed with ``time.perf_counter`` [s]; the caller warms up first.
    """
    times: list[float] = []
    spent_since = time.perf_counter()
    while len(times) < repeats and (not times or time.perf_counter() - spent_since < budget):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return timing_of(times)


def timing_of(times: list[float]) -> Timing:
    """The ``Timing`` of wall times measured elsewhere [s] (e.g. an engine's own ``wall_seconds``)."""
    return Timing(statistics.median(times), min(times), max(times), len(times))


def exit_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit(143)``: ``with`` blocks unwind, so pools, workers and blocks are released.

    A plain SIGTERM kills only this process; its pool workers and their
    forkserver would stay behind, waiting on each other.
    """
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def parse_numbers(text: str) -> list[float]:
    """``"1e6,1e-3"`` -> ``[1000000.0, 0.001]``: a comma-separated list of numbers."""
    return [float(part) for part in text.split(",") if part.strip()]


def worker_counts(text: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``: sorted distinct positive worker counts (an argparse ``type``)."""
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"worker counts must be >= 1, got {text!r}")
    return counts


def worker_study_parser(doc: str, workers: str | None, repeats: int) -> argparse.ArgumentParser:
    """A parser with ``--workers`` (comma-separated counts; default ``workers``, None: 1..usable cores),
    ``--repeats`` and ``--outdir``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--workers", type=worker_counts,
                        default=workers or ",".join(str(w) for w in range(1, usable_cores() + 1)),
                        help=f"worker counts, comma-separated (default {workers or '1..usable cores'})")
    parser.add_argument("--repeats", type=int, default=repeats, help="timed runs per point (median reported)")
    parser.add_argument("--outdir", type=Path, default=Path("."), help="where the .h5 and .png go")
    return parser


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), as ``simcore.config.default_workers`` counts them.

    Not imported from simcore: ``sharing_data.py`` runs without it, and its
    workers re-import this module.
    """
    return len(os.sched_getaffinity(0))


def noop(_: object = None) -> int:
    """A task that does nothing: its round trip is the pool's own cost (and starts a worker)."""
    return 0


@contextmanager
def started_pool(kind: str, workers: int) -> Iterator[cf.Executor]:
    """A thread pool, or a process pool on simcore's forkserver, every worker started; shut down on any exit."""
    from simcore.executors import forkserver_context

    if kind == "thread":
        pool = cf.ThreadPoolExecutor(max_workers=workers)
    else:
        pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=forkserver_context())
    with pool:
        list(pool.map(noop, range(workers)))
        yield pool


def machine_summary(started: float) -> str:
    """``2 usable cores, load average 1.2 (last minute); 91 s in all`` for an experiment that began at ``started``.

    The load average says whether other jobs shared the cores while it ran.
    """
    return (f"{usable_cores()} usable cores, load average {os.getloadavg()[0]:.1f} (last minute); "
            f"{time.perf_counter() - started:.0f} s in all")


def speedup_rows(study: str, timings: dict[int, Timing], work: dict[int, float] | None = None,
                 baseline: Timing | None = None) -> list[dict]:
    """One row per worker count: times [s], speed-up and parallel efficiency against the 1-worker run.

    Without ``work`` the problem is the same for every worker count (strong
    scaling: speed-up T1 / TW).  With ``work`` (units of work done at each
    worker count, e.g. darts) speed-up compares rates, (work_W / TW) /
    (work_1 / T1), which is also right for weak scaling.  Efficiency is
    speed-up / W.  The reference is ``baseline`` (the lowest count's work done
    another way on one worker, e.g. inline) if given, else the run on the
    lowest worker count (if that is not 1, its rate per worker stands in for
    the 1-worker rate).
    """
    base = min(timings)
    work = work or {workers: 1.0 for workers in timings}
    rate_per_worker = work[base] / (baseline.median if baseline else timings[base].median * base)
    rows = []
    for workers, timing in sorted(timings.items()):
        speedup = work[workers] / timing.median / rate_per_worker
        rows.append(dict(study=study, workers=workers, work=work[workers], median_s=timing.median,
                         best_s=timing.best, worst_s=timing.worst, repeats=timing.repeats, speedup=speedup,
                         efficiency=speedup / workers))
    return rows


def speedup_table(rows: list[dict], label: str = "study") -> str:
    """Markdown: one line per study, one column per worker count: median time, speed-up and efficiency."""
    counts = sorted({row["workers"] for row in rows})
    studies = list(dict.fromkeys(row["study"] for row in rows))
    cells = []
    for study in studies:
        at = {row["workers"]: row for row in rows if row["study"] == study}
        cells.append([study] + [f"{at[w]['median_s']:.3g} s ({at[w]['speedup']:.2f} x, {at[w]['efficiency']:.0%})"
                                if w in at else "-" for w in counts])
    return markdown_table([label] + [f"{w} worker{'s' if w > 1 else ''}" for w in counts], cells)


def human_bytes(nbytes: float) -> str:
    """Bytes in decimal units: ``8 B``, ``1 MB``, ``1 GB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:g} {unit}"
    return f"{nbytes:g} B"


def human_seconds(seconds: float) -> str:
    """Seconds in the unit that reads best: ``1 us``, ``10 ms``, ``1 s``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale * 0.999:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def markdown_table(header: list[str], rows: Iterable[list[str]]) -> str:
    """A Markdown table of strings."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_rows(path: Path, tables: dict[str, list[dict]]) -> None:
    """Write each table (a list of flat dicts with the same keys) as an HDF5 group, one dataset per key."""
    import h5py

    with h5py.File(path, "w") as handle:
        for name, rows in tables.items():
            group = handle.create_group(name)
            for key in rows[0]:
                values = [row[key] for row in rows]
                string = isinstance(values[0], str)
                group.create_dataset(key, data=np.array(values, dtype=h5py.string_dtype() if string else None))


def loglog_plot(path: Path, series: dict[str, tuple[list[float], list[float]]], xlabel: str, ylabel: str,
                title: str, hlines: dict[str, float] | None = None, panels: int = 1, panel_of=None,
                log: bool = True, diagonal: str | None = None) -> None:
    """Lines, one per ``series`` label, on ``panels`` side-by-side axes (log-log unless ``log=False``); a PNG.

    A label ``"panel title: line"`` names its axes' title too; ``panel_of(label)``
    picks a series' axes (default: the first); ``hlines`` are dashed reference
    lines by name (e.g. ``{"break-even": 1.0}``); ``diagonal`` names a y = x
    line (e.g. ``"ideal"`` on a speed-up against workers plot).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.2), squeeze=False)
    xs = {ax: set() for ax in axes[0]}
    for label, (x, y) in series.items():
        ax = axes[0][panel_of(label) if panel_of else 0]
        (ax.loglog if log else ax.plot)(x, y, "o-", ms=4, label=label.split(": ", 1)[-1])
        xs[ax].update(x)
        if ": " in label:
            ax.set_title(label.split(": ", 1)[0])
    for ax in axes[0]:
        if not log and xs[ax]:
            ax.set_xticks(sorted(xs[ax]))  # the measured worker counts, not 1.2, 1.4 ...
        if diagonal:
            low, high = ax.get_xlim()
            ax.plot([low, high], [low, high], color="k", ls="--", lw=0.8, label=diagonal)
        for (name, y), style in zip((hlines or {}).items(), ("--", ":", "-.")):
            ax.axhline(y, color="k", ls=style, lw=0.8, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
